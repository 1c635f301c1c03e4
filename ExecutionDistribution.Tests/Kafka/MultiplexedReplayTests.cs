using Confluent.Kafka;
using ExecutionDistribution.Core;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Kafka;
using ExecutionDistribution.Tests.Streaming.Grpc;
using ExecutionDistribution.Tests.Streaming.WebSockets;
using ExecutionDistribution.Tests.Support;
using Grpc.Net.Client;

namespace ExecutionDistribution.Tests.Kafka;

/// <summary>
/// One subscription of a connection that carries several (a multiplexed gRPC call or WebSocket)
/// resuming from a token older than the retained log: its events are re-read from Kafka in the
/// background, tagged with it alone, while the connection's other subscriptions and the client's
/// commands go on; then the log and the live path take over with no gap and no repeat. The log here
/// holds 64 events, so a few hundred push a token out of it.
/// </summary>
[Category("Kafka")]
public sealed class MultiplexedReplayTests : EmbeddedKafkaTestBase
{
    private static readonly string[] SmallLog = ["--Distribution:RetainedLogCapacity=64"];

    // Fills of orders R-0..R-5 through Kafka, ids "{run}#{i}"; waits until the core has them all.
    private sealed class FillFeed(ServiceHost host, KafkaTestTopics topics, IProducer<byte[]?, byte[]?> producer, string run)
    {
        public List<string> Produced { get; } = [];

        public async Task ProduceAsync(int count)
        {
            var head = host.Core.Head;
            for (var i = 0; i < count; i++)
            {
                var orderId = $"{run}-R{Produced.Count % 6}";
                var e = Events.Fill(orderId, eventId: $"{run}#{Produced.Count}");
                Produced.Add(e.EventId);
                KafkaClients.Produce(producer, topics.Input, orderId, KafkaClients.Json(e));
            }

            producer.Flush(TimeSpan.FromSeconds(30));
            await WaitUntilAsync(() => host.Core.Head >= head + count, $"{count} more events ingested");
        }
    }

    // Every fill after the first `seen`, once, in order per order (log order across the topic's
    // partitions is not the order produced), numbered on from the token.
    private static void AssertExactlyTheMissed(IReadOnlyCollection<(string EventId, long Sequence)> stream, FillFeed feed, int seen)
    {
        Assert.That(stream.Select(d => d.EventId), Is.EquivalentTo(feed.Produced.Skip(seen)), "every fill after the token, once");
        Assert.That(stream.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(seen + 1, stream.Count).Select(i => (long)i)), "sequences go on from the token");
        foreach (var order in stream.Select(d => feed.Produced.IndexOf(d.EventId)).GroupBy(i => i % 6))
        {
            Assert.That(order.ToList(), Is.Ordered, $"order R{order.Key} in the order it was produced");
        }
    }

    // A host reading its own topics with a 64-event log, a gRPC client, and a feed of fills.
    private sealed class Setup : IAsyncDisposable
    {
        private readonly GrpcChannel _channel;
        private readonly IProducer<byte[]?, byte[]?> _producer;

        private Setup(ServiceHost host, KafkaTestTopics topics, IProducer<byte[]?, byte[]?> producer)
        {
            Host = host;
            _producer = producer;
            _channel = GrpcChannel.ForAddress(host.GrpcAddress);
            Client = new ExecutionStream.ExecutionStreamClient(_channel);
            Run = Guid.NewGuid().ToString("N")[..8];
            Feed = new FillFeed(host, topics, producer, Run);
        }

        public ServiceHost Host { get; }

        public ExecutionStream.ExecutionStreamClient Client { get; }

        public FillFeed Feed { get; }

        public string Run { get; }

        public static async Task<Setup> StartAsync(EmbeddedKafkaCluster cluster)
        {
            var topics = new KafkaTestTopics(cluster);
            var host = await ServiceHost.StartAsync([.. topics.HostSettings, .. SmallLog, "--Grpc:HeartbeatInterval=00:00:00.300"]);
            return new Setup(host, topics, KafkaClients.Producer(cluster.BootstrapServers));
        }

        public async ValueTask DisposeAsync()
        {
            _channel.Dispose();
            _producer.Dispose();
            await Host.DisposeAsync();
        }
    }

    private static StreamRequest Fills() => new() { Filter = new Filter { DataTypes = { "FILL_NOTIFICATION" } } };

    private static StreamRequest OrderUpdates() => new() { Filter = new Filter { DataTypes = { "ORDER_UPDATE" } } };

    // A token of a stream that received the first `seen` fills, then pushed out of the log by 300 more.
    private static async Task<string> ExpiredTokenAsync(ServiceHost host, ExecutionStream.ExecutionStreamClient client, FillFeed feed, int seen)
    {
        string token;
        await using (var first = new MultiplexClient(client.StreamMultiplexed()))
        {
            var id = (await first.SubscribeAsync("first", Fills())).SubscriptionId;
            await feed.ProduceAsync(40);
            await first.ReceiveEventsAsync(40);
            token = first.LastResumeTokens[id];
        }

        await feed.ProduceAsync(300);

        // The service's own at_least_once subscribers fell behind this small log too and re-read from
        // Kafka: once they are live again their re-reads are closed, and with them the readers' cache,
        // so the test's re-reading starts cold (it waits for Kafka).
        await WaitUntilAsync(() => host.Core.GetStats().CatchingUp == 0, "the service's own subscribers caught up");
        Assert.That(ResumeToken.TryDecode(token, out var decoded, out _) && host.Core.Locate(decoded).Check == ResumeCheck.Replay, Is.True, "the token is older than the retained log");
        Assert.That(decoded.Sequence, Is.EqualTo(seen));
        return token;
    }

    // 100 fills over REST (not in Kafka), meanwhile: the first of them leave the 64-event log before a re-reading gets there.
    private static async Task PublishOverRestPastTheLogAsync(ServiceHost host, string run)
    {
        for (var i = 0; i < 100; i++)
        {
            Assert.That(host.Core.TryPublish(Events.Fill($"{run}-REST", eventId: $"{run}-rest{i}")), Is.True);
        }

        await WaitUntilAsync(() => host.Core.Tail > host.Core.Head - 100, "the first REST fills left the retained log");
    }

    [Test]
    public async Task A_subscription_resumed_before_the_retained_log_on_a_multiplexed_call_gets_its_missed_events_from_kafka_while_the_others_stream_on()
    {
        await using var setup = await Setup.StartAsync(Cluster);
        var (host, client, feed, run) = (setup.Host, setup.Client, setup.Feed, setup.Run);
        var token = await ExpiredTokenAsync(host, client, feed, seen: 40);

        await using var call = new MultiplexClient(client.StreamMultiplexed());
        var live = (await call.SubscribeAsync("live", OrderUpdates())).SubscriptionId;

        // The broker is down: the re-reading waits for it (unless the records are still cached from an
        // earlier re-read: the service's own at_least_once subscribers fell behind this 64-event log too),
        // and the call's other subscription streams on meanwhile.
        Cluster.SetDown();
        var received = new List<TaggedEvent>();
        string old;
        try
        {
            var request = Fills();
            request.ResumeToken = token;
            var opened = await call.SubscribeAsync("old", request);
            old = opened.SubscriptionId;
            Assert.That(opened.ResumeToken, Is.EqualTo(token), "subscribed at the client's token");
            for (var i = 0; i < 5; i++)
            {
                Assert.That(host.Core.TryPublish(Events.Order($"{run}-L", eventId: $"{run}-live{i}")), Is.True);
            }

            while (MultiplexedCallTests.Stream(received, live).Count < 5)
            {
                received.AddRange(await call.ReceiveEventsAsync(1));
            }
        }
        finally
        {
            Cluster.SetUp();
        }

        var missed = feed.Produced.Count - 40;
        while (MultiplexedCallTests.Stream(received, old).Count < missed)
        {
            received.AddRange(await call.ReceiveEventsAsync(1));
        }

        await feed.ProduceAsync(20);
        while (MultiplexedCallTests.Stream(received, old).Count < missed + 20)
        {
            received.AddRange(await call.ReceiveEventsAsync(1));
        }

        Assert.That(MultiplexedCallTests.Stream(received, live), Is.EqualTo(Enumerable.Range(0, 5).Select(i => ($"{run}-live{i}", (long)i + 1))), "the other subscription's events, while the broker was down");
        AssertExactlyTheMissed(MultiplexedCallTests.Stream(received, old), feed, seen: 40);
        Assert.That(received.Where(e => e.EventId.StartsWith($"{run}#", StringComparison.Ordinal)).SelectMany(e => e.Deliveries).Select(d => d.SubscriptionId), Has.All.EqualTo(old), "fills are the re-read subscription's alone");
    }

    [Test]
    public async Task A_subscription_unsubscribed_while_it_waits_for_kafka_ends_at_the_token_it_was_given_and_the_call_goes_on()
    {
        await using var setup = await Setup.StartAsync(Cluster);
        var (host, client, feed, run) = (setup.Host, setup.Client, setup.Feed, setup.Run);
        var token = await ExpiredTokenAsync(host, client, feed, seen: 40);

        await using var call = new MultiplexClient(client.StreamMultiplexed());
        SubscriptionEnded ended;
        MultiplexedHeartbeat heartbeat;
        string heartbeatToken;
        Cluster.SetDown();
        try
        {
            var request = Fills();
            request.ResumeToken = token;
            var old = (await call.SubscribeAsync("old", request)).SubscriptionId;
            heartbeat = (await call.ReceiveAsync(m => m.BodyCase == MultiplexedMessage.BodyOneofCase.Heartbeat)).Heartbeat;
            Assert.That(heartbeat.ResumeTokens.ContainsKey(old), Is.True, "a heartbeat carries the token of a subscription still re-reading");
            heartbeatToken = heartbeat.ResumeTokens[old];
            await call.SendAsync(new StreamCommand { RequestId = "stop-it", Unsubscribe = old });
            ended = (await call.ReceiveAsync(m => m.BodyCase == MultiplexedMessage.BodyOneofCase.Unsubscribed)).Unsubscribed;
        }
        finally
        {
            Cluster.SetUp();
        }

        // The call goes on, and the same token still resumes everything on it.
        var again = Fills();
        again.ResumeToken = ended.ResumeToken;
        var resumed = (await call.SubscribeAsync("again", again)).SubscriptionId;
        var replayed = await call.ReceiveEventsAsync(feed.Produced.Count - 40);

        Assert.That((ended.RequestId, ended.Reason), Is.EqualTo(("stop-it", "unsubscribed by the client")));
        Assert.That(ended.ResumeToken, Is.EqualTo(token), "nothing was sent: it ends where it began");
        Assert.That(heartbeatToken, Is.EqualTo(token), "the heartbeat said so too");
        AssertExactlyTheMissed(MultiplexedCallTests.Stream(replayed, resumed), feed, seen: 40);
    }

    [Test]
    public async Task A_re_reading_that_reaches_an_event_not_from_kafka_sends_everything_before_it_then_ends_with_out_of_range_and_the_call_goes_on()
    {
        await using var setup = await Setup.StartAsync(Cluster);
        var (host, client, feed, run) = (setup.Host, setup.Client, setup.Feed, setup.Run);
        var token = await ExpiredTokenAsync(host, client, feed, seen: 40);

        await using var call = new MultiplexClient(client.StreamMultiplexed());
        var live = (await call.SubscribeAsync("live", OrderUpdates())).SubscriptionId;
        Cluster.SetDown();
        string old;
        try
        {
            // Admitted while every event after the token can be re-read; the re-reading waits for the broker.
            var request = Fills();
            request.ResumeToken = token;
            old = (await call.SubscribeAsync("old", request)).SubscriptionId;

            await PublishOverRestPastTheLogAsync(host, run);
        }
        finally
        {
            Cluster.SetUp();
        }

        var replayed = await call.ReceiveEventsAsync(feed.Produced.Count - 40);
        var error = (await call.ReceiveAsync(m => m.BodyCase == MultiplexedMessage.BodyOneofCase.Error)).Error;
        Assert.That(host.Core.TryPublish(Events.Order($"{run}-L", eventId: $"{run}-after")), Is.True);
        var after = await call.ReceiveAsync(m => m.Events?.Events.Any(e => e.EventId == $"{run}-after") == true);

        AssertExactlyTheMissed(MultiplexedCallTests.Stream(replayed, old), feed, seen: 40);
        Assert.That((error.RequestId, error.Code, error.SubscriptionId), Is.EqualTo(("old", "OUT_OF_RANGE", old)), "answers the subscribe and names the subscription it ended");
        Assert.That(error.Message, Does.StartWith("resume_token").And.Contain("did not come from Kafka"));
        Assert.That(after.Events.Events.Single(e => e.EventId == $"{run}-after").Deliveries.Select(d => d.SubscriptionId), Is.EqualTo(new[] { live }), "the call goes on");
        Assert.That(after.Events.Events.SelectMany(e => e.Deliveries).Select(d => d.SubscriptionId), Has.None.EqualTo(old), "the ended subscription takes nothing more");
    }

    [Test]
    public async Task A_multiplexed_resume_across_an_event_that_did_not_come_from_kafka_is_refused_with_out_of_range_and_the_call_goes_on()
    {
        await using var setup = await Setup.StartAsync(Cluster);
        var (host, client, feed, run) = (setup.Host, setup.Client, setup.Feed, setup.Run);
        await using var call = new MultiplexClient(client.StreamMultiplexed());
        var live = (await call.SubscribeAsync("live", OrderUpdates())).SubscriptionId;
        var heads = new StreamRequest { Filter = new Filter { Topics = { "#" } } };
        string token;
        await using (var first = new MultiplexClient(client.StreamMultiplexed()))
        {
            var id = (await first.SubscribeAsync("first", heads)).SubscriptionId;
            await feed.ProduceAsync(10);
            await first.ReceiveEventsAsync(10);
            token = first.LastResumeTokens[id];
        }

        // One fill over REST (not in Kafka), then enough through Kafka to push the token out of the log.
        Assert.That(host.Core.TryPublish(Events.Fill($"{run}-REST", eventId: $"{run}-rest-only")), Is.True);
        await feed.ProduceAsync(200);

        heads.ResumeToken = token;
        var refused = await call.RefusedAsync(new StreamCommand { RequestId = "too-old", Subscribe = heads });
        Assert.That(host.Core.TryPublish(Events.Order($"{run}-L", eventId: $"{run}-after")), Is.True);
        var after = await call.ReceiveEventsAsync(1);

        Assert.That(refused.Code, Is.EqualTo("OUT_OF_RANGE"));
        Assert.That(refused.Message, Does.StartWith("resume_token").And.Contain("did not come from Kafka"));
        Assert.That(after.Select(e => e.EventId), Is.EqualTo(new[] { $"{run}-after" }));
        Assert.That(after[0].Deliveries.Select(d => d.SubscriptionId), Is.EqualTo(new[] { live }));
    }

    [Test]
    public async Task A_websocket_subscription_resumed_before_the_retained_log_beside_another_gets_its_missed_events_from_kafka_then_live()
    {
        await using var setup = await Setup.StartAsync(Cluster);
        var (host, client, feed, run) = (setup.Host, setup.Client, setup.Feed, setup.Run);
        var token = await ExpiredTokenAsync(host, client, feed, seen: 40);

        await using var socket = await StreamClient.ConnectAsync(host, "multiplex=true");
        var live = await MultiplexedStreamTests.SubscribeAsync(socket, "live", """{"data_types":["ORDER_UPDATE"]}""");
        var old = await MultiplexedStreamTests.SubscribeAsync(socket, "old", $$"""{"data_types":["FILL_NOTIFICATION"],"resume_token":"{{token}}"}""");
        Assert.That(host.Core.TryPublish(Events.Order($"{run}-L", eventId: $"{run}-live")), Is.True);
        var missed = feed.Produced.Count - 40;
        var received = await MultiplexedStreamTests.ReceiveMultiplexedAsync(socket, missed + 1);
        await feed.ProduceAsync(10);
        received.AddRange(await MultiplexedStreamTests.ReceiveMultiplexedAsync(socket, 10));

        var oldStream = MultiplexedStreamTests.Stream(received, old).ToList();
        AssertExactlyTheMissed(oldStream, feed, seen: 40);
        Assert.That(MultiplexedStreamTests.Stream(received, live).Select(d => (d.EventId, d.Sequence)), Is.EqualTo(new[] { ($"{run}-live", 1L) }));
        Assert.That(socket.LastResumeTokens[old], Is.Not.EqualTo(token), "frames carry the re-read subscription's token as it moves");
    }

    [Test]
    public async Task A_websocket_first_subscription_from_the_query_whose_re_reading_fails_ends_with_an_error_naming_it_and_the_connection_goes_on()
    {
        await using var setup = await Setup.StartAsync(Cluster);
        var (host, client, feed, run) = (setup.Host, setup.Client, setup.Feed, setup.Run);
        var token = await ExpiredTokenAsync(host, client, feed, seen: 40);
        Cluster.SetDown();
        StreamClient socket;
        string old;
        try
        {
            // The first subscription comes in the query string, so nothing it is sent can carry a request_id.
            socket = await StreamClient.ConnectAsync(host, $"multiplex=true&data_types=FILL_NOTIFICATION&resume_token={Uri.EscapeDataString(token)}");
            old = (string)(await socket.ReceiveUntilAsync(f => (string?)f["type"] == "subscribed"))["subscription_id"]!;

            await PublishOverRestPastTheLogAsync(host, run);
        }
        finally
        {
            Cluster.SetUp();
        }

        await using (socket)
        {
            var error = await socket.ReceiveUntilAsync(f => (string?)f["type"] == "error");
            var live = await MultiplexedStreamTests.SubscribeAsync(socket, "live", """{"data_types":["ORDER_UPDATE"]}""");
            Assert.That(host.Core.TryPublish(Events.Order($"{run}-L", eventId: $"{run}-after")), Is.True);
            var after = await socket.ReceiveUntilAsync(f => (string?)f["type"] == "events");

            Assert.That((string?)error["subscription_id"], Is.EqualTo(old), error.ToJsonString());
            Assert.That(error.ContainsKey("request_id"), Is.False, "it came in the query string");
            Assert.That((string?)error["message"], Does.StartWith("resume_token").And.Contain("did not come from Kafka"));
            Assert.That((string?)after["events"]![0]!["event"]!["event_id"], Is.EqualTo($"{run}-after"), "the connection goes on");
            Assert.That((string?)after["events"]![0]!["deliveries"]![0]!["subscription_id"], Is.EqualTo(live));
        }
    }
}
