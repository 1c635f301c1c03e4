using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ExecutionDistribution.Core;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Persistence;

/// <summary>Topics, subscriptions and acknowledged positions live in PostgreSQL and survive a restart.</summary>
[Category("Postgres")]
[Category("Redis")]
public sealed class StoredTopicsAndSubscriptionsTests
{
    [Test]
    public async Task Text_with_a_nul_character_which_postgresql_cannot_store_gets_400_naming_its_field_and_the_service_goes_on()
    {
        await using var db = new TestPostgres();
        await using var host = await ServiceHost.StartAsync(db.Settings());
        var id = $"nul-{Guid.NewGuid():N}";
        async Task<string[]> RefusedFields(string path, object body)
        {
            using var response = await host.Client.PostAsJsonAsync(path, body);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), path);
            var errors = (await response.Content.ReadFromJsonAsync<JsonObject>())!["errors"]!.AsObject();
            Assert.That(errors.Select(kv => (string?)kv.Value![0]), Has.All.Contains("NUL"), path);
            return [.. errors.Select(kv => kv.Key)];
        }

        object Subscription(string subscriptionId, string workflow, string orderId, string topic) => new
        {
            subscription_id = subscriptionId,
            topic_name = topic,
            subscriber_workflow = workflow,
            filter = new { order_ids = new[] { orderId } },
        };

        Assert.That(await RefusedFields("/api/v1/subscriptions", Subscription($"{id}\0", "risk", "O-1", "execution/#")), Is.EqualTo(new[] { "subscription_id" }));
        Assert.That(await RefusedFields("/api/v1/subscriptions", Subscription(id, "ri\0sk", "O-1", "execution/#")), Is.EqualTo(new[] { "subscriber_workflow" }));
        Assert.That(await RefusedFields("/api/v1/subscriptions", Subscription(id, "risk", "O-\0", "execution/#")), Is.EqualTo(new[] { "filter.order_ids[0]" }));
        Assert.That(await RefusedFields("/api/v1/subscriptions", Subscription(id, "risk", "O-1", "execution/\0/#")), Is.EqualTo(new[] { "topic_name" }));
        Assert.That(await RefusedFields("/api/v1/topics", new { topic_name = "execution/\0", data_type = "FILL_NOTIFICATION" }), Is.EqualTo(new[] { "topic_name" }));
        var e = JsonNode.Parse(Contract.ExecutionEventParserTests.SpecExample)!.AsObject();
        e["event_id"] = $"{id}\0";
        Assert.That(await RefusedFields("/api/v1/executions", e), Is.EqualTo(new[] { "event_id" }));

        using var audit = await host.Client.GetAsync(new Uri($"/api/v1/audit?event_id={id}%00", UriKind.Relative));
        Assert.That(audit.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), "an audit query by such an id");

        using var created = await host.Client.PostAsJsonAsync("/api/v1/subscriptions", Subscription(id, "risk", "O-1", "execution/#"));
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created), "the same definition without NUL is stored");
    }

    [Test]
    public async Task A_topic_created_through_rest_is_in_execution_topics_and_survives_a_restart()
    {
        await using var db = new TestPostgres();
        await using (var host = await ServiceHost.StartAsync(db.Settings()))
        {
            using var created = await host.Client.PostAsJsonAsync("/api/v1/topics", new { topic_name = "execution/fills/processed", data_type = "FILL_NOTIFICATION", partitions = 12 });
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
            using var duplicate = await host.Client.PostAsJsonAsync("/api/v1/topics", new { topic_name = "execution/fills/processed", data_type = "FILL_NOTIFICATION" });
            Assert.That(duplicate.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
            using var disabled = await host.Client.DeleteAsync(new Uri("/api/v1/topics/execution/fills/processed", UriKind.Relative));
            Assert.That(disabled.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        await using (var host = await ServiceHost.StartAsync(db.Settings()))
        {
            var topic = JsonNode.Parse(await host.Client.GetStringAsync(new Uri("/api/v1/topics/execution/fills/processed", UriKind.Relative)))!;
            Assert.That((int?)topic["partitions"], Is.EqualTo(12));
            Assert.That((string?)topic["retention_policy"], Is.EqualTo("7d"));
            Assert.That((int?)topic["latency_requirement_ms"], Is.EqualTo(100));
            Assert.That((bool?)topic["enabled"], Is.False);
        }
    }

    [Test]
    public async Task A_subscription_and_its_acknowledged_position_survive_a_restart_and_its_stream_goes_on_from_there()
    {
        await using var db = new TestPostgres();
        var id = $"sub-{Guid.NewGuid():N}";
        await using (var host = await ServiceHost.StartAsync(db.Settings()))
        {
            using var created = await host.Client.PostAsJsonAsync("/api/v1/subscriptions", new
            {
                subscription_id = id,
                topic_name = "execution/fills/#",
                subscriber_workflow = "risk",
                filter = new { order_ids = new[] { "O-persist" } },
            });
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created), await created.Content.ReadAsStringAsync());
            using var paused = await host.Client.PostAsync(new Uri($"/api/v1/subscriptions/{id}/pause", UriKind.Relative), null);
            using var resumed = await host.Client.PostAsync(new Uri($"/api/v1/subscriptions/{id}/resume", UriKind.Relative), null);
            var token = host.Core.TokenAtHead(7).Encode();
            using var acked = await host.Client.PostAsJsonAsync($"/api/v1/subscriptions/{id}/ack", new { resume_token = token });
            Assert.That(acked.StatusCode, Is.EqualTo(HttpStatusCode.OK), await acked.Content.ReadAsStringAsync());
        }

        await using (var host = await ServiceHost.StartAsync(db.Settings()))
        {
            var view = JsonNode.Parse(await host.Client.GetStringAsync(new Uri($"/api/v1/subscriptions/{id}", UriKind.Relative)))!;
            Assert.That((string?)view["status"], Is.EqualTo("active"));
            Assert.That((string?)view["topic_name"], Is.EqualTo("execution/fills/#"));
            Assert.That((long?)view["acknowledged_sequence"], Is.EqualTo(7), view.ToJsonString());

            // A stream without a token starts at this run's log and numbers on from the acknowledged sequence.
            using var channel = global::Grpc.Net.Client.GrpcChannel.ForAddress(host.GrpcAddress);
            using var call = new ExecutionDistribution.Grpc.V1.ExecutionStream.ExecutionStreamClient(channel)
                .StreamExecution(new ExecutionDistribution.Grpc.V1.StreamRequest { SubscriptionId = id });
            using var reader = new Tests.Streaming.Grpc.MessageReader(call);
            await reader.WaitForFirstAsync(host);
            host.Core.TryPublish(Events.Fill("O-persist", eventId: $"{id}-after"));
            var received = await reader.ReceiveDeliveriesAsync(1);
            Assert.That(received[0].EventId, Is.EqualTo($"{id}-after"));
            Assert.That(received[0].Sequence, Is.EqualTo(8));
        }

        await using var c = await db.OpenAsync();
        var row = await Dapper.SqlMapper.QuerySingleAsync<(string Workflow, string Guarantee)>(c,
            "SELECT subscriber_workflow, delivery_guarantee FROM execution_subscriptions WHERE subscription_id = @id", new { id });
        Assert.That(row, Is.EqualTo(("risk", "at_least_once")));
    }

    [Test]
    public async Task A_deleted_subscription_is_gone_after_a_restart()
    {
        await using var db = new TestPostgres();
        var id = $"sub-{Guid.NewGuid():N}";
        await using (var host = await ServiceHost.StartAsync(db.Settings()))
        {
            using var created = await host.Client.PostAsJsonAsync("/api/v1/subscriptions", new { subscription_id = id, topic_name = "#", subscriber_workflow = "risk" });
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
            using var deleted = await host.Client.DeleteAsync(new Uri($"/api/v1/subscriptions/{id}", UriKind.Relative));
            Assert.That(deleted.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        await using (var host = await ServiceHost.StartAsync(db.Settings()))
        {
            using var response = await host.Client.GetAsync(new Uri($"/api/v1/subscriptions/{id}", UriKind.Relative));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        }
    }
}

/// <summary>The spec's <c>subscription:{id}</c> key: written on every change with a 30-minute lifetime, removed on delete.</summary>
public sealed class SubscriptionCacheTests
{
    [Test]
    public async Task A_subscription_is_mirrored_to_redis_on_every_change_and_removed_when_deleted()
    {
        await using var db = new TestPostgres();
        await using var redis = new TestRedis();
        await using var host = await ServiceHost.StartAsync([.. db.Settings(), .. redis.Settings()]);
        var id = $"sub-{Guid.NewGuid():N}";
        var key = $"{redis.Prefix}subscription:{id}";
        using var created = await host.Client.PostAsJsonAsync("/api/v1/subscriptions", new { subscription_id = id, topic_name = "#", subscriber_workflow = "risk" });
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        await Eventually.WaitUntilAsync(() => redis.Db.KeyExists(key), "subscription:{id} is written");
        Assert.That(redis.Db.KeyTimeToLive(key)!.Value, Is.GreaterThan(TimeSpan.FromMinutes(29)).And.LessThanOrEqualTo(TimeSpan.FromMinutes(30)));
        var cached = JsonNode.Parse((string)redis.Db.StringGet(key)!)!.AsObject();
        Assert.That(cached.Select(p => p.Key), Is.EqualTo(new[]
        {
            "subscription_id", "topic_name", "subscriber_workflow", "delivery_guarantee", "status", "streaming", "acknowledged_sequence", "acknowledged_token", "created_at",
        }), "the key's fields, as the cache has always written them");
        Assert.That(((string?)cached["subscription_id"], (string?)cached["subscriber_workflow"], (string?)cached["status"]), Is.EqualTo((id, "risk", "active")));

        using var paused = await host.Client.PostAsync(new Uri($"/api/v1/subscriptions/{id}/pause", UriKind.Relative), null);
        await Eventually.WaitUntilAsync(() => (string?)JsonNode.Parse((string)redis.Db.StringGet(key)!)!["status"] == "paused", "the change is written through");

        using var deleted = await host.Client.DeleteAsync(new Uri($"/api/v1/subscriptions/{id}", UriKind.Relative));
        await Eventually.WaitUntilAsync(() => !redis.Db.KeyExists(key), "the key is removed with the subscription");
    }
}
