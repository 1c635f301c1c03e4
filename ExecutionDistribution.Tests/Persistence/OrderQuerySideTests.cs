using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Dapper;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Persistence;

/// <summary>
/// The REST lookups over the real PostgreSQL and Redis: facts stored once, statuses cached under the
/// spec's keys and lifetimes, lookups that keep answering (never with an older status) when Redis goes.
/// </summary>
[Category("Postgres")]
[Category("Redis")]
public sealed class OrderQuerySideTests
{
    private static readonly DateTime T0 = new(2025, 6, 21, 10, 0, 0, DateTimeKind.Utc);

    private static ExecutionEvent Update(string order, decimal qty, OrderExecType exec, int second, string? eventId = null) =>
        new(eventId ?? $"{order}-u{second}", T0, ExecutionDataType.OrderUpdate,
            new OrderUpdate(order, "PF-Q", "MSFT", Side.Buy, OrderType.Limit, qty, 400m, TimeInForce.Day, exec, "NASDAQ", null, T0.AddSeconds(second)),
            new RoutingInfo("execution/orders/updates", "MSFT.order.update", ["risk"], 5, DeliveryGuarantee.AtLeastOnce),
            new ExecutionMetadata("oms", "NASDAQ", false, false, []));

    private static ExecutionEvent Fill(string order, string fillId, decimal qty, decimal px, int second, FillExecType exec = FillExecType.Trade, string? refFill = null) =>
        new($"{order}-{fillId}-{exec}", T0, ExecutionDataType.FillNotification,
            new FillNotification(order, fillId, "MSFT", Side.Buy, qty, px, "NASDAQ", T0.AddSeconds(second), 0.5m, exec, refFill, "PF-Q", "USD"),
            new RoutingInfo("execution/fills/processed", "MSFT.fill.complete", ["risk"], 1, DeliveryGuarantee.AtLeastOnce),
            new ExecutionMetadata("oms", "NASDAQ", true, false, []));

    private static async Task<JsonObject> StatusWhen(ServiceHost host, string order, Func<JsonObject, bool> until)
    {
        JsonObject? status = null;
        await Eventually.WaitUntilAsync(() =>
        {
            using var response = host.Client.GetAsync(new Uri($"/api/v1/execution/{order}/status", UriKind.Relative)).GetAwaiter().GetResult();
            Assert.That(response.StatusCode, Is.AnyOf(HttpStatusCode.OK, HttpStatusCode.NotFound), "lookups never fail");
            status = response.IsSuccessStatusCode ? response.Content.ReadFromJsonAsync<JsonObject>().GetAwaiter().GetResult() : null;
            return status is not null && until(status);
        }, $"the status of {order} as expected");
        return status!;
    }

    [Test]
    public async Task Statuses_are_stored_in_postgres_and_cached_in_redis_under_the_spec_keys_and_lifetimes()
    {
        await using var db = new TestPostgres();
        await using var redis = new TestRedis();
        await using var host = await ServiceHost.StartAsync([.. db.Settings(), .. redis.Settings()]);
        var order = $"q-{Guid.NewGuid():N}";
        host.Core.TryPublish(Update(order, 100m, OrderExecType.New, 0));
        host.Core.TryPublish(Fill(order, $"{order}-F1", 30m, 400m, 1));
        host.Core.TryPublish(Fill(order, $"{order}-F1", 30m, 400m, 1)); // a repeat counts once
        host.Core.TryPublish(Fill(order, $"{order}-F2", 20m, 401m, 2));

        var status = await StatusWhen(host, order, s => (decimal?)s["cum_qty"] == 50m);
        Assert.That((decimal?)status["leaves_qty"], Is.EqualTo(50m));
        Assert.That((string?)status["status"], Is.EqualTo("PARTIALLY_FILLED"));

        var statusKey = $"{redis.Prefix}exec_status:{order}";
        var fillsKey = $"{redis.Prefix}fills:{order}";
        await Eventually.WaitUntilAsync(() => redis.Db.KeyExists(statusKey) && redis.Db.KeyExists(fillsKey), "both keys are cached");
        Assert.That(redis.Db.KeyTimeToLive(statusKey)!.Value, Is.GreaterThan(TimeSpan.FromMinutes(59)).And.LessThanOrEqualTo(TimeSpan.FromHours(1)));
        Assert.That(redis.Db.KeyTimeToLive(fillsKey)!.Value, Is.GreaterThan(TimeSpan.FromHours(23.9)).And.LessThanOrEqualTo(TimeSpan.FromHours(24)));
        Assert.That((int)redis.Db.HashGet(statusKey, "v"), Is.EqualTo(3), "three facts: the update and two fills");

        await using var c = await db.OpenAsync();
        Assert.That(c.ExecuteScalar<long>("SELECT count(*) FROM fills WHERE order_id = @order", new { order }), Is.EqualTo(2));
        Assert.That(c.ExecuteScalar<int>("SELECT version FROM orders WHERE order_id = @order", new { order }), Is.EqualTo(3));

        var fill = await host.Client.GetFromJsonAsync<JsonObject>($"/api/v1/execution/fills/{order}-F2");
        Assert.That((decimal?)fill!["price"], Is.EqualTo(401m));
    }

    [Test]
    public async Task After_a_restart_statuses_fills_with_corrections_and_reports_are_read_from_postgres()
    {
        await using var db = new TestPostgres();
        var order = $"q-{Guid.NewGuid():N}";
        await using (var host = await ServiceHost.StartAsync(db.Settings()))
        {
            host.Core.TryPublish(Update(order, 100m, OrderExecType.New, 0));
            host.Core.TryPublish(Fill(order, $"{order}-F1", 60m, 400m, 1));
            host.Core.TryPublish(Fill(order, $"{order}-F1c", 70m, 400m, 2, FillExecType.TradeCorrect, $"{order}-F1"));
            host.Core.TryPublish(Fill(order, $"{order}-F2", 30m, 410m, 3));
            host.Core.TryPublish(Fill(order, $"{order}-F2x", 30m, 410m, 4, FillExecType.TradeCancel, $"{order}-F2"));
            await StatusWhen(host, order, s => (int?)s["fill_count"] == 1 && (decimal?)s["cum_qty"] == 70m);
            await using var c = await db.OpenAsync();
            await Eventually.WaitUntilAsync(() => c.ExecuteScalar<int>("SELECT coalesce(max(version), 0) FROM orders WHERE order_id = @order", new { order }) == 5, "all five facts stored");
        }

        await using (var host = await ServiceHost.StartAsync(db.Settings()))
        {
            var status = await StatusWhen(host, order, _ => true);
            Assert.That((decimal?)status["cum_qty"], Is.EqualTo(70m), "the correction replaces the fill; the bust removes the other");
            Assert.That((decimal?)status["leaves_qty"], Is.EqualTo(30m));

            var original = await host.Client.GetFromJsonAsync<JsonObject>($"/api/v1/execution/fills/{order}-F1");
            Assert.That((string?)original!["state"], Is.EqualTo("CORRECTED"));
            Assert.That((string?)original["current_fill_id"], Is.EqualTo($"{order}-F1c"));
            Assert.That(original["corrections"]!.AsArray(), Has.Count.EqualTo(2));
            var busted = await host.Client.GetFromJsonAsync<JsonObject>($"/api/v1/execution/fills/{order}-F2");
            Assert.That((string?)busted!["state"], Is.EqualTo("BUSTED"));

            var report = await host.Client.GetFromJsonAsync<JsonObject>("/api/v1/execution/reports/PF-Q?start_date=2025-06-21&end_date=2025-06-21");
            Assert.That(report!.ToJsonString(), Does.Contain(order).Or.Contain("70"), report.ToJsonString());
        }
    }

    [Test]
    public async Task After_a_restart_a_stream_watching_an_order_gets_its_state_from_before_the_restart_and_goes_on_from_it()
    {
        await using var db = new TestPostgres();
        var order = $"q-{Guid.NewGuid():N}";
        await using (var host = await ServiceHost.StartAsync(db.Settings()))
        {
            host.Core.TryPublish(Update(order, 100m, OrderExecType.New, 0));
            host.Core.TryPublish(Fill(order, $"{order}-F1", 30m, 400m, 1));
            await using var c = await db.OpenAsync();
            await Eventually.WaitUntilAsync(() => c.ExecuteScalar<int>("SELECT coalesce(max(version), 0) FROM orders WHERE order_id = @order", new { order }) == 2, "both facts stored");
        }

        await using (var host = await ServiceHost.StartAsync(db.Settings()))
        {
            // A stream watching the order: its snapshot holds the state stored by the earlier run.
            await using (var client = await ExecutionDistribution.Tests.Streaming.WebSockets.StreamClient.ConnectAsync(host, $"order_ids={order}"))
            {
                JsonObject snapshot;
                do
                {
                    snapshot = await client.ReceiveAsync();
                }
                while ((string?)snapshot["type"] != "snapshot");

                var state = snapshot["orders"]!.AsArray().Single()!;
                Assert.That((decimal?)state["cum_qty"], Is.EqualTo(30m));
                Assert.That((decimal?)state["order_qty"], Is.EqualTo(100m));
            }

            // A fill in this run adds to the earlier facts, in the projection (snapshots) and in PostgreSQL (lookups).
            host.Core.TryPublish(Fill(order, $"{order}-F2", 20m, 401m, 2));
            await StatusWhen(host, order, s => (decimal?)s["cum_qty"] == 50m);
            await using var again = await ExecutionDistribution.Tests.Streaming.WebSockets.StreamClient.ConnectAsync(host, $"order_ids={order}");
            JsonObject next;
            do
            {
                next = await again.ReceiveAsync();
            }
            while ((string?)next["type"] != "snapshot");

            Assert.That((decimal?)next["orders"]!.AsArray().Single()!["cum_qty"], Is.EqualTo(50m), "the projection holds the earlier run's facts and this run's");
        }
    }

    [Test]
    public async Task With_redis_unreachable_lookups_answer_from_postgres_never_older_and_the_cache_heals()
    {
        await using var db = new TestPostgres();
        await using var redis = new TestRedis();
        var endpoint = TestRedis.Endpoint.Split(':');
        await using var gate = new TcpGate(endpoint[0], int.Parse(endpoint[1], System.Globalization.CultureInfo.InvariantCulture));
        // Without the in-process near cache, so every lookup goes to Redis (or around it).
        await using var host = await ServiceHost.StartAsync([.. db.Settings(), .. redis.Settings($"127.0.0.1:{gate.Port}"), "--Orders:NearCacheEntries=0"]);
        var order = $"q-{Guid.NewGuid():N}";
        host.Core.TryPublish(Update(order, 100m, OrderExecType.New, 0));
        host.Core.TryPublish(Fill(order, $"{order}-F1", 10m, 400m, 1));
        await StatusWhen(host, order, s => (decimal?)s["cum_qty"] == 10m);
        var statusKey = $"{redis.Prefix}exec_status:{order}";
        await Eventually.WaitUntilAsync(() => redis.Db.KeyExists(statusKey), "the status is cached");

        gate.Cut();
        host.Core.TryPublish(Fill(order, $"{order}-F2", 15m, 400m, 2));
        await StatusWhen(host, order, s => (decimal?)s["cum_qty"] == 25m);
        for (var i = 0; i < 20; i++)
        {
            var again = await StatusWhen(host, order, _ => true);
            Assert.That((decimal?)again["cum_qty"], Is.EqualTo(25m), "never the older cached status");
        }

        Assert.That((int)redis.Db.HashGet(statusKey, "v"), Is.EqualTo(2), "Redis still holds the old version while unreachable");
        gate.Open();
        await Eventually.WaitUntilAsync(() =>
        {
            var cached = redis.Db.HashGet(statusKey, "v");
            return cached.IsNull || (int)cached == 3;
        }, "the stale key is cleared when Redis returns", TimeSpan.FromSeconds(30));
        var healed = await StatusWhen(host, order, _ => true);
        Assert.That((decimal?)healed["cum_qty"], Is.EqualTo(25m));

        // Lookups fill the cache once the service's connection to Redis is back (it reconnects on its own schedule).
        await Eventually.WaitUntilAsync(() =>
        {
            Assert.That((decimal?)StatusWhen(host, order, _ => true).GetAwaiter().GetResult()["cum_qty"], Is.EqualTo(25m));
            return (int?)redis.Db.HashGet(statusKey, "v") == 3;
        }, "the cache is filled again with the current version, by lookups");
    }
}

/// <summary>The spec's TopicStats: counted per topic, served by the API and written to Redis as topic_stats:{topic}.</summary>
public sealed class TopicStatsTests
{
    [Test]
    public async Task Events_are_counted_per_topic_and_written_to_redis_with_a_five_minute_lifetime()
    {
        await using var redis = new TestRedis();
        await using var host = await ServiceHost.StartAsync(redis.Settings());
        var topic = $"execution/fills/{Guid.NewGuid():N}";
        for (var i = 0; i < 7; i++)
        {
            host.Core.TryPublish(Events.Fill(topic: topic));
        }

        JsonObject? stats = null;
        await Eventually.WaitUntilAsync(() =>
        {
            using var response = host.Client.GetAsync(new Uri($"/api/v1/topic-stats/{topic}", UriKind.Relative)).GetAwaiter().GetResult();
            stats = response.IsSuccessStatusCode ? response.Content.ReadFromJsonAsync<JsonObject>().GetAwaiter().GetResult() : null;
            return (long?)stats?["events"] == 7;
        }, "7 events counted on the topic");
        Assert.That((long?)stats!["events_by_data_type"]!["FILL_NOTIFICATION"], Is.EqualTo(7));

        var key = $"{redis.Prefix}topic_stats:{topic}";
        await Eventually.WaitUntilAsync(() => redis.Db.KeyExists(key), "topic_stats is written to Redis", TimeSpan.FromSeconds(30));
        Assert.That(redis.Db.KeyTimeToLive(key)!.Value, Is.GreaterThan(TimeSpan.FromMinutes(4)).And.LessThanOrEqualTo(TimeSpan.FromMinutes(5)));
        Assert.That(JsonNode.Parse((string)redis.Db.StringGet(key)!)!["events"]!.GetValue<long>(), Is.EqualTo(7));

        using var unknown = await host.Client.GetAsync(new Uri("/api/v1/topic-stats/never/seen", UriKind.Relative));
        Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }
}
