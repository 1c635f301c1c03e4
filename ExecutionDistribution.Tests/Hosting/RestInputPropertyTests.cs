using System.Net;
using System.Text;
using CsCheck;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Hosting;

/// <summary>
/// Every REST endpoint, fed generated bodies, route values and query parameters (InputGen): never a
/// 5xx, a 4xx is a ProblemDetails, and a refused create stores nothing. Thousands of cases from a
/// fixed seed; EXECDIST_FUZZ_CASES runs more.
/// </summary>
[Category("Unit")]
public sealed class RestInputPropertyTests
{
    private ServiceHost _host = null!;

    [OneTimeSetUp]
    public async Task StartHost() => _host = await ServiceHost.StartAsync();

    [OneTimeTearDown]
    public async Task StopHost() => await _host.DisposeAsync();

    private static readonly InputGen.Document Filter = InputGen.Document.Of(
        InputGen.Document.Field("routing_keys", "[\"AAPL.#\"]"),
        InputGen.Document.Field("data_types", "[\"FILL_NOTIFICATION\"]"),
        InputGen.Document.Field("order_ids", "[\"O-1\"]"),
        InputGen.Document.Field("instruments", "[\"AAPL\"]"),
        InputGen.Document.Field("venues", "[\"NYSE\"]"),
        InputGen.Document.Field("target_workflows", "[\"risk\"]"),
        InputGen.Document.Field("min_priority", "2"));

    private static Gen<string> Subscription(string id) => InputGen.Document.Of(
        InputGen.Document.Field("subscription_id", InputGen.Json(id)),
        InputGen.Document.Field("topic_name", "\"execution/fills/#\""),
        InputGen.Document.Field("subscriber_workflow", "\"risk\""),
        InputGen.Document.Field("filter", Filter),
        InputGen.Document.Field("delivery_guarantee", "\"at_least_once\"")).Mutated;

    private static Gen<string> Topic(string name) => InputGen.Document.Of(
        InputGen.Document.Field("topic_name", InputGen.Json(name)),
        InputGen.Document.Field("data_type", "\"FILL_NOTIFICATION\""),
        InputGen.Document.Field("partitions", "12"),
        InputGen.Document.Field("retention_policy", "\"7d\""),
        InputGen.Document.Field("latency_requirement_ms", "100"),
        InputGen.Document.Field("enabled", "true")).Mutated;

    // Ids of their own per case, so a case is not a conflict with an earlier one.
    private static readonly Gen<string> Id = Gen.Guid.Select(g => $"prop-{g:N}");

    /// <summary>One request: method, path and query as sent, and a JSON body or none.</summary>
    private sealed record Call(HttpMethod Method, string Path, string? Body, string? StoredAt = null)
    {
        public override string ToString()
        {
            var text = $"{Method} {Path} {Body}";
            return text.Length <= 400 ? text : $"{text[..400]}... ({text.Length} characters)";
        }
    }

    private static readonly Gen<string> Query = Gen.Select(InputGen.Segment, InputGen.Segment, (a, b) => $"{a}&x={b}");

    private static readonly Gen<Call> Calls = Gen.OneOf(
        Id.SelectMany(id => Subscription(id).Select(b => new Call(HttpMethod.Post, "/api/v1/subscriptions", b, $"/api/v1/subscriptions/{id}"))),
        Gen.Select(InputGen.Segment, Id.SelectMany(Subscription), (s, b) => new Call(HttpMethod.Put, $"/api/v1/subscriptions/{s}", b)),
        Gen.Select(InputGen.Segment, InputGen.Document.Of(InputGen.Document.Field("resume_token", "\"\"")).Mutated, (s, b) => new Call(HttpMethod.Post, $"/api/v1/subscriptions/{s}/ack", b)),
        InputGen.Segment.Select(s => new Call(HttpMethod.Post, $"/api/v1/subscriptions/{s}/pause", null)),
        InputGen.Segment.Select(s => new Call(HttpMethod.Post, $"/api/v1/subscriptions/{s}/resume", null)),
        InputGen.Segment.Select(s => new Call(HttpMethod.Get, $"/api/v1/subscriptions/{s}", null)),
        InputGen.Segment.Select(s => new Call(HttpMethod.Delete, $"/api/v1/subscriptions/{s}", null)),
        Id.SelectMany(id => Topic(id).Select(b => new Call(HttpMethod.Post, "/api/v1/topics", b, $"/api/v1/topics/{id}"))),
        Gen.Select(InputGen.Segment, Id.SelectMany(Topic), (s, b) => new Call(HttpMethod.Put, $"/api/v1/topics/{s}", b)),
        InputGen.Segment.Select(s => new Call(HttpMethod.Get, $"/api/v1/topics/{s}", null)),
        InputGen.Segment.Select(s => new Call(HttpMethod.Delete, $"/api/v1/topics/{s}", null)),
        InputGen.Segment.Select(s => new Call(HttpMethod.Get, $"/api/v1/topics?enabled={s}", null)),
        InputGen.Segment.Select(s => new Call(HttpMethod.Get, $"/api/v1/topic-stats/{s}", null)),
        Id.SelectMany(id => InputGen.Execution(id).Mutated).Select(b => new Call(HttpMethod.Post, "/api/v1/executions", b)),
        Id.SelectMany(id => InputGen.Execution(id).Mutated).Array[0, 3].Select(b => new Call(HttpMethod.Post, "/api/v1/executions", "[" + string.Join(",", b) + "]")),
        InputGen.Value.Select(b => new Call(HttpMethod.Post, "/api/v1/executions", b)),
        InputGen.Segment.Select(s => new Call(HttpMethod.Get, $"/api/v1/execution/{s}/status", null)),
        InputGen.Segment.Select(s => new Call(HttpMethod.Get, $"/api/v1/execution/fills/{s}", null)),
        Gen.Select(InputGen.Segment, InputGen.Segment, InputGen.Segment, (p, a, b) => new Call(HttpMethod.Get, $"/api/v1/execution/reports/{p}?start_date={a}&end_date={b}", null)),
        Gen.Select(InputGen.Segment, Query, (a, q) => new Call(HttpMethod.Get, $"/api/v1/audit?event_id={a}&order_id={q}&limit={a}&from={a}", null)),
        Query.Select(q => new Call(HttpMethod.Get, $"/api/v1/audit?subscription_id={q}&to={q}", null)));

    [Test]
    public async Task No_generated_request_gets_a_server_error_every_refusal_is_a_problem_document_and_stores_nothing()
    {
        var cases = InputGen.Cases(3_000);
        var checkedCount = 0;
        foreach (var call in InputGen.Draw(Calls, cases, seed: 20261207))
        {
            using var request = new HttpRequestMessage(call.Method, new Uri(call.Path, UriKind.Relative));
            if (call.Body is not null)
            {
                request.Content = new StringContent(call.Body, Encoding.UTF8, "application/json");
            }

            using var response = await _host.Client.SendAsync(request);
            var status = (int)response.StatusCode;
            Assert.That(status, Is.LessThan(500), () => $"{call} answered {status}: {response.Content.ReadAsStringAsync().GetAwaiter().GetResult()}");
            // Kestrel itself refuses a request line it cannot decode (a %00 in the path) or that is too long,
            // before any endpoint runs: 400 or 414 with no body. Every answer of ours carries a document.
            var fromKestrel = status is 400 or 414 or 431 && response.Content.Headers.ContentLength == 0;
            if (status >= 400 && status != (int)HttpStatusCode.NotFound && status != (int)HttpStatusCode.MethodNotAllowed && !fromKestrel)
            {
                Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"), () => $"{call} answered {status} without a problem document");
            }

            if (status >= 400 && call.StoredAt is { } stored)
            {
                // A refused create stores nothing: its id is still unknown.
                using var lookup = await _host.Client.GetAsync(new Uri(stored, UriKind.Relative));
                Assert.That(lookup.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), () => $"{call} answered {status} and yet stored {stored}");
            }

            checkedCount++;
        }

        Assert.That(checkedCount, Is.EqualTo(cases));
    }
}
