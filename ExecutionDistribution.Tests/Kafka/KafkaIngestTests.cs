using System.Diagnostics;
using System.Text;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Tests.Contract;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Kafka;

/// <summary>The Kafka path end to end: input topic, dispatch core, subscriber, output topics, dead letters.</summary>
[Category("Kafka")]
public sealed class KafkaIngestTests : EmbeddedKafkaTestBase
{
    [Test]
    public async Task Records_from_the_input_topic_reach_a_subscriber_and_the_output_topics_in_order_per_order()
    {
        var topics = new KafkaTestTopics(Cluster);
        await using var host = await ServiceHost.StartAsync(topics.HostSettings);
        var core = host.Core;
        await using var reader = new CollectingReader(core, core.Subscribe("kafka-e2e", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce));

        var published = new List<ExecutionEvent>();
        using (var producer = KafkaClients.Producer(Cluster.BootstrapServers))
        {
            for (var i = 0; i < 400; i++)
            {
                var orderId = $"O-{i % 8}";
                var e = i % 4 == 0 ? Events.Order(orderId, eventId: $"{orderId}#{i}") : Events.Fill(orderId, eventId: $"{orderId}#{i}");
                published.Add(e);
                KafkaClients.Produce(producer, topics.Input, orderId, KafkaClients.Json(e));
            }

            producer.Flush(TimeSpan.FromSeconds(30));
        }

        // At-least-once: a rebalance may redeliver (same event_id); first deliveries must be complete and in order.
        await WaitUntilAsync(() => reader.Events.Select(e => e.EventId).Distinct().Count() >= published.Count, "the subscriber receives every record");
        AssertOrderPerOrder(reader.Events.Select(e => e.EventId).Distinct(), "subscriber");
        Assert.That(reader.Events.Select(e => e.EventId).Distinct(), Is.EquivalentTo(published.Select(e => e.EventId)));
        Assert.That(reader.Events.All(e => e.Source is { } s && s.Topic == topics.Input), Is.True, "events carry their Kafka source position");

        var output = await KafkaClients.ReadAsync(Cluster.BootstrapServers,
            [topics.Output("portfolio_management"), topics.Output("order_management")], r => r.Select(KafkaClients.EventId).Distinct().Count() >= published.Count);
        Assert.That(output.Select(KafkaClients.EventId).Distinct(), Is.EquivalentTo(published.Select(e => e.EventId)));
        foreach (var byPartition in output.GroupBy(r => (r.Topic, r.Partition.Value)))
        {
            AssertOrderPerOrder(byPartition.Select(KafkaClients.EventId).Distinct(), $"output {byPartition.Key}");
        }

        var fill = output.First(r => r.Topic == topics.Output("portfolio_management"));
        var distributed = System.Text.Json.Nodes.JsonNode.Parse(fill.Message.Value)!.AsObject();
        Assert.That(distributed.ContainsKey("distribution"), Is.True, "the output is the execution_distributed shape");
        Assert.That(Encoding.UTF8.GetString(fill.Message.Key!), Does.StartWith("O-"), "keyed by order id");
    }

    [Test]
    public async Task A_topic_named_twice_in_configuration_is_consumed_once()
    {
        var topics = new KafkaTestTopics(Cluster);
        await using var host = await ServiceHost.StartAsync([.. topics.HostSettings, $"--Kafka:InputTopics:1={topics.Input}"]);
        await using var reader = new CollectingReader(host.Core, host.Core.Subscribe("twice", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce));
        using (var producer = KafkaClients.Producer(Cluster.BootstrapServers))
        {
            KafkaClients.Produce(producer, topics.Input, "O-1", KafkaClients.Json(Events.Fill("O-1", eventId: "once")));
            producer.Flush(TimeSpan.FromSeconds(30));
        }

        await WaitUntilAsync(() => reader.Count >= 1, "the record is delivered");
        Assert.That(host.Health(), Does.StartWith("200"), "the consumer runs");
    }

    [Test]
    public async Task Malformed_records_go_to_the_dead_letter_topic_with_reasons_and_the_good_ones_around_them_are_delivered()
    {
        var topics = new KafkaTestTopics(Cluster, partitions: 1);
        await using var host = await ServiceHost.StartAsync(topics.HostSettings);
        var core = host.Core;
        await using var reader = new CollectingReader(core, core.Subscribe("kafka-dlq", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce));

        var missingFields = System.Text.Json.Nodes.JsonNode.Parse(ExecutionEventParserTests.SpecExample)!.AsObject();
        missingFields.Remove("event_id");
        missingFields["data"]!.AsObject().Remove("price");
        var wrongTypes = System.Text.Json.Nodes.JsonNode.Parse(ExecutionEventParserTests.SpecExample)!.AsObject();
        wrongTypes["data"]!["quantity"] = "a hundred";
        (string Name, byte[]? Value, string Reason)[] bad =
        [
            ("bad-json", Encoding.UTF8.GetBytes("{\"event_id\": \"x\", "), "malformed JSON"),
            ("missing-fields", Encoding.UTF8.GetBytes(missingFields.ToJsonString()), "event_id: is required"),
            ("wrong-types", Encoding.UTF8.GetBytes(wrongTypes.ToJsonString()), "data.quantity: must be a number"),
            ("empty", [], "empty value"),
            ("null", null, "empty value"),
            ("one-megabyte", new byte[1_048_576], "exceeds Kafka:MaxRecordBytes"),
            ("invalid-utf8", InvalidUtf8Instrument(), "data.instrument_id: must be valid UTF-8"),
            ("lone-surrogate", Encoding.UTF8.GetBytes(ExecutionEventParserTests.SpecExample.Replace("order_20250621_001", "order_\\ud800", StringComparison.Ordinal)), "not valid"),
        ];

        using (var producer = KafkaClients.Producer(Cluster.BootstrapServers))
        {
            KafkaClients.Produce(producer, topics.Input, "good", KafkaClients.Json(Events.Fill("G", eventId: "good-0")));
            for (var i = 0; i < bad.Length; i++)
            {
                KafkaClients.Produce(producer, topics.Input, bad[i].Name, bad[i].Value);
                KafkaClients.Produce(producer, topics.Input, "good", KafkaClients.Json(Events.Fill("G", eventId: $"good-{i + 1}")));
            }

            producer.Flush(TimeSpan.FromSeconds(30));
        }

        await WaitUntilAsync(() => reader.Count >= bad.Length + 1, "every good record is delivered");
        Assert.That(reader.Events.Select(e => e.EventId), Is.EqualTo(Enumerable.Range(0, bad.Length + 1).Select(i => $"good-{i}")));

        // Dead letters are at-least-once too (a rebalance may re-read a record): count distinct keys.
        static string Key(Confluent.Kafka.ConsumeResult<byte[]?, byte[]?> r) => Encoding.UTF8.GetString(r.Message.Key!);
        var dead = await KafkaClients.ReadAsync(Cluster.BootstrapServers, [topics.DeadLetter], r => r.Select(Key).Distinct().Count() >= bad.Length);
        Assert.That(dead.Select(Key).Distinct(), Is.EquivalentTo(bad.Select(b => b.Name)));
        foreach (var (name, _, reason) in bad)
        {
            var record = dead.First(r => Key(r) == name);
            Assert.That(KafkaClients.Header(record, "dlq.reason"), Does.Contain(reason), name);
            Assert.That(KafkaClients.Header(record, "dlq.source.topic"), Is.EqualTo(topics.Input));
            Assert.That(long.Parse(KafkaClients.Header(record, "dlq.source.offset"), System.Globalization.CultureInfo.InvariantCulture), Is.GreaterThan(0));
        }
    }

    // The spec's example with two bytes of its instrument replaced by a lead byte and a byte that cannot follow it.
    private static byte[] InvalidUtf8Instrument()
    {
        var json = Encoding.UTF8.GetBytes(ExecutionEventParserTests.SpecExample);
        var at = json.AsSpan().IndexOf("\"AAPL\""u8);
        json[at + 3] = 0xC3;
        json[at + 4] = 0x28;
        return json;
    }

    [Test]
    public async Task A_broker_outage_loses_nothing()
    {
        var topics = new KafkaTestTopics(Cluster);
        await using var host = await ServiceHost.StartAsync(topics.HostSettings);
        var core = host.Core;
        await using var reader = new CollectingReader(core, core.Subscribe("kafka-outage", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce));
        var ids = new List<string>();
        using var producer = KafkaClients.Producer(Cluster.BootstrapServers);
        void ProduceBatch(int from, int count)
        {
            for (var i = from; i < from + count; i++)
            {
                var e = Events.Fill($"O-{i % 5}", eventId: $"outage-{i}");
                ids.Add(e.EventId);
                KafkaClients.Produce(producer, topics.Input, $"O-{i % 5}", KafkaClients.Json(e));
            }
        }

        ProduceBatch(0, 100);
        await WaitUntilAsync(() => reader.Count >= 100, "first batch delivered");

        Cluster.SetDown();
        try
        {
            ProduceBatch(100, 100); // buffered by the producer while the broker is down
            await WaitUntilAsync(() => host.Health().StartsWith("503 Unhealthy", StringComparison.Ordinal), "the service reports the outage", 30);
        }
        finally
        {
            Cluster.SetUp();
        }

        producer.Flush(TimeSpan.FromSeconds(60));
        ProduceBatch(200, 100);
        await WaitUntilAsync(() => host.Health().StartsWith("200", StringComparison.Ordinal), "the service is healthy again", 60);
        producer.Flush(TimeSpan.FromSeconds(60));

        await WaitUntilAsync(() => reader.Events.Select(e => e.EventId).Distinct().Count() >= 300, "every event arrives after the outage", 120);
        Assert.That(reader.Events.Select(e => e.EventId).Distinct(), Is.EquivalentTo(ids));
        var output = await KafkaClients.ReadAsync(Cluster.BootstrapServers, [topics.Output("portfolio_management")],
            r => r.Select(KafkaClients.EventId).Distinct().Count() >= ids.Count, TimeSpan.FromSeconds(120));
        Assert.That(output.Select(KafkaClients.EventId).Distinct(), Is.EquivalentTo(ids));
    }

    [Test]
    public async Task Killing_the_service_mid_stream_loses_no_event()
    {
        var topics = new KafkaTestTopics(Cluster);
        const int total = 3_000;
        var ids = Enumerable.Range(0, total).Select(i => $"crash-{i}").ToList();
        using (var producer = KafkaClients.Producer(Cluster.BootstrapServers))
        {
            for (var i = 0; i < total; i++)
            {
                KafkaClients.Produce(producer, topics.Input, $"O-{i % 20}", KafkaClients.Json(Events.Fill($"O-{i % 20}", eventId: ids[i])));
            }

            producer.Flush(TimeSpan.FromSeconds(30));
        }

        // First instance: a separate process, killed with SIGKILL once it has published some output.
        using (var first = ChildHost.Start(topics.HostSettings))
        {
            await KafkaClients.ReadAsync(Cluster.BootstrapServers, [topics.Output("portfolio_management")], r => r.Count >= 300, TimeSpan.FromSeconds(90));
            first.Kill();
        }

        // Second instance, same group: resumes from the last safe point.
        await using var second = await ServiceHost.StartAsync(topics.HostSettings);
        var output = await KafkaClients.ReadAsync(Cluster.BootstrapServers, [topics.Output("portfolio_management")],
            r => r.Select(KafkaClients.EventId).Distinct().Count() >= total, TimeSpan.FromSeconds(120));

        var received = output.Select(KafkaClients.EventId).ToList();
        Assert.That(received.Distinct(), Is.EquivalentTo(ids), "no event is missing");
        TestContext.Out.WriteLine($"duplicates after the crash: {received.Count - received.Distinct().Count()} of {received.Count}");
    }

    private static void AssertOrderPerOrder(IEnumerable<string> eventIds, string where)
    {
        var last = new Dictionary<string, int>();
        foreach (var id in eventIds)
        {
            var parts = id.Split('#');
            var seq = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
            Assert.That(seq, Is.GreaterThan(last.GetValueOrDefault(parts[0], -1)), $"{where}: order {parts[0]} out of order");
            last[parts[0]] = seq;
        }
    }
}
