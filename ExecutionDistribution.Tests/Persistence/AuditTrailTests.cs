using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Dapper;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Tests.Streaming.Grpc;
using ExecutionDistribution.Tests.Support;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace ExecutionDistribution.Tests.Persistence;

/// <summary>
/// Every delivery outcome of an audited event is answered exactly once by the audit API, whatever
/// PostgreSQL does, from one row per event and one range per written message.
/// </summary>
[Category("Postgres")]
public sealed class AuditTrailTests
{
    private static Filter Order(string id)
    {
        var filter = new Filter();
        filter.OrderIds.Add(id);
        return filter;
    }

    // The outcomes the audit API answers for an order's events, by status.
    internal static long Count(ServiceHost host, string order, string status, int? retryCount = null) =>
        Outcomes(host, $"order_id={order}").Count(o => (string?)o!["delivery_status"] == status && (retryCount is null || (int?)o["retry_count"] == retryCount));

    internal static JsonArray Outcomes(ServiceHost host, string query) =>
        host.Client.GetFromJsonAsync<JsonArray>($"/api/v1/audit?{query}&limit=10000").GetAwaiter().GetResult()!;

    [Test]
    public async Task Each_delivery_leaves_one_delivered_row_found_by_order_and_by_event()
    {
        await using var db = new TestPostgres();
        await using var host = await ServiceHost.StartAsync(db.Settings());
        var order = $"audit-{Guid.NewGuid():N}";
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        using var call = new ExecutionStream.ExecutionStreamClient(channel).StreamExecution(new StreamRequest { Filter = Order(order), DeliveryGuarantee = "at_most_once" });
        using var reader = new MessageReader(call);
        await reader.WaitForFirstAsync(host);
        for (var i = 0; i < 50; i++)
        {
            host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-{i}"));
        }

        await reader.ReceiveDeliveriesAsync(50);
        await Eventually.WaitUntilAsync(() => Count(host, order, "delivered") == 50, "50 delivered outcomes");
        await using var c = await db.OpenAsync();
        Assert.That(c.ExecuteScalar<long>("SELECT count(*) FROM distribution_audit WHERE order_id = @order AND delivery_status = 'distributed'", new { order }), Is.EqualTo(50), "one row per event");
        Assert.That(c.ExecuteScalar<long>("SELECT sum(events) FROM delivery_ranges WHERE delivery_status = 'delivered'"), Is.EqualTo(50), "ranges cover each delivery once");
        Assert.That(c.ExecuteScalar<long>("SELECT count(*) FROM delivery_ranges"), Is.LessThanOrEqualTo(50));

        var byOrder = await host.Client.GetFromJsonAsync<JsonArray>($"/api/v1/audit?order_id={order}&limit=100");
        Assert.That(byOrder!, Has.Count.EqualTo(50));
        var byEvent = await host.Client.GetFromJsonAsync<JsonArray>($"/api/v1/audit?event_id={order}-7");
        Assert.That(byEvent!, Has.Count.EqualTo(1));
        var row = byEvent![0]!;
        Assert.That((string?)row["topic_name"], Is.EqualTo("execution/fills/processed"));
        Assert.That((string?)row["routing_key"], Is.EqualTo("AAPL.fill.complete"));
        Assert.That((int?)row["retry_count"], Is.EqualTo(0));
        Assert.That((double?)row["delivery_time_ms"], Is.Not.Null.And.InRange(0, 60_000), "the time from ingest to the write, measured");
    }

    [Test]
    public async Task Acknowledgements_and_redeliveries_of_a_subscription_leave_their_rows()
    {
        await using var db = new TestPostgres();
        await using var host = await ServiceHost.StartAsync(db.Settings());
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var client = new ExecutionStream.ExecutionStreamClient(channel);
        var (id, order) = await ManagedSubscriptions.CreateWatchingNewOrderAsync(channel, "audit", "compliance");

        // First stream: 10 delivered, none acknowledged; the client goes away.
        using (var call = client.StreamExecution(new StreamRequest { SubscriptionId = id }))
        {
            using var reader = new MessageReader(call);
            await reader.WaitForFirstAsync(host);
            for (var i = 0; i < 10; i++)
            {
                host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-{i}"));
            }

            await reader.ReceiveDeliveriesAsync(10);
        }

        await Eventually.WaitUntilAsync(() => !host.App.Services.GetRequiredService<ExecutionDistribution.Subscriptions.SubscriptionRegistry>().IsStreaming(id), "the first stream is detached");

        // Second stream: the same 10 again (redelivered), then acknowledged.
        using (var call = client.StreamExecution(new StreamRequest { SubscriptionId = id }))
        {
            using var reader = new MessageReader(call);
            await reader.WaitForFirstAsync(host);
            var again = await reader.ReceiveDeliveriesAsync(10);
            Assert.That(again.Select(d => d.EventId), Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"{order}-{i}")));
            await client.AcknowledgeAsync(new AckRequest { SubscriptionId = id, ResumeToken = reader.LastResumeToken });
        }

        // Audit:Writers write batches in parallel, so the redelivered rows may land after the acknowledged ones.
        await Eventually.WaitUntilAsync(() => Count(host, order, "acknowledged") == 10 && Count(host, order, "redelivered") == 10, "10 acknowledged and 10 redelivered outcomes");
        Assert.That(Count(host, order, "delivered"), Is.EqualTo(10));
        Assert.That(Count(host, order, "redelivered", retryCount: 1), Is.EqualTo(10));
        Assert.That(Count(host, order, "acknowledged", retryCount: 1), Is.EqualTo(10), "acknowledged as the redelivery");
        var byEvent = Outcomes(host, $"event_id={order}-3");
        Assert.That(byEvent.Select(o => (string?)o!["delivery_status"]), Is.EquivalentTo(new[] { "delivered", "redelivered", "acknowledged" }));
        Assert.That(byEvent.Select(o => (string?)o!["subscription_id"]), Is.All.EqualTo(id));
    }

    [Test]
    public async Task While_postgres_is_unreachable_rows_spill_to_a_file_and_are_written_once_when_it_returns()
    {
        await using var db = new TestPostgres();
        var target = new NpgsqlConnectionStringBuilder(TestPostgres.ConnectionString);
        await using var gate = new TcpGate(target.Host!, target.Port);
        await using var host = await ServiceHost.StartAsync([.. db.Settings(gate.Port), "--Audit:RetryInterval=00:00:00.200", "--Audit:FlushInterval=00:00:00.010"]);
        var order = $"spill-{Guid.NewGuid():N}";
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        using var call = new ExecutionStream.ExecutionStreamClient(channel).StreamExecution(new StreamRequest { Filter = Order(order) });
        using var reader = new MessageReader(call);
        await reader.WaitForFirstAsync(host);
        await using var c = await db.OpenAsync(); // direct, not through the gate

        for (var i = 0; i < 20; i++)
        {
            host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-a{i}"));
        }

        await reader.ReceiveDeliveriesAsync(20);
        long Stored() => c.ExecuteScalar<long>("SELECT count(*) FROM distribution_audit WHERE order_id = @order AND delivery_status = 'distributed'", new { order });
        await Eventually.WaitUntilAsync(() => Count(host, order, "delivered") == 20, "the first 20 outcomes are in PostgreSQL");

        gate.Cut();
        for (var i = 0; i < 30; i++)
        {
            host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-b{i}"));
        }

        await reader.ReceiveDeliveriesAsync(30);
        await Eventually.WaitUntilAsync(() => Stats(host)["spilled"]!.GetValue<long>() >= 30, "the rows written during the outage are spilled to the file");
        Assert.That(Stored(), Is.EqualTo(20), "nothing reached PostgreSQL during the outage");

        gate.Open();
        await Eventually.WaitUntilAsync(() => Stored() == 50 && !Stats(host)["degraded"]!.GetValue<bool>(), "every row is written once PostgreSQL is back", TimeSpan.FromSeconds(60));
        var perEvent = c.Query<long>("SELECT count(*) FROM distribution_audit WHERE order_id = @order GROUP BY event_id", new { order }).ToList();
        Assert.That(perEvent, Has.Count.EqualTo(50).And.All.EqualTo(1), "one row per event: none lost, none twice");
        var outcomes = Outcomes(host, $"order_id={order}");
        Assert.That(outcomes.Select(o => (string?)o!["event_id"]).ToList(), Is.Unique.And.Count.EqualTo(50), "one delivered outcome per event");
        Assert.That(outcomes.Select(o => (string?)o!["delivery_status"]), Is.All.EqualTo("delivered"));
    }

    [Test]
    public async Task Without_postgres_the_audit_goes_to_the_local_file_and_can_be_queried()
    {
        await using var host = await ServiceHost.StartAsync();
        var order = $"file-{Guid.NewGuid():N}";
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        using var call = new ExecutionStream.ExecutionStreamClient(channel).StreamExecution(new StreamRequest { Filter = Order(order) });
        using var reader = new MessageReader(call);
        await reader.WaitForFirstAsync(host);
        for (var i = 0; i < 5; i++)
        {
            host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-{i}"));
        }

        await reader.ReceiveDeliveriesAsync(5);
        JsonArray? rows = null;
        await Eventually.WaitUntilAsync(() =>
        {
            rows = host.Client.GetFromJsonAsync<JsonArray>($"/api/v1/audit?order_id={order}").GetAwaiter().GetResult();
            return rows!.Count == 5;
        }, "5 rows in the local audit file");
        Assert.That(rows!.Select(r => (string?)r!["delivery_status"]), Is.All.EqualTo("delivered"));
    }

    [TestCase("", "event_id")]
    [TestCase("?from=yesterday&to=2025-01-01T00:00:00Z", "from")]
    [TestCase("?from=2025-01-02T00:00:00Z&to=2025-01-01T00:00:00Z", "to")]
    [TestCase("?from=2025-01-01T00:00:00Z&to=2025-06-01T00:00:00Z", "to")]
    [TestCase("?event_id=e&limit=0", "limit")]
    public async Task A_bad_audit_query_answers_400_naming_the_parameter(string query, string parameter)
    {
        await using var host = await ServiceHost.StartAsync();
        using var response = await host.Client.GetAsync(new Uri($"/api/v1/audit{query}", UriKind.Relative));
        Assert.That((int)response.StatusCode, Is.EqualTo(400));
        var problem = await response.Content.ReadFromJsonAsync<JsonObject>();
        Assert.That(problem!["errors"]!.AsObject().ContainsKey(parameter), Is.True, problem.ToJsonString());
    }

    private static JsonObject Stats(ServiceHost host) =>
        host.Client.GetFromJsonAsync<JsonObject>("/api/v1/audit/stats").GetAwaiter().GetResult()!;
}

/// <summary>Events dropped for a stalled at_most_once stream leave one dropped outcome each: as many as the stream was told of.</summary>
[Category("Postgres")]
public sealed class DroppedAuditTests
{
    [Test]
    public async Task Each_event_dropped_for_a_stalled_at_most_once_stream_leaves_a_dropped_row()
    {
        await using var db = new TestPostgres();
        await using var host = await ServiceHost.StartAsync([.. db.Settings(), "--WebSocket:BufferCapacity=256"]);
        var order = $"drop-{Guid.NewGuid():N}";
        await using var stalled = await ExecutionDistribution.Tests.Streaming.WebSockets.StreamClient.ConnectAsync(host, $"order_ids={order}&delivery_guarantee=at_most_once");
        var subscribed = await stalled.ReceiveAsync();
        var subscription = (string)subscribed["subscription_id"]!;

        // Enough bytes to fill the stalled client's socket buffers and then its 256-event buffer.
        const int n = 20_000;
        for (var i = 0; i < n; i++)
        {
            await host.Core.PublishAsync(Events.Fill(order, eventId: $"{order}-{i}"), CancellationToken.None);
        }

        long delivered = 0, dropped = 0;
        while (delivered + dropped < n)
        {
            var frame = await stalled.ReceiveAsync();
            dropped += (long?)frame["dropped"] ?? 0;
            delivered += frame["events"]?.AsArray().Count ?? 0;
        }

        Assert.That(dropped, Is.GreaterThan(0));
        await using var c = await db.OpenAsync();
        long Dropped() => c.ExecuteScalar<long>("SELECT count(*) FROM distribution_audit WHERE subscription_id = @subscription AND delivery_status = 'dropped'", new { subscription });
        long Delivered() => c.ExecuteScalar<long?>("SELECT sum(events) FROM delivery_ranges WHERE subscription_id = @subscription AND delivery_status = 'delivered'", new { subscription }) ?? 0;
        await Eventually.WaitUntilAsync(() => Dropped() == dropped && Delivered() == delivered, $"{dropped} dropped rows and ranges of {delivered} deliveries", TimeSpan.FromSeconds(60));

        // A dropped event inside a delivered range is answered as dropped, not delivered.
        var droppedEvent = c.ExecuteScalar<string>("SELECT event_id FROM distribution_audit WHERE subscription_id = @subscription AND delivery_status = 'dropped' LIMIT 1", new { subscription });
        await Eventually.WaitUntilAsync(() => AuditTrailTests.Outcomes(host, $"event_id={droppedEvent}").Count == 1, "the dropped event's event row is stored");
        Assert.That(AuditTrailTests.Outcomes(host, $"event_id={droppedEvent}").Select(o => (string?)o!["delivery_status"]), Is.EqualTo(new[] { "dropped" }));
    }
}
