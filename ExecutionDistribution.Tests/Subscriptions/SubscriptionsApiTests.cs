using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Subscriptions;

/// <summary>/api/v1/subscriptions, the REST twin of ManageSubscription, over a real socket.</summary>
[Category("Unit")]
public sealed class SubscriptionsApiTests
{
    private ServiceHost _host = null!;

    [OneTimeSetUp]
    public async Task StartHost() => _host = await ServiceHost.StartAsync();

    [OneTimeTearDown]
    public async Task StopHost() => await _host.DisposeAsync();

    private static object Body(string id, string topic = "execution/fills/#", string workflow = "portfolio_management") => new
    {
        subscription_id = id,
        topic_name = topic,
        subscriber_workflow = workflow,
        filter = new { data_types = new[] { "FILL_NOTIFICATION" }, min_priority = 2 },
        delivery_guarantee = "at_least_once",
    };

    [Test]
    public async Task A_subscription_is_created_read_listed_updated_paused_resumed_and_deleted()
    {
        var id = $"rest-{Guid.NewGuid():N}";
        using var created = await _host.Client.PostAsJsonAsync("/api/v1/subscriptions", Body(id));
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        Assert.That(created.Headers.Location!.ToString(), Is.EqualTo($"/api/v1/subscriptions/{id}"));
        using var again = await _host.Client.PostAsJsonAsync("/api/v1/subscriptions", Body(id));
        Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));

        var read = await _host.Client.GetFromJsonAsync<JsonObject>($"/api/v1/subscriptions/{id}");
        Assert.That((string?)read!["status"], Is.EqualTo("active"));
        Assert.That((int?)read["filter"]!["min_priority"], Is.EqualTo(2));
        var list = await _host.Client.GetFromJsonAsync<JsonArray>("/api/v1/subscriptions");
        Assert.That(list!.Select(s => (string?)s!["subscription_id"]), Does.Contain(id));

        using var updated = await _host.Client.PutAsJsonAsync($"/api/v1/subscriptions/{id}", Body(id, workflow: "risk_management"));
        Assert.That((string?)(await updated.Content.ReadFromJsonAsync<JsonObject>())!["subscriber_workflow"], Is.EqualTo("risk_management"));
        using var paused = await _host.Client.PostAsync(new Uri($"/api/v1/subscriptions/{id}/pause", UriKind.Relative), null);
        Assert.That((string?)(await paused.Content.ReadFromJsonAsync<JsonObject>())!["status"], Is.EqualTo("paused"));
        using var resumed = await _host.Client.PostAsync(new Uri($"/api/v1/subscriptions/{id}/resume", UriKind.Relative), null);
        Assert.That((string?)(await resumed.Content.ReadFromJsonAsync<JsonObject>())!["status"], Is.EqualTo("active"));

        using var deleted = await _host.Client.DeleteAsync(new Uri($"/api/v1/subscriptions/{id}", UriKind.Relative));
        Assert.That((string?)(await deleted.Content.ReadFromJsonAsync<JsonObject>())!["status"], Is.EqualTo("deleted"));
        using var gone = await _host.Client.GetAsync(new Uri($"/api/v1/subscriptions/{id}", UriKind.Relative));
        Assert.That(gone.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [TestCase("order_ids")]
    [TestCase("data_types")]
    [TestCase("venues")]
    [TestCase("routing_keys")]
    [TestCase("instruments")]
    [TestCase("target_workflows")]
    public async Task A_null_inside_a_filter_list_gets_400_naming_its_element_and_stores_nothing(string field)
    {
        var id = $"null-{Guid.NewGuid():N}";
        var json = $$$"""{"subscription_id":"{{{id}}}","topic_name":"execution/fills/#","subscriber_workflow":"risk","filter":{"{{{field}}}":[null]}}""";

        using var response = await _host.Client.PostAsync("/api/v1/subscriptions", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var errors = (await response.Content.ReadFromJsonAsync<JsonObject>())!["errors"]!.AsObject();
        Assert.That(errors.Select(kv => kv.Key), Is.EqualTo(new[] { $"filter.{field}[0]" }));
        using var lookup = await _host.Client.GetAsync($"/api/v1/subscriptions/{id}");
        Assert.That(lookup.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "nothing was stored");
    }

    [TestCase("subscription_id", "caf\u00e9", "subscription_id")]
    [TestCase("subscription_id", "a\r\nX-Injected: 1", "subscription_id")]
    [TestCase("subscription_id", "a/b", "subscription_id")]
    [TestCase("topic_name", "execution/f\u00fclls", "topic_name")]
    [TestCase("topic_name", "execution/fills\r\n", "topic_name")]
    [TestCase("subscriber_workflow", "risk\nteam", "subscriber_workflow")]
    public async Task An_id_or_name_a_url_or_header_cannot_carry_gets_400_naming_it_and_a_retry_is_not_a_conflict(string field, string value, string named)
    {
        var id = $"chars-{Guid.NewGuid():N}";
        var fields = new Dictionary<string, string> { ["subscription_id"] = id, ["topic_name"] = "execution/fills/#", ["subscriber_workflow"] = "risk" };
        fields[field] = value;

        using var response = await _host.Client.PostAsJsonAsync("/api/v1/subscriptions", fields);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), await response.Content.ReadAsStringAsync());
        var errors = (await response.Content.ReadFromJsonAsync<JsonObject>())!["errors"]!.AsObject();
        Assert.That(errors.Select(kv => kv.Key), Does.Contain(named));
        fields[field] = field == "subscription_id" ? id : field == "topic_name" ? "execution/fills/#" : "risk";
        using var retry = await _host.Client.PostAsJsonAsync("/api/v1/subscriptions", fields);
        Assert.That(retry.StatusCode, Is.EqualTo(HttpStatusCode.Created), "the failed request stored nothing");
    }

    [Test]
    public async Task An_invalid_subscription_gets_400_naming_every_field()
    {
        var body = new
        {
            subscription_id = "",
            topic_name = "a//b",
            subscriber_workflow = "",
            filter = new { data_types = new[] { "FILLS" } },
            delivery_guarantee = "exactly_once",
        };

        using var response = await _host.Client.PostAsJsonAsync("/api/v1/subscriptions", body);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var errors = (await response.Content.ReadFromJsonAsync<JsonObject>())!["errors"]!.AsObject();
        Assert.That(errors.Select(kv => kv.Key), Is.EquivalentTo(new[] { "subscription_id", "topic_name", "subscriber_workflow", "filter.data_types[0]", "delivery_guarantee" }));
    }

    [Test]
    public async Task A_subscription_created_over_rest_is_acknowledged_over_rest()
    {
        var id = $"rest-ack-{Guid.NewGuid():N}";
        using var created = await _host.Client.PostAsJsonAsync("/api/v1/subscriptions", Body(id));
        var token = (string)(await created.Content.ReadFromJsonAsync<JsonObject>())!["acknowledged_token"]!;

        using var acked = await _host.Client.PostAsJsonAsync($"/api/v1/subscriptions/{id}/ack", new { resume_token = token });
        using var bad = await _host.Client.PostAsJsonAsync($"/api/v1/subscriptions/{id}/ack", new { resume_token = "garbage" });
        using var unknown = await _host.Client.PostAsJsonAsync("/api/v1/subscriptions/nobody/ack", new { resume_token = token });

        Assert.That(acked.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(bad.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(((await bad.Content.ReadFromJsonAsync<JsonObject>())!["errors"]!.AsObject()).ContainsKey("resume_token"), Is.True);
        Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }
}
