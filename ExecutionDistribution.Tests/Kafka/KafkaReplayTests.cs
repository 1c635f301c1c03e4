using System.Net.WebSockets;
using System.Text.Json.Nodes;
using ExecutionDistribution.Core;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Tests.Streaming.Grpc;
using ExecutionDistribution.Tests.Streaming.WebSockets;
using ExecutionDistribution.Tests.Support;
using Grpc.Core;
using Grpc.Net.Client;

namespace ExecutionDistribution.Tests.Kafka;

/// <summary>
/// Resuming from a token older than the retained log: the events after it are re-read from Kafka in log
/// order, then the log and the live path take over, with no gap and no repeat; what cannot be re-read
/// is refused with a reason. The log here holds 64 events, so a few hundred push a token out of it.
/// </summary>
[Category("Kafka")]
public sealed class KafkaReplayTests : EmbeddedKafkaTestBase
{
    private static readonly string[] SmallLog = ["--Distribution:RetainedLogCapacity=64"];

    [Test]
    public async Task A_grpc_stream_resuming_before_the_retained_log_gets_exactly_the_missed_events_from_kafka_then_live_ones()
    {
        var topics = new KafkaTestTopics(Cluster);
        await using var host = await ServiceHost.StartAsync([.. topics.HostSettings, .. SmallLog]);
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var client = new ExecutionStream.ExecutionStreamClient(channel);
        using var producer = KafkaClients.Producer(Cluster.BootstrapServers);
        var expected = new List<string>();
        var produced = 0;
        async Task ProduceAsync(int count)
        {
            for (var i = produced; i < produced + count; i++)
            {
                // Fills are what the stream takes; every fourth record is an order update it does not.
                var orderId = $"R-{i % 6}";
                var e = i % 4 == 3 ? Events.Order(orderId, eventId: $"{orderId}#{i}") : Events.Fill(orderId, eventId: $"{orderId}#{i}");
                if (i % 4 != 3)
                {
                    expected.Add(e.EventId);
                }

                KafkaClients.Produce(producer, topics.Input, orderId, KafkaClients.Json(e));
            }

            produced += count;
            producer.Flush(TimeSpan.FromSeconds(30));
            var target = produced;
            await WaitUntilAsync(() => host.Core.Head >= target, $"{target} events ingested");
        }

        var request = new StreamRequest { Filter = new Filter { DataTypes = { "FILL_NOTIFICATION" } } };
        var received = new List<ExecutionDistribution.Grpc.V1.Delivery>();
        string token;
        using (var call = client.StreamExecution(request))
        {
            using var reader = new MessageReader(call);
            await reader.WaitForFirstAsync(host);
            await ProduceAsync(40);
            received.AddRange(await reader.ReceiveDeliveriesAsync(30));
            token = reader.LastResumeToken;
        }

        // The stream is gone; 400 more events push its token out of the 64-event log.
        await ProduceAsync(400);
        Assert.That(ResumeToken.TryDecode(token, out var decoded, out _), Is.True);
        Assert.That(host.Core.Locate(decoded).Check, Is.EqualTo(ResumeCheck.Replay), "the token is older than the retained log");

        using (var call = client.StreamExecution(new StreamRequest { Filter = request.Filter, ResumeToken = token }))
        {
            using var reader = new MessageReader(call);
            received.AddRange(await reader.ReceiveDeliveriesAsync(expected.Count - received.Count));

            // Then live: the seam from Kafka to the log to the live path loses and repeats nothing.
            await ProduceAsync(40);
            received.AddRange(await reader.ReceiveDeliveriesAsync(expected.Count - received.Count));
        }

        Assert.That(received.Select(d => d.EventId), Is.EquivalentTo(expected), "every fill exactly once");
        Assert.That(received.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, received.Count).Select(i => (long)i)), "sequences go on without a gap");
        foreach (var order in received.GroupBy(d => d.OrderId))
        {
            var indexes = order.Select(d => int.Parse(d.EventId.Split('#')[1], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.That(indexes, Is.Ordered, $"order {order.Key} in the order it was produced");
        }
    }

    [Test]
    public async Task A_websocket_stream_resuming_before_the_retained_log_gets_exactly_the_missed_events_from_kafka()
    {
        var topics = new KafkaTestTopics(Cluster);
        await using var host = await ServiceHost.StartAsync([.. topics.HostSettings, .. SmallLog]);
        using var producer = KafkaClients.Producer(Cluster.BootstrapServers);
        var produced = 0;
        async Task ProduceAsync(int count)
        {
            for (var i = produced; i < produced + count; i++)
            {
                KafkaClients.Produce(producer, topics.Input, $"W-{i % 5}", KafkaClients.Json(Events.Fill($"W-{i % 5}", eventId: $"ws#{i}")));
                if (i % 25 == 0)
                {
                    // A dead-lettered record has no position: re-reading steps over it.
                    KafkaClients.Produce(producer, topics.Input, $"W-{i % 5}", System.Text.Encoding.UTF8.GetBytes("{\"event_id\": "));
                }
            }

            produced += count;
            producer.Flush(TimeSpan.FromSeconds(30));
            var target = produced;
            await WaitUntilAsync(() => host.Core.Head >= target, $"{target} events ingested");
        }

        var received = new List<(string EventId, long Sequence)>();
        string token;
        await using (var first = await StreamClient.ConnectAsync(host, "topics=%23"))
        {
            await first.ReceiveUntilAsync(f => (string?)f["type"] == "subscribed");
            await ProduceAsync(30);
            received.AddRange(await first.ReceiveEventsAsync(30));
            token = first.LastResumeToken;
        }

        await ProduceAsync(300);
        Assert.That(ResumeToken.TryDecode(token, out var decoded, out _) && host.Core.Locate(decoded).Check == ResumeCheck.Replay, Is.True, "the token is older than the retained log");
        await using (var resumed = await StreamClient.ConnectAsync(host, $"topics=%23&resume_token={token}"))
        {
            received.AddRange(await resumed.ReceiveEventsAsync(produced - received.Count));
        }

        Assert.That(received.Select(r => r.EventId), Is.EquivalentTo(Enumerable.Range(0, produced).Select(i => $"ws#{i}")), "every event exactly once");
        foreach (var order in received.Select(r => int.Parse(r.EventId[3..], System.Globalization.CultureInfo.InvariantCulture)).GroupBy(i => i % 5))
        {
            Assert.That(order.ToList(), Is.Ordered, $"order W-{order.Key} in the order it was produced");
        }

        Assert.That(received.Select(r => r.Sequence), Is.EqualTo(Enumerable.Range(1, produced).Select(i => (long)i)), "no gap in sequences");
    }

    [Test]
    public async Task A_websocket_client_is_answered_and_its_acknowledgement_held_while_its_subscription_waits_for_kafka_to_re_read_it()
    {
        var topics = new KafkaTestTopics(Cluster);
        await using var host = await ServiceHost.StartAsync([.. topics.HostSettings, .. SmallLog]);
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var (id, order) = await ManagedSubscriptions.CreateWatchingNewOrderAsync(channel, "replay-ack", "compliance_surveillance");
        using var producer = KafkaClients.Producer(Cluster.BootstrapServers);
        var produced = 0;
        async Task ProduceAsync(int count)
        {
            for (var i = produced; i < produced + count; i++)
            {
                KafkaClients.Produce(producer, topics.Input, order, KafkaClients.Json(Events.Fill(order, eventId: $"{order}#{i}")));
            }

            produced += count;
            producer.Flush(TimeSpan.FromSeconds(30));
            var target = produced;
            await WaitUntilAsync(() => host.Core.Head >= target, $"{target} events ingested");
        }

        await using (var first = await StreamClient.ConnectAsync(host, $"subscription_id={id}"))
        {
            await first.ReceiveUntilAsync(f => (string?)f["type"] == "subscribed");
            await ProduceAsync(20);
            await first.ReceiveEventsAsync(20);
            await first.SendAsync($$"""{"type":"ack","resume_token":"{{first.LastResumeToken}}"}""");
            await first.ReceiveUntilAsync(f => (string?)f["type"] == "acked");
        }

        await Eventually.WaitUntilAsync(() => !new ExecutionStream.ExecutionStreamClient(channel)
            .ManageSubscription(new SubscriptionRequest { Action = SubscriptionAction.Get, SubscriptionId = id }).Subscription.Streaming, "the first stream is gone");
        await ProduceAsync(200); // the acknowledgement is now older than the 64-event log

        // With the broker down the re-reading waits; the connection still answers its client. Records
        // the replay's reader fetched before the broker went down may still arrive first: they are
        // kept, and must be the first of the events after the acknowledgement.
        Cluster.SetDown();
        StreamClient resumed;
        var early = new List<(string EventId, long Sequence)>();
        try
        {
            resumed = await StreamClient.ConnectAsync(host, $"subscription_id={id}");
            async Task<JsonObject> ReplyAsync()
            {
                while (true)
                {
                    var frame = await resumed.ReceiveAsync();
                    if ((string?)frame["type"] != "events")
                    {
                        return frame;
                    }

                    early.AddRange(StreamClient.EventsOf(frame));
                }
            }

            var subscribed = await resumed.ReceiveUntilAsync(f => (string?)f["type"] == "subscribed");
            await resumed.SendAsync("""{"type":"ping","request_id":"during-replay"}""");
            var pong = await ReplyAsync();
            Assert.That((string?)pong["type"], Is.EqualTo("pong"), "answered while the re-read waits: the broker is down");
            Assert.That((string?)pong["request_id"], Is.EqualTo("during-replay"));

            await resumed.SendAsync($$"""{"type":"ack","request_id":"held","resume_token":"{{(string)subscribed["resume_token"]!}}"}""");
            var acked = await ReplyAsync();
            Assert.That((string?)acked["type"], Is.EqualTo("acked"), acked.ToJsonString());
            Assert.That((long)acked["acknowledged_sequence"]!, Is.EqualTo(20), "the acknowledgement of the earlier stream, held");
        }
        finally
        {
            Cluster.SetUp();
        }

        await using (resumed)
        {
            var replayed = early.Concat(await resumed.ReceiveEventsAsync(200 - early.Count)).ToList();
            Assert.That(replayed.Select(e => e.EventId), Is.EqualTo(Enumerable.Range(20, 200).Select(i => $"{order}#{i}")), "every event after the acknowledgement, once, in order");
            Assert.That(replayed.Select(e => e.Sequence), Is.EqualTo(Enumerable.Range(21, 200).Select(i => (long)i)));
        }
    }

    [Test]
    public async Task A_token_of_an_earlier_run_is_served_after_a_restart_by_re_reading_kafka_with_nothing_missed_or_repeated()
    {
        var topics = new KafkaTestTopics(Cluster);
        string[] settings = [.. topics.HostSettings, .. SmallLog];
        using var producer = KafkaClients.Producer(Cluster.BootstrapServers);
        var produced = 0;
        void Produce(int count)
        {
            for (var i = produced; i < produced + count; i++)
            {
                KafkaClients.Produce(producer, topics.Input, $"X-{i % 3}", KafkaClients.Json(Events.Fill($"X-{i % 3}", eventId: $"x#{i}")));
            }

            produced += count;
            producer.Flush(TimeSpan.FromSeconds(30));
        }

        var filter = new Filter { Topics = { "#" } };
        var received = new List<ExecutionDistribution.Grpc.V1.Delivery>();
        string token;
        Guid firstRun;
        await using (var first = await ServiceHost.StartAsync(settings))
        {
            firstRun = first.Core.LogEpoch;
            using var channel = GrpcChannel.ForAddress(first.GrpcAddress);
            using (var call = new ExecutionStream.ExecutionStreamClient(channel).StreamExecution(new StreamRequest { Filter = filter }))
            {
                using var reader = new MessageReader(call);
                await reader.WaitForFirstAsync(first);
                Produce(50);
                received.AddRange(await reader.ReceiveDeliveriesAsync(20));
                token = reader.LastResumeToken;
            }

            Produce(100);
            await WaitUntilAsync(() => first.Core.Head >= 150, "the first run ingests 150 events");
        }

        // Down for a while: more records arrive. Then the second run, same group: the token is the cluster's offsets, which it reads from Kafka.
        Produce(50);
        await using var second = await ServiceHost.StartAsync(settings);
        Assert.That(ResumeToken.TryDecode(token, out var decoded, out _) && decoded.Epoch == second.Core.TokenEpoch && second.Core.LogEpoch != firstRun, Is.True,
            "a token of the earlier run, of the same cluster");
        using var channel2 = GrpcChannel.ForAddress(second.GrpcAddress);
        using (var call = new ExecutionStream.ExecutionStreamClient(channel2).StreamExecution(new StreamRequest { Filter = filter, ResumeToken = token }))
        {
            using var reader = new MessageReader(call);
            received.AddRange(await reader.ReceiveDeliveriesAsync(produced - received.Count));
            Produce(10);
            received.AddRange(await reader.ReceiveDeliveriesAsync(produced - received.Count));
        }

        Assert.That(received.Select(d => d.EventId), Is.EquivalentTo(Enumerable.Range(0, produced).Select(i => $"x#{i}")), "every event exactly once across the restart");
        Assert.That(received.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, produced).Select(i => (long)i)), "sequences go on across the restart");
        foreach (var order in received.Select(d => int.Parse(d.EventId[2..], System.Globalization.CultureInfo.InvariantCulture)).GroupBy(i => i % 3))
        {
            Assert.That(order.ToList(), Is.Ordered, $"order X-{order.Key} in the order it was produced");
        }
    }

    [Test]
    public async Task A_token_of_another_cluster_is_refused_as_foreign()
    {
        var topics = new KafkaTestTopics(Cluster);
        await using var host = await ServiceHost.StartAsync(topics.HostSettings);
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var stranger = new ResumeToken(Guid.NewGuid(), [new SourceOffset(SourceFrontier.TopicHash(topics.Input), 0, 10)], 3).Encode();
        using var call = new ExecutionStream.ExecutionStreamClient(channel).StreamExecution(new StreamRequest { Filter = new Filter { Topics = { "#" } }, ResumeToken = stranger });
        var error = Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.FailedPrecondition));
        Assert.That(error.Status.Detail, Does.Contain("another cluster"));
    }

    [Test]
    public async Task A_resume_across_an_event_that_did_not_come_from_kafka_is_refused_with_the_reason()
    {
        var topics = new KafkaTestTopics(Cluster);
        await using var host = await ServiceHost.StartAsync([.. topics.HostSettings, .. SmallLog]);
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var client = new ExecutionStream.ExecutionStreamClient(channel);
        string token;
        using (var call = client.StreamExecution(new StreamRequest { Filter = new Filter { Topics = { "#" } } }))
        {
            using var reader = new MessageReader(call);
            await reader.WaitForFirstAsync(host);
            token = reader.LastResumeToken;
        }

        // One event over REST (not in Kafka), then enough through Kafka to push the token out of the log.
        Assert.That(host.Core.TryPublish(Events.Fill("REST-1", eventId: "rest-only")), Is.True);
        using (var producer = KafkaClients.Producer(Cluster.BootstrapServers))
        {
            for (var i = 0; i < 200; i++)
            {
                KafkaClients.Produce(producer, topics.Input, "K", KafkaClients.Json(Events.Fill("K", eventId: $"k#{i}")));
            }

            producer.Flush(TimeSpan.FromSeconds(30));
        }

        await WaitUntilAsync(() => host.Core.Head >= 201, "every event ingested");
        using var resumed = client.StreamExecution(new StreamRequest { Filter = new Filter { Topics = { "#" } }, ResumeToken = token });
        var error = Assert.ThrowsAsync<RpcException>(async () => await resumed.ResponseStream.MoveNext(CancellationToken.None));
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.OutOfRange));
        Assert.That(error.Status.Detail, Does.Contain("did not come from Kafka"));

        // WebSocket: the same refusal as a 1008 close.
        await using var socket = await StreamClient.ConnectAsync(host, $"topics=%23&resume_token={token}");
        var (status, reason) = await socket.ReceiveCloseAsync();
        Assert.That(status, Is.EqualTo(WebSocketCloseStatus.PolicyViolation));
        Assert.That(reason, Does.Contain("resume_token"));
    }

    [Test]
    public async Task A_token_older_than_kafka_s_retention_is_refused_saying_how_many_records_were_lost()
    {
        // One partition: the embedded broker keeps its newest ~5 MiB, so 12,000 fills push the first ones
        // out; the service's log keeps the newest 4,096 (its own subscribers keep up with that).
        var topics = new KafkaTestTopics(Cluster, partitions: 1);
        await using var host = await ServiceHost.StartAsync([.. topics.HostSettings, "--Distribution:RetainedLogCapacity=4096"]);
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var client = new ExecutionStream.ExecutionStreamClient(channel);
        using var producer = KafkaClients.Producer(Cluster.BootstrapServers);
        string token;
        using (var call = client.StreamExecution(new StreamRequest { Filter = new Filter { Topics = { "#" } } }))
        {
            using var reader = new MessageReader(call);
            await reader.WaitForFirstAsync(host);
            KafkaClients.Produce(producer, topics.Input, "R", KafkaClients.Json(Events.Fill("R", eventId: "r#0")));
            producer.Flush(TimeSpan.FromSeconds(30));
            await reader.ReceiveDeliveriesAsync(1);
            token = reader.LastResumeToken;
        }

        for (var i = 1; i <= 12_000; i++)
        {
            KafkaClients.Produce(producer, topics.Input, "R", KafkaClients.Json(Events.Fill("R", eventId: $"r#{i}")));
        }

        producer.Flush(TimeSpan.FromSeconds(60));

        // Kafka has let the first records go (the service may have missed some too, if it fell that far behind: not what this tests).
        using var probe = new Confluent.Kafka.ConsumerBuilder<byte[], byte[]>(new Confluent.Kafka.ConsumerConfig { BootstrapServers = Cluster.BootstrapServers, GroupId = "probe" }).Build();
        var partition = new Confluent.Kafka.TopicPartition(topics.Input, 0);
        await WaitUntilAsync(() => probe.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(5)).Low.Value > 1, "Kafka's retention removed the first records");
        await WaitUntilAsync(() => host.Core.Tail > 1, "the service's log let them go too");

        using var resumed = client.StreamExecution(new StreamRequest { Filter = new Filter { Topics = { "#" } }, ResumeToken = token });
        var error = Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await resumed.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        });

        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.OutOfRange), error.Status.Detail);
        Assert.That(error.Status.Detail, Does.Match("Kafka holds it only from offset [0-9]+ \\(retention\\): [0-9]+ records were lost"));
    }

    [Test]
    public async Task A_token_past_the_end_of_its_partition_as_after_the_topic_was_recreated_is_refused()
    {
        var topics = new KafkaTestTopics(Cluster, partitions: 1);
        await using var host = await ServiceHost.StartAsync([.. topics.HostSettings, .. SmallLog]);
        await WaitUntilAsync(() => host.Health().StartsWith("200", StringComparison.Ordinal), "the partition is assigned");
        var past = new ResumeToken(host.Core.TokenEpoch, [new SourceOffset(SourceFrontier.TopicHash(topics.Input), 0, 5_000)], 7).Encode();
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        using var call = new ExecutionStream.ExecutionStreamClient(channel).StreamExecution(new StreamRequest { Filter = new Filter { Topics = { "#" } }, ResumeToken = past });

        var error = Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNext(CancellationToken.None));

        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.OutOfRange));
        Assert.That(error.Status.Detail, Does.Contain("past its end").And.Contain("recreated"));
    }
}
