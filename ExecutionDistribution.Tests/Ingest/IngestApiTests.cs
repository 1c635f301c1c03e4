using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Tests.Contract;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Ingest;

/// <summary>POST /api/v1/executions against the real host on a real socket.</summary>
[Category("Unit")]
public sealed class IngestApiTests
{
    private ServiceHost _host = null!;

    [OneTimeSetUp]
    public async Task StartHost() => _host = await ServiceHost.StartAsync("--Ingest:MaxRequestBodyBytes=65536", "--Ingest:MaxBatchSize=50");

    [OneTimeTearDown]
    public async Task StopHost() => await _host.DisposeAsync();

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static string WithId(string id) => ExecutionEventParserTests.SpecExample.Replace("\"uuid\"", $"\"{id}\"", StringComparison.Ordinal);

    [Test]
    public async Task Posting_the_spec_example_ingests_it_and_delivers_it_to_a_subscriber()
    {
        var id = $"post-{Guid.NewGuid():N}";
        var core = _host.Core;
        await using var reader = new CollectingReader(core, core.Subscribe(id, new SubscriptionFilter
        {
            RoutingKeys = [TopicPattern.TryParse("AAPL.fill.*", '.', out var p, out _) ? p! : null!],
        }, DeliveryGuarantee.AtLeastOnce));

        using var response = await _host.Client.PostAsync("/api/v1/executions", Json(WithId(id)));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        var body = await response.Content.ReadFromJsonAsync<JsonObject>();
        Assert.That((int?)body!["accepted"], Is.EqualTo(1));
        Assert.That(body["event_ids"]!.AsArray().Select(n => (string?)n), Is.EqualTo(new[] { id }));
        await Eventually.WaitUntilAsync(() => reader.Events.Any(e => e.EventId == id), "the subscriber receives the posted event");
        Assert.That(reader.Events.Single(e => e.EventId == id).Source, Is.Null);
    }

    [Test]
    public async Task Posting_a_batch_ingests_every_event_in_order()
    {
        var prefix = Guid.NewGuid().ToString("N");
        var core = _host.Core;
        await using var reader = new CollectingReader(core, core.Subscribe(prefix, SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce));
        var batch = "[" + string.Join(",", Enumerable.Range(0, 10).Select(i => WithId($"{prefix}-{i}"))) + "]";

        using var response = await _host.Client.PostAsync("/api/v1/executions", Json(batch));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        await Eventually.WaitUntilAsync(() => reader.Events.Count(e => e.EventId.StartsWith(prefix, StringComparison.Ordinal)) == 10, "all ten delivered");
        Assert.That(reader.Events.Where(e => e.EventId.StartsWith(prefix, StringComparison.Ordinal)).Select(e => e.EventId),
            Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"{prefix}-{i}")));
    }

    [Test]
    public async Task A_batch_with_one_bad_item_is_rejected_whole_and_nothing_is_ingested()
    {
        var before = _host.Core.GetStats().Ingested;
        var bad = JsonNode.Parse(WithId("bad"))!.AsObject();
        bad["data"]!["quantity"] = -5;
        var batch = $"[{WithId("good-1")},{bad.ToJsonString()},{WithId("good-2")}]";

        using var response = await _host.Client.PostAsync("/api/v1/executions", Json(batch));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var problem = await response.Content.ReadFromJsonAsync<JsonObject>();
        Assert.That(problem!["errors"]!.AsObject().Select(kv => kv.Key), Is.EqualTo(new[] { "[1].data.quantity" }));
        Assert.That((string?)problem["errors"]!["[1].data.quantity"]![0], Is.EqualTo("must be greater than 0"));
        Assert.That(_host.Core.GetStats().Ingested, Is.EqualTo(before), "nothing of the batch was ingested");
    }

    [Test]
    public async Task Malformed_json_gets_400_problem_details()
    {
        using var response = await _host.Client.PostAsync("/api/v1/executions", Json("{\"event_id\": "));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("application/problem+json"));
        var problem = await response.Content.ReadFromJsonAsync<JsonObject>();
        Assert.That((string?)problem!["errors"]!["$"]![0], Does.StartWith("malformed JSON"));
    }

    [Test]
    public async Task A_string_of_invalid_utf8_gets_400_naming_the_field()
    {
        var body = Encoding.UTF8.GetBytes(WithId("utf8"));
        var at = body.AsSpan().IndexOf("\"NYSE\""u8);
        body[at + 1] = 0xFF; // never valid in UTF-8
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");

        using var response = await _host.Client.PostAsync("/api/v1/executions", content);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var problem = await response.Content.ReadFromJsonAsync<JsonObject>();
        Assert.That((string?)problem!["errors"]!["data.venue"]![0], Is.EqualTo("must be valid UTF-8"));
    }

    [Test]
    public async Task Unknown_data_type_gets_400_naming_the_field()
    {
        var body = JsonNode.Parse(WithId("dt"))!.AsObject();
        body["data_type"] = "TRADE_BLOTTER";

        using var response = await _host.Client.PostAsync("/api/v1/executions", Json(body.ToJsonString()));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var problem = await response.Content.ReadFromJsonAsync<JsonObject>();
        Assert.That(problem!["errors"]!.AsObject().ContainsKey("data_type"), Is.True);
    }

    [Test]
    public async Task Missing_fields_get_400_naming_each_field()
    {
        var body = JsonNode.Parse(WithId("mf"))!.AsObject();
        body.Remove("timestamp");
        body["data"]!.AsObject().Remove("fill_id");

        using var response = await _host.Client.PostAsync("/api/v1/executions", Json(body.ToJsonString()));

        var problem = await response.Content.ReadFromJsonAsync<JsonObject>();
        Assert.That(problem!["errors"]!.AsObject().Select(kv => kv.Key), Is.EquivalentTo(new[] { "timestamp", "data.fill_id" }));
    }

    [Test]
    public async Task An_oversize_body_gets_413()
    {
        var batch = "[" + string.Join(",", Enumerable.Repeat(WithId("big"), 100)) + "]";
        Assert.That(Encoding.UTF8.GetByteCount(batch), Is.GreaterThan(65_536));

        using var response = await _host.Client.PostAsync("/api/v1/executions", Json(batch));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
        var problem = await response.Content.ReadFromJsonAsync<JsonObject>();
        Assert.That((string?)problem!["detail"], Does.Contain("Ingest:MaxRequestBodyBytes"));
    }

    [Test]
    public async Task An_oversize_chunked_body_without_length_gets_413()
    {
        var payload = Encoding.UTF8.GetBytes("[" + string.Join(",", Enumerable.Repeat(WithId("big"), 100)) + "]");
        using var content = new StreamContent(new MemoryStream(payload));
        content.Headers.ContentType = new("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/executions") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        using var response = await _host.Client.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
    }

    [Test]
    public async Task Too_many_events_in_one_batch_get_400()
    {
        var batch = "[" + string.Join(",", Enumerable.Range(0, 51).Select(i => WithId($"many-{i}"))) + "]";
        Assert.That(Encoding.UTF8.GetByteCount(batch), Is.LessThan(65_536), "under the body limit, so only the count is wrong");

        using var response = await _host.Client.PostAsync("/api/v1/executions", Json(batch));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(await response.Content.ReadAsStringAsync(), Does.Contain("Ingest:MaxBatchSize"));
    }

    [Test]
    public async Task A_body_that_is_not_json_gets_415()
    {
        using var response = await _host.Client.PostAsync("/api/v1/executions", new StringContent(ExecutionEventParserTests.SpecExample, Encoding.UTF8, "text/plain"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.UnsupportedMediaType));
    }

    [Test]
    public async Task Stats_and_health_answer()
    {
        var stats = await _host.Client.GetFromJsonAsync<JsonObject>("/api/v1/distribution/stats");
        using var health = await _host.Client.GetAsync("/health");

        Assert.That(stats!.ContainsKey("log_head"), Is.True);
        Assert.That(stats["buffer_bytes_grown"]!.GetValue<long>(), Is.Zero, "the subscribers' buffer budget in use is reported: none, as no subscriber is behind");
        Assert.That(stats.ContainsKey("buffer_growths_refused"), Is.True);
        Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }
}
