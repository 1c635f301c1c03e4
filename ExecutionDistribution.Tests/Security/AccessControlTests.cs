using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Security;
using ExecutionDistribution.Tests.Streaming.WebSockets;
using ExecutionDistribution.Tests.Support;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace ExecutionDistribution.Tests.Security;

/// <summary>
/// Every interface authenticates and authorizes: each REST endpoint, gRPC method and the WebSocket
/// stream against tokens that are missing, expired, not yet valid, of another issuer, audience or
/// key, unsigned (<c>alg: none</c>), lacking the scope, or right. The matrix counts what it sent
/// and what got through that should not have: the answer is 0 unauthorized reads.
/// </summary>
[Category("Unit")]
public sealed class AccessControlTests
{
    private ServiceHost _host = null!;

    [OneTimeSetUp]
    public async Task StartHost() => _host = await ServiceHost.StartAsync([.. TestAuth.Settings(), .. TestAuth.RevocationsFile()]);

    [OneTimeTearDown]
    public async Task StopHost() => await _host.DisposeAsync();

    // Every REST route and the scope it needs (null: anyone). A route the service maps that is not
    // here fails the first test: each new endpoint declares who may call it, and is tested for it.
    private static readonly (string Method, string Route, string Path, string? Scope)[] Routes =
    [
        ("POST", "/api/v1/executions/", "/api/v1/executions/", Scopes.Publish),
        ("GET", "/api/v1/execution/{order_id}/status", "/api/v1/execution/O-1/status", Scopes.Read),
        ("GET", "/api/v1/execution/reports/{portfolio_id}", "/api/v1/execution/reports/PF001?start_date=2025-06-21&end_date=2025-06-21", Scopes.Read),
        ("GET", "/api/v1/execution/fills/{trade_id}", "/api/v1/execution/fills/F-1", Scopes.Read),
        ("GET", "/api/v1/distribution/stats", "/api/v1/distribution/stats", Scopes.Operations),
        ("GET", "/api/v1/distribution/subscribers", "/api/v1/distribution/subscribers", Scopes.Operations),
        ("GET", "/api/v1/memory", "/api/v1/memory", Scopes.Operations),
        ("POST", "/api/v1/subscriptions/", "/api/v1/subscriptions/", Scopes.ManageSubscriptions),
        ("GET", "/api/v1/subscriptions/", "/api/v1/subscriptions/", Scopes.Read),
        ("GET", "/api/v1/subscriptions/{subscription_id}", "/api/v1/subscriptions/nobody", Scopes.Read),
        ("PUT", "/api/v1/subscriptions/{subscription_id}", "/api/v1/subscriptions/nobody", Scopes.ManageSubscriptions),
        ("POST", "/api/v1/subscriptions/{subscription_id}/pause", "/api/v1/subscriptions/nobody/pause", Scopes.ManageSubscriptions),
        ("POST", "/api/v1/subscriptions/{subscription_id}/resume", "/api/v1/subscriptions/nobody/resume", Scopes.ManageSubscriptions),
        ("DELETE", "/api/v1/subscriptions/{subscription_id}", "/api/v1/subscriptions/nobody", Scopes.ManageSubscriptions),
        ("POST", "/api/v1/subscriptions/{subscription_id}/ack", "/api/v1/subscriptions/nobody/ack", Scopes.Read),
        ("GET", "/api/v1/topic-stats/{**topic}", "/api/v1/topic-stats/execution/fills/processed", Scopes.Read),
        ("POST", "/api/v1/topics/", "/api/v1/topics/", Scopes.ManageTopics),
        ("GET", "/api/v1/topics/", "/api/v1/topics/", Scopes.Read),
        ("GET", "/api/v1/topics/{**topic_name}", "/api/v1/topics/execution/fills/processed", Scopes.Read),
        ("PUT", "/api/v1/topics/{**topic_name}", "/api/v1/topics/execution/none", Scopes.ManageTopics),
        ("DELETE", "/api/v1/topics/{**topic_name}", "/api/v1/topics/execution/none", Scopes.ManageTopics),
        ("GET", "/api/v1/audit/", "/api/v1/audit/?order_id=O-1", Scopes.ReadAudit),
        ("GET", "/api/v1/audit/stats", "/api/v1/audit/stats", Scopes.ReadAudit),
        ("POST", "/api/v1/admin/revocations/", "/api/v1/admin/revocations/", Scopes.Admin),
        ("GET", "/api/v1/admin/revocations/", "/api/v1/admin/revocations/", Scopes.Admin),
        ("GET", "/health", "/health", null),
        ("GET", "/health/live", "/health/live", null),
        ("GET", "/health/ready", "/health/ready", null),
        ("GET", "/metrics", "/metrics", null),
        ("GET", "/openapi/v1.json", "/openapi/v1.json", null),
        ("GET", "/docs/{**slug}", "/docs/", null),
        ("GET", "/", "/", null),
    ];

    [Test]
    public void Every_rest_route_is_in_the_matrix_with_the_scope_it_needs()
    {
        var mapped = _host.App.Services.GetServices<EndpointDataSource>().SelectMany(s => s.Endpoints).OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<global::Grpc.AspNetCore.Server.GrpcMethodMetadata>() is null && e.RoutePattern.RawText is not "/api/v1/execution/stream")
            .SelectMany(e => (e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? ["*"]).Select(m => $"{m} {Normal(e.RoutePattern.RawText!)}"))
            .Where(r => !r.StartsWith("*", StringComparison.Ordinal) && !r.Contains("/grpc.", StringComparison.Ordinal))
            .Distinct()
            .ToList();

        Assert.That(mapped, Is.SubsetOf(Routes.Select(r => $"{r.Method} {Normal(r.Route)}")), "every mapped route is in the matrix");
        Assert.That(mapped, Has.Count.GreaterThan(20));

        // The reference page's own files are one entry of the matrix.
        static string Normal(string route) => route.StartsWith("/docs/", StringComparison.Ordinal) ? "/docs/{**slug}" : "/" + route.Trim('/');
    }

    [Test]
    public async Task Rest_answers_401_to_every_bad_token_403_without_the_scope_and_lets_the_right_scope_through()
    {
        var sent = 0;
        var unauthorizedReads = new List<string>();
        using var http = new HttpClient { BaseAddress = _host.BaseAddress };
        foreach (var (method, _, path, scope) in Routes.Where(r => r.Scope is not null))
        {
            var lacking = TestAuth.Token([.. Scopes.All.Where(s => s != scope)], [CallerRights.Wildcard], "lacks-scope");
            var cases = TestAuth.BrokenTokens().Select(b => (Name: b.Key, Token: (string?)b.Value, Expected: HttpStatusCode.Unauthorized))
                .Append(("no token", null, HttpStatusCode.Unauthorized))
                .Append(("missing scope", lacking, HttpStatusCode.Forbidden));
            foreach (var (name, token, expected) in cases)
            {
                using var response = await SendAsync(http, method, path, token);
                sent++;
                if (response.StatusCode != expected)
                {
                    unauthorizedReads.Add($"{method} {path} with {name}: {(int)response.StatusCode}");
                }
            }

            using var allowed = await SendAsync(http, method, path, TestAuth.Token([scope!], [CallerRights.Wildcard], "has-scope"));
            Assert.That(allowed.StatusCode, Is.Not.EqualTo(HttpStatusCode.Unauthorized).And.Not.EqualTo(HttpStatusCode.Forbidden), $"{method} {path} with {scope}");
        }

        TestContext.Out.WriteLine($"REST: {sent} requests with a bad or insufficient token, {unauthorizedReads.Count} unauthorized reads");
        Assert.That(unauthorizedReads, Is.Empty);
    }

    [Test]
    public async Task A_401_says_why_in_its_challenge_and_anyone_may_reach_health_metrics_and_the_api_description()
    {
        using var http = new HttpClient { BaseAddress = _host.BaseAddress };
        using var expired = await SendAsync(http, "GET", "/api/v1/execution/O-1/status", TestAuth.BrokenTokens()["expired"]);
        Assert.That(expired.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(expired.Headers.WwwAuthenticate.ToString(), Does.Contain("Bearer").And.Contain("expired"));

        foreach (var (_, _, path, _) in Routes.Where(r => r.Scope is null))
        {
            using var open = await SendAsync(http, "GET", path, null);
            Assert.That(open.StatusCode, Is.Not.EqualTo(HttpStatusCode.Unauthorized).And.Not.EqualTo(HttpStatusCode.Forbidden), path);
        }
    }

    [Test]
    public async Task Grpc_answers_unauthenticated_to_every_bad_token_permission_denied_without_the_scope_and_serves_the_right_scope()
    {
        using var channel = GrpcChannel.ForAddress(_host.GrpcAddress);
        var client = new ExecutionStream.ExecutionStreamClient(channel);
        var calls = new (string Name, string Scope, Func<Metadata, Task> Call)[]
        {
            ("StreamExecution", Scopes.Read, async m =>
            {
                using var call = client.StreamExecution(new StreamRequest { Filter = new Filter { OrderIds = { "O-none" } } }, m);
                Assert.That(await call.ResponseStream.MoveNext(), Is.True, "the opening snapshot of the watched order");
            }),
            ("StreamMultiplexed", Scopes.Read, async m =>
            {
                using var call = client.StreamMultiplexed(m);
                await call.RequestStream.WriteAsync(new StreamCommand { RequestId = "r", Subscribe = new StreamRequest { Filter = new Filter { OrderIds = { "O-none" } } } });
                Assert.That(await call.ResponseStream.MoveNext(), Is.True, "answered");
                Assert.That(call.ResponseStream.Current.BodyCase, Is.EqualTo(MultiplexedMessage.BodyOneofCase.Subscribed));
            }),
            ("ManageSubscription", Scopes.ManageSubscriptions, async m => await client.ManageSubscriptionAsync(new SubscriptionRequest { Action = SubscriptionAction.Get, SubscriptionId = "nobody" }, m)),
            ("Acknowledge", Scopes.Read, async m => await client.AcknowledgeAsync(new AckRequest { SubscriptionId = "nobody", ResumeToken = "x" }, m)),
            ("RefreshStream", Scopes.Read, async m => await client.RefreshStreamAsync(new RefreshRequest { StreamId = "nobody" }, m)),
        };

        var sent = 0;
        var unauthorizedReads = new List<string>();
        foreach (var (name, scope, call) in calls)
        {
            var lacking = TestAuth.Token([.. Scopes.All.Where(s => s != scope)], [CallerRights.Wildcard], "lacks-scope");
            var cases = TestAuth.BrokenTokens().Select(b => (Case: b.Key, Token: (string?)b.Value, Expected: StatusCode.Unauthenticated))
                .Append(("no token", null, StatusCode.Unauthenticated))
                .Append(("missing scope", lacking, StatusCode.PermissionDenied));
            foreach (var (@case, token, expected) in cases)
            {
                sent++;
                var status = await StatusOfAsync(call, token);
                if (status != expected)
                {
                    unauthorizedReads.Add($"{name} with {@case}: {status}");
                }
            }

            var allowed = await StatusOfAsync(call, TestAuth.Token([scope], [CallerRights.Wildcard]));
            Assert.That(allowed, Is.Not.EqualTo(StatusCode.Unauthenticated).And.Not.EqualTo(StatusCode.PermissionDenied), $"{name} with {scope}");
        }

        TestContext.Out.WriteLine($"gRPC: {sent} calls with a bad or insufficient token, {unauthorizedReads.Count} unauthorized reads");
        Assert.That(unauthorizedReads, Is.Empty);
    }

    [Test]
    public async Task A_websocket_with_a_bad_token_is_refused_before_the_upgrade_and_one_without_the_read_scope_is_forbidden()
    {
        foreach (var (name, token) in TestAuth.BrokenTokens())
        {
            var refused = Assert.CatchAsync<WebSocketException>(() => StreamClient.ConnectAsync(_host, "order_ids=O-1", token), name);
            Assert.That(refused!.Message, Does.Contain("401"), name);
        }

        var lacking = Assert.CatchAsync<WebSocketException>(() => StreamClient.ConnectAsync(_host, "order_ids=O-1", TestAuth.Token([Scopes.Publish], ["PF001"])));
        Assert.That(lacking!.Message, Does.Contain("403"));

        await using var allowed = await StreamClient.ConnectAsync(_host, "order_ids=O-1", TestAuth.Token([Scopes.Read], ["PF001"]));
        Assert.That((string?)(await allowed.ReceiveAsync())["type"], Is.EqualTo("subscribed"));
    }

    [Test]
    public async Task A_browser_websocket_sends_its_token_in_its_first_message_and_one_that_sends_none_or_a_bad_one_is_closed_4401()
    {
        await using (var browser = await StreamClient.ConnectAsync(_host, "order_ids=O-1"))
        {
            await browser.SendAsync($$"""{"type":"auth","token":"{{TestAuth.Token([Scopes.Read], ["PF001"])}}"}""");
            Assert.That((string?)(await browser.ReceiveAsync())["type"], Is.EqualTo("subscribed"));
        }

        foreach (var (name, first) in new[]
        {
            ("an expired token", $$"""{"type":"auth","token":"{{TestAuth.BrokenTokens()["expired"]}}"}"""),
            ("alg none", $$"""{"type":"auth","token":"{{TestAuth.BrokenTokens()["alg none"]}}"}"""),
            ("another message", """{"type":"ping"}"""),
        })
        {
            await using var client = await StreamClient.ConnectAsync(_host, "order_ids=O-1");
            await client.SendAsync(first);
            var closed = Assert.CatchAsync<InvalidOperationException>(() => client.ReceiveAsync(), name);
            Assert.That(closed!.Message, Does.Contain("4401").And.Contain("unauthenticated"), name);
        }

        await using var reader = await StreamClient.ConnectAsync(_host, "order_ids=O-1");
        await reader.SendAsync($$"""{"type":"auth","token":"{{TestAuth.Token([Scopes.Publish], ["PF001"])}}"}""");
        var forbidden = Assert.CatchAsync<InvalidOperationException>(() => reader.ReceiveAsync());
        Assert.That(forbidden!.Message, Does.Contain("4403").And.Contain(Scopes.Read));
    }

    private static async Task<StatusCode> StatusOfAsync(Func<Metadata, Task> call, string? token)
    {
        var metadata = new Metadata();
        if (token is not null)
        {
            metadata.Add("Authorization", $"Bearer {token}");
        }

        try
        {
            await call(metadata);
            return StatusCode.OK;
        }
        catch (RpcException ex)
        {
            return ex.StatusCode;
        }
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient http, string method, string path, string? token)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), new Uri(path, UriKind.Relative));
        if (method is "POST" or "PUT")
        {
            request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        }

        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return http.SendAsync(request);
    }
}
