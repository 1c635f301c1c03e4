using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Security;
using ExecutionDistribution.Tests.Streaming.WebSockets;
using ExecutionDistribution.Tests.Support;
using Grpc.Core;
using Grpc.Net.Client;

namespace ExecutionDistribution.Tests.Security;

/// <summary>
/// A caller sees only the portfolios it is entitled to: streams are narrowed to them (a fill by its
/// order's portfolio; a venue status, which belongs to no portfolio, reaches everyone), a filter
/// asking for more is told what was cut, and lookups of another portfolio's order, fill or report
/// answer 404 as if it did not exist.
/// </summary>
[Category("Unit")]
public sealed class EntitlementTests
{
    private ServiceHost _host = null!;

    [OneTimeSetUp]
    public async Task StartHost() => _host = await ServiceHost.StartAsync([.. TestAuth.Settings(), .. TestAuth.RevocationsFile()]);

    [OneTimeTearDown]
    public async Task StopHost() => await _host.DisposeAsync();

    // Orders of two portfolios, a fill of each (naming no portfolio: it is its order's), then a venue status; the event ids in publishing order.
    private List<(string EventId, string Portfolio)> PublishBoth(string run)
    {
        var published = new List<(string, string)>();
        foreach (var (order, portfolio) in new[] { ($"{run}-A", $"{run}-PA"), ($"{run}-B", $"{run}-PB") })
        {
            var created = Events.Order(order, portfolio: portfolio, eventId: $"{order}-new");
            var filled = Events.Fill(order, eventId: $"{order}-fill");
            Assert.That(_host.Core.TryPublish(created) && _host.Core.TryPublish(filled), Is.True);
            published.Add((created.EventId, portfolio));
            published.Add((filled.EventId, portfolio));
        }

        var venue = Events.Venue();
        Assert.That(_host.Core.TryPublish(venue), Is.True);
        published.Add((venue.EventId, "market-wide"));
        return published;
    }

    [Test]
    public async Task A_websocket_and_a_grpc_stream_entitled_to_one_portfolio_receive_none_of_another_while_both_are_published()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var token = TestAuth.Token([Scopes.Read], [$"{run}-PA"]);
        await using var ws = await StreamClient.ConnectAsync(_host, "data_types=ORDER_UPDATE,FILL_NOTIFICATION,VENUE_STATUS", token);
        Assert.That((string?)(await ws.ReceiveAsync())["type"], Is.EqualTo("subscribed"));
        using var channel = GrpcChannel.ForAddress(_host.GrpcAddress);
        using var grpc = new ExecutionStream.ExecutionStreamClient(channel).StreamExecution(
            new StreamRequest { Filter = new Filter { DataTypes = { "ORDER_UPDATE", "FILL_NOTIFICATION", "VENUE_STATUS" } } },
            new Metadata { { "Authorization", $"Bearer {token}" } });
        await grpc.ResponseHeadersAsync;

        var published = PublishBoth(run);
        var expected = published.Where(p => p.Portfolio is var x && (x == $"{run}-PA" || x == "market-wide")).Select(p => p.EventId).ToList();

        var overWebSocket = (await ws.ReceiveEventsAsync(expected.Count)).Select(e => e.EventId).ToList();
        var overGrpc = new List<string>();
        while (overGrpc.Count < expected.Count && await grpc.ResponseStream.MoveNext())
        {
            overGrpc.AddRange(grpc.ResponseStream.Current.Events?.Deliveries.Select(d => d.EventId) ?? []);
        }

        Assert.That(overWebSocket, Is.EqualTo(expected), "its portfolio's order and fill, and the venue status");
        Assert.That(overGrpc, Is.EqualTo(expected));

        // A marker of its own portfolio after everything: had another portfolio's event been let through, it would have come before it.
        Assert.That(_host.Core.TryPublish(Events.Order($"{run}-A2", portfolio: $"{run}-PA", eventId: $"{run}-marker")), Is.True);
        Assert.That((await ws.ReceiveEventsAsync(1)).Single().EventId, Is.EqualTo($"{run}-marker"));
    }

    [Test]
    public async Task A_filter_asking_for_a_portfolio_not_entitled_is_narrowed_and_the_client_is_told_what_was_cut()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var token = TestAuth.Token([Scopes.Read], [$"{run}-PA"]);
        await using var ws = await StreamClient.ConnectAsync(_host, $"portfolio_ids={run}-PB,{run}-PA", token);
        var subscribed = await ws.ReceiveAsync();
        using var channel = GrpcChannel.ForAddress(_host.GrpcAddress);
        using var grpc = new ExecutionStream.ExecutionStreamClient(channel).StreamExecution(
            new StreamRequest { Filter = new Filter { PortfolioIds = { $"{run}-PB" } } }, new Metadata { { "Authorization", $"Bearer {token}" } });
        var headers = await grpc.ResponseHeadersAsync;

        var published = PublishBoth(run);
        Assert.That(_host.Core.TryPublish(Events.Order($"{run}-A2", portfolio: $"{run}-PA", eventId: $"{run}-marker")), Is.True);

        Assert.That((string?)subscribed["narrowed"], Does.Contain($"not entitled to {run}-PB").And.Contain($"carries {run}-PA"));
        Assert.That(headers.GetValue("x-filter-narrowed"), Does.Contain($"not entitled to {run}-PB").And.Contain("none of the portfolios"));
        var received = (await ws.ReceiveEventsAsync(4)).Select(e => e.EventId).ToList();
        Assert.That(received, Is.EqualTo(published.Where(p => p.Portfolio != $"{run}-PB").Select(p => p.EventId).Append($"{run}-marker")));
        Assert.That(await grpc.ResponseStream.MoveNext(), Is.True);
        Assert.That(grpc.ResponseStream.Current.Events.Deliveries.Select(d => d.EventId), Is.EqualTo(new[] { published.Last().EventId }),
            "the gRPC stream asked only for the other portfolio: the venue status is all it may have");
    }

    [Test]
    public async Task Lookups_of_another_portfolios_order_fill_or_report_answer_404_as_if_unknown()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        PublishBoth(run);
        using var http = new HttpClient { BaseAddress = _host.BaseAddress };
        var admin = TestAuth.Admin();
        string? fillOfB = null;
        await Eventually.WaitUntilAsync(() =>
        {
            using var status = Get(http, $"/api/v1/execution/{run}-B/status", admin);
            fillOfB = status.IsSuccessStatusCode ? (string?)JsonNode.Parse(status.Content.ReadAsStringAsync().GetAwaiter().GetResult())!["last_fill"]?["fill_id"] : null;
            return fillOfB is not null;
        }, "the order of B is filled");

        var readerOfA = TestAuth.Token([Scopes.Read], [$"{run}-PA"]);
        var lookups = new (string Path, HttpStatusCode ForA, HttpStatusCode ForAdmin)[]
        {
            ($"/api/v1/execution/{run}-A/status", HttpStatusCode.OK, HttpStatusCode.OK),
            ($"/api/v1/execution/{run}-B/status", HttpStatusCode.NotFound, HttpStatusCode.OK),
            ($"/api/v1/execution/fills/{fillOfB}", HttpStatusCode.NotFound, HttpStatusCode.OK),
            ($"/api/v1/execution/reports/{run}-PB?start_date=2025-06-21&end_date=2025-06-21", HttpStatusCode.NotFound, HttpStatusCode.OK),
            ($"/api/v1/execution/reports/{run}-PA?start_date=2025-06-21&end_date=2025-06-21", HttpStatusCode.OK, HttpStatusCode.OK),
        };

        foreach (var (path, forA, forAdmin) in lookups)
        {
            using var asA = Get(http, path, readerOfA);
            using var asAdmin = Get(http, path, admin);
            Assert.That((asA.StatusCode, asAdmin.StatusCode), Is.EqualTo((forA, forAdmin)), path);
            if (forA == HttpStatusCode.NotFound)
            {
                Assert.That(await asA.Content.ReadAsStringAsync(), Does.Not.Contain("forbidden").IgnoreCase.And.Not.Contain("entitle").IgnoreCase, "nothing says it exists");
            }
        }
    }

    [Test]
    [Category("Postgres")]
    public async Task After_a_restart_a_fill_of_an_order_created_before_it_reaches_the_streams_entitled_to_the_orders_portfolio()
    {
        await using var db = new TestPostgres();
        var run = Guid.NewGuid().ToString("N")[..8];
        var order = $"{run}-old";
        await using (var before = await ServiceHost.StartAsync([.. TestAuth.Settings(), .. TestAuth.RevocationsFile(), .. db.Settings()]))
        {
            Assert.That(before.Core.TryPublish(Events.Order(order, portfolio: $"{run}-PA", eventId: $"{order}-new")), Is.True);
            await using var sql = await db.OpenAsync();
            await Eventually.WaitUntilAsync(() =>
            {
                using var command = new Npgsql.NpgsqlCommand("SELECT count(*) FROM orders WHERE order_id = @order", sql);
                command.Parameters.AddWithValue("order", order);
                return Convert.ToInt64(command.ExecuteScalar()) == 1;
            }, "the order is stored");
        }

        await using var after = await ServiceHost.StartAsync([.. TestAuth.Settings(), .. TestAuth.RevocationsFile(), .. db.Settings()]);
        await using var ws = await StreamClient.ConnectAsync(after, "data_types=FILL_NOTIFICATION", TestAuth.Token([Scopes.Read], [$"{run}-PA"]));
        await ws.ReceiveAsync();

        // The fill names no portfolio, and this run has seen nothing of its order: the order store says whose it is.
        Assert.That(after.Core.TryPublish(Events.Fill(order, eventId: $"{order}-fill")), Is.True);

        var events = await ws.ReceiveUntilAsync(f => (string?)f["type"] == "events"); // within a deadline: heartbeats would keep a plain read waiting
        Assert.That(StreamClient.EventsOf(events).Single().EventId, Is.EqualTo($"{order}-fill"));
    }

    private static HttpResponseMessage Get(HttpClient http, string path, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http.SendAsync(request).GetAwaiter().GetResult();
    }
}
