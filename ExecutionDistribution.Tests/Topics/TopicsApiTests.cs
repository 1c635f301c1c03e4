using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Topics;

/// <summary>/api/v1/topics over a real socket.</summary>
[Category("Unit")]
public sealed class TopicsApiTests
{
    private ServiceHost _host = null!;

    [OneTimeSetUp]
    public async Task StartHost() => _host = await ServiceHost.StartAsync();

    [OneTimeTearDown]
    public async Task StopHost() => await _host.DisposeAsync();

    [TestCase("execution/f\u00fclls")]
    [TestCase("execution/fills\r\nX-Injected: 1")]
    [TestCase("execution fills")]
    public async Task A_topic_name_a_url_or_header_cannot_carry_gets_400_and_stores_nothing(string name)
    {
        using var response = await _host.Client.PostAsJsonAsync("/api/v1/topics", new { topic_name = $"{name}-{Guid.NewGuid():N}", data_type = "FILL_NOTIFICATION" });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), await response.Content.ReadAsStringAsync());
        var errors = (await response.Content.ReadFromJsonAsync<JsonObject>())!["errors"]!.AsObject();
        Assert.That(errors.Select(kv => kv.Key), Is.EqualTo(new[] { "topic_name" }));
    }

    [Test]
    public async Task A_topic_is_created_with_defaults_read_updated_listed_and_disabled()
    {
        var name = $"execution/fills/{Guid.NewGuid():N}";
        using var created = await _host.Client.PostAsJsonAsync("/api/v1/topics", new { topic_name = name, data_type = "fill_notification" });
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        var topic = await created.Content.ReadFromJsonAsync<JsonObject>();
        Assert.That(((string?)topic!["data_type"], (int?)topic["partitions"], (string?)topic["retention_policy"], (int?)topic["latency_requirement_ms"], (bool?)topic["enabled"]),
            Is.EqualTo(("FILL_NOTIFICATION", 1, "7d", 100, true)), "the spec's defaults");
        Assert.That(Guid.TryParse((string?)topic["id"], out _), Is.True);
        using var duplicate = await _host.Client.PostAsJsonAsync("/api/v1/topics", new { topic_name = name, data_type = "FILL_NOTIFICATION" });
        Assert.That(duplicate.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));

        var read = await _host.Client.GetFromJsonAsync<JsonObject>($"/api/v1/topics/{name}");
        Assert.That((string?)read!["topic_name"], Is.EqualTo(name), "names with slashes are addressed as they are");
        using var updated = await _host.Client.PutAsJsonAsync($"/api/v1/topics/{name}", new { partitions = 12, latency_requirement_ms = 10 });
        var after = await updated.Content.ReadFromJsonAsync<JsonObject>();
        Assert.That(((int?)after!["partitions"], (int?)after["latency_requirement_ms"], (string?)after["retention_policy"]), Is.EqualTo((12, 10, "7d")));

        using var disabled = await _host.Client.DeleteAsync(new Uri($"/api/v1/topics/{name}", UriKind.Relative));
        Assert.That((bool?)(await disabled.Content.ReadFromJsonAsync<JsonObject>())!["enabled"], Is.False);
        var enabledOnly = await _host.Client.GetFromJsonAsync<JsonArray>("/api/v1/topics?enabled=true");
        Assert.That(enabledOnly!.Select(t => (string?)t!["topic_name"]), Does.Not.Contain(name));
        var all = await _host.Client.GetFromJsonAsync<JsonArray>("/api/v1/topics");
        Assert.That(all!.Select(t => (string?)t!["topic_name"]), Does.Contain(name), "disabled, not deleted");
    }

    [Test]
    public async Task An_invalid_topic_gets_400_naming_every_field_and_an_unknown_one_404()
    {
        using var invalid = await _host.Client.PostAsJsonAsync("/api/v1/topics", new
        {
            topic_name = "",
            data_type = "TRADES",
            partitions = 0,
            retention_policy = "forever",
            latency_requirement_ms = -1,
        });
        using var unknown = await _host.Client.GetAsync(new Uri("/api/v1/topics/no/such/topic", UriKind.Relative));

        Assert.That(invalid.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var errors = (await invalid.Content.ReadFromJsonAsync<JsonObject>())!["errors"]!.AsObject();
        Assert.That(errors.Select(kv => kv.Key), Is.EquivalentTo(new[] { "topic_name", "data_type", "partitions", "retention_policy", "latency_requirement_ms" }));
        Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }
}
