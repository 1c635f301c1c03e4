using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Tests.Support;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;

namespace ExecutionDistribution.Tests.Kafka;

/// <summary>
/// An at_least_once subscriber that falls further behind than the retained log reaches, while it is
/// attached: what the log no longer holds is re-read from Kafka in place, in log order, with its
/// sequence numbers going on, then the log and the live path take over. Nothing is lost or repeated.
/// The log here holds 64 events, so a few hundred leave a stalled subscriber behind it.
/// </summary>
[Category("Kafka")]
public sealed class FallingBehindTests : EmbeddedKafkaTestBase
{
    private static readonly string[] SmallLog = ["--Distribution:RetainedLogCapacity=64"];

    // 16: the ring overflows first, and catching up starts behind the log.
    // 1,024: the ring holds every position, but the log has dropped the events of most of them.
    [TestCase(16)]
    [TestCase(1_024)]
    public async Task A_stalled_at_least_once_subscriber_behind_the_retained_log_receives_every_missed_event_once_in_order(int bufferCapacity)
    {
        var topics = new KafkaTestTopics(Cluster);
        await using var host = await ServiceHost.StartAsync([.. topics.HostSettings, .. SmallLog]);
        using var producer = KafkaClients.Producer(Cluster.BootstrapServers);
        var filter = new SubscriptionFilter { DataTypes = new HashSet<ExecutionDataType> { ExecutionDataType.FillNotification } };
        var subscriber = host.Core.Subscribe($"behind-{bufferCapacity}", filter, DeliveryGuarantee.AtLeastOnce, bufferCapacity: bufferCapacity);

        // Fills are what the subscriber takes; every fourth record is an order update it does not.
        var feed = new Feed(host, topics, producer, "B", orders: 7, orderUpdates: true);
        var expected = feed.Fills;

        // Nobody reads while 400 events pass: the 64-event log keeps only the last of them.
        await feed.ProduceAsync(400);
        Assert.That(host.Core.Tail, Is.GreaterThan(0), "the log has dropped the first events");

        var received = new List<ExecutionDistribution.Core.Delivery>();
        var lost = await ReadUntilAsync(subscriber, received, expected.Count);
        Assert.That(subscriber.Rereads, Is.GreaterThanOrEqualTo(1), "it re-read from Kafka");

        // Then live again: the seam from Kafka to the log to the live path loses and repeats nothing.
        await feed.ProduceAsync(40);
        lost += await ReadUntilAsync(subscriber, received, expected.Count);

        Assert.That(lost, Is.Zero, "no position announced as lost");
        AssertEachOnceInOrder(received.Select(d => (d.Event.EventId, d.Sequence)), expected, "the subscriber");
        Assert.That(received.Where(d => d.Event.Position >= 0).Select(d => d.Event.Position), Is.Ordered.Ascending.And.Unique, "what the log delivered, in log order");
        Assert.That(subscriber.LostPositions, Is.Zero);

        // Reading the last events from the log near its head asks the dispatcher to go live, which it does between batches.
        await WaitUntilAsync(() => !subscriber.IsCatchingUp, "back on the live path");
    }

    [Test]
    public async Task An_at_least_once_subscriber_that_reads_after_its_events_passed_the_age_limit_gets_them_from_kafka()
    {
        var topics = new KafkaTestTopics(Cluster);
        await using var host = await ServiceHost.StartAsync([.. topics.HostSettings, "--Distribution:RetainedLogMaxAge=00:00:01"]);
        using var producer = KafkaClients.Producer(Cluster.BootstrapServers);
        var subscriber = host.Core.Subscribe("aged", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce);
        var feed = new Feed(host, topics, producer, "A", orders: 3, orderUpdates: false);
        var expected = feed.All;
        await feed.ProduceAsync(50);

        // Unread, they pass the one-second age limit and the log lets them go.
        await WaitUntilAsync(() => host.Core.Tail >= expected.Count, "all expired from the log");

        var received = new List<ExecutionDistribution.Core.Delivery>();
        var lost = await ReadUntilAsync(subscriber, received, expected.Count);

        Assert.That(lost, Is.Zero, "nothing announced as lost");
        Assert.That(received.Select(d => d.Event.EventId), Is.EquivalentTo(expected), "every event once");
        Assert.That(received.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, expected.Count).Select(i => (long)i)));
        Assert.That(subscriber.Rereads, Is.GreaterThanOrEqualTo(1));
    }

    [Test]
    public async Task A_grpc_client_that_stops_reading_for_longer_than_the_log_covers_then_reads_gets_every_event_once_with_no_lost_positions()
    {
        var topics = new KafkaTestTopics(Cluster);
        await using var host = await ServiceHost.StartAsync([.. topics.HostSettings, .. SmallLog, "--Grpc:BufferCapacity=16"]);
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var client = new ExecutionStream.ExecutionStreamClient(channel);
        using var producer = KafkaClients.Producer(Cluster.BootstrapServers);
        using var call = client.StreamExecution(new StreamRequest { Filter = new Filter { Topics = { "#" } }, DeliveryGuarantee = "at_least_once" });
        var headers = await call.ResponseHeadersAsync.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(headers.GetValue("x-resume-token"), Is.Not.Empty, "attached");

        // The client reads nothing while 600 events pass a 64-event log: HTTP/2 flow control stops the
        // stream's sends, its 16-slot buffer overflows, and it falls behind the log.
        var feed = new Feed(host, topics, producer, "G", orders: 5, orderUpdates: false);
        var expected = feed.All;
        await feed.ProduceAsync(600);
        await WaitUntilAsync(() => host.Core.GetStats().Rereads > 0, "the stream fell behind the log and re-reads from Kafka");

        var received = new List<ExecutionDistribution.Grpc.V1.Delivery>();
        long lost = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (received.Count < expected.Count && await call.ResponseStream.MoveNext(timeout.Token))
        {
            if (call.ResponseStream.Current.Events is { } events)
            {
                received.AddRange(events.Deliveries);
                lost += events.LostPositions;
            }
        }

        Assert.That(lost, Is.Zero, "no lost_positions announced");
        AssertEachOnceInOrder(received.Select(d => (d.EventId, d.Sequence)), expected, "the stream");
    }

    [Test]
    public async Task Two_subscriptions_of_a_multiplexed_call_that_stops_reading_each_get_every_event_once_in_order_after_falling_behind_the_log()
    {
        var topics = new KafkaTestTopics(Cluster);
        await using var host = await ServiceHost.StartAsync([.. topics.HostSettings, .. SmallLog, "--Grpc:BufferCapacity=16"]);
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var client = new ExecutionStream.ExecutionStreamClient(channel);
        using var producer = KafkaClients.Producer(Cluster.BootstrapServers);
        await using var call = new ExecutionDistribution.Tests.Streaming.Grpc.MultiplexClient(client.StreamMultiplexed());
        var fills = (await call.SubscribeAsync("fills", new StreamRequest { Filter = new Filter { DataTypes = { "FILL_NOTIFICATION" } } })).SubscriptionId;
        var all = (await call.SubscribeAsync("all", new StreamRequest { Filter = new Filter { Topics = { "#" } } })).SubscriptionId;

        // The client reads nothing while 600 events pass the 64-event log; every fourth is an order update.
        var feed = new Feed(host, topics, producer, "M", orders: 5, orderUpdates: true);
        var (expectedAll, expectedFills) = (feed.All, feed.Fills);
        await feed.ProduceAsync(600);
        await WaitUntilAsync(() => host.Core.GetStats().Rereads > 0, "the call's subscriptions fell behind the log and re-read from Kafka");

        // Lost positions would leave a subscription short, and the read would time out.
        var received = new List<TaggedEvent>();
        while (ExecutionDistribution.Tests.Streaming.Grpc.MultiplexedCallTests.Stream(received, all).Count < expectedAll.Count
            || ExecutionDistribution.Tests.Streaming.Grpc.MultiplexedCallTests.Stream(received, fills).Count < expectedFills.Count)
        {
            received.AddRange(await call.ReceiveEventsAsync(1));
        }

        foreach (var (id, expected) in new[] { (all, expectedAll), (fills, expectedFills) })
        {
            AssertEachOnceInOrder(ExecutionDistribution.Tests.Streaming.Grpc.MultiplexedCallTests.Stream(received, id), expected, id);
        }
    }

    [Test]
    public async Task When_the_kafka_output_falls_behind_the_log_every_input_record_still_becomes_safe_to_commit()
    {
        var topics = new KafkaTestTopics(Cluster);

        // A 16-slot buffer for the service's own subscribers: a burst overflows the output's at once.
        await using var host = await ServiceHost.StartAsync([.. topics.HostSettings, .. SmallLog, "--Distribution:SubscriberBufferCapacity=16"]);
        using var producer = KafkaClients.Producer(Cluster.BootstrapServers);
        var output = host.App.Services.GetRequiredService<ExecutionDistribution.Kafka.KafkaOutputService>();
        var ingest = host.App.Services.GetRequiredService<ExecutionDistribution.Kafka.KafkaIngestService>();
        var feed = new Feed(host, topics, producer, "K", orders: 7, orderUpdates: false);
        for (var round = 0; round < 5 && host.Core.GetStats().Rereads == 0; round++)
        {
            await feed.ProduceAsync(400);
        }

        var produced = feed.All.Count;

        Assert.That(host.Core.GetStats().Rereads, Is.GreaterThan(0), "the service's own subscribers fell behind the log and re-read");

        // Every event is published (each fill goes to its one target workflow's topic), and every input
        // record becomes safe: its output is acknowledged, whether the output read it from the log or re-read it.
        await WaitUntilAsync(() => output.Published >= produced, $"{produced} outputs acknowledged");
        await WaitUntilAsync(() => ingest.InFlight == 0, "every consumed record safe to commit");
    }

    // Every expected event once, sequences 1..N without a gap, and each order's events (ids
    // "{order}#{index}") in the order they were produced.
    private static void AssertEachOnceInOrder(IEnumerable<(string EventId, long Sequence)> received, IEnumerable<string> expected, string who)
    {
        var stream = received.ToList();
        Assert.That(stream.Select(d => d.EventId), Is.EquivalentTo(expected), $"{who}: every event exactly once");
        Assert.That(stream.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, stream.Count).Select(i => (long)i)), $"{who}: sequences go on without a gap");
        foreach (var order in stream.GroupBy(d => d.EventId.Split('#')[0]))
        {
            var indexes = order.Select(d => int.Parse(d.EventId.Split('#')[1], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.That(indexes, Is.Ordered, $"{who}: order {order.Key} in the order it was produced");
        }
    }

    // Events through Kafka, ids "{prefix}-{order}#{index}" over `orders` orders: fills, and with
    // `orderUpdates` every fourth an order update. Each call waits until the core has ingested them.
    private sealed class Feed(ServiceHost host, KafkaTestTopics topics, Confluent.Kafka.IProducer<byte[]?, byte[]?> producer, string prefix, int orders, bool orderUpdates)
    {
        public List<string> All { get; } = [];

        public List<string> Fills { get; } = [];

        public async Task ProduceAsync(int count)
        {
            var head = host.Core.Head;
            for (var n = 0; n < count; n++)
            {
                var i = All.Count;
                var orderId = $"{prefix}-{i % orders}";
                var isUpdate = orderUpdates && i % 4 == 3;
                var e = isUpdate ? Events.Order(orderId, eventId: $"{orderId}#{i}") : Events.Fill(orderId, eventId: $"{orderId}#{i}");
                All.Add(e.EventId);
                if (!isUpdate)
                {
                    Fills.Add(e.EventId);
                }

                KafkaClients.Produce(producer, topics.Input, orderId, KafkaClients.Json(e));
            }

            producer.Flush(TimeSpan.FromSeconds(30));
            await WaitUntilAsync(() => host.Core.Head >= head + count, $"{count} more events ingested");
        }
    }

    // Reads until `received` holds `count` deliveries (60 s at most); returns the positions announced as lost meanwhile.
    private static async Task<long> ReadUntilAsync(Subscriber subscriber, List<ExecutionDistribution.Core.Delivery> received, int count)
    {
        long lost = 0;
        var batch = new DeliveryBatch(32);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (received.Count < count)
        {
            Assert.That(await subscriber.WaitToReadAsync().AsTask().WaitAsync(deadline.Token), Is.True, "still attached");
            while (subscriber.TryReadBatch(batch))
            {
                received.AddRange(batch.Deliveries.ToArray());
                lost += batch.LostPositions;
            }
        }

        return lost;
    }
}
