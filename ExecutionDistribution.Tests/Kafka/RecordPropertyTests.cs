using System.Text;
using System.Text.Json;
using CsCheck;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Kafka;

/// <summary>
/// The Kafka ingest fed generated record values (InputGen: the spec's fill with one field made
/// hostile, and raw junk) with odd keys: every record is either ingested or dead-lettered with its
/// reason, none is lost, and ingestion goes on. A fixed seed; EXECDIST_FUZZ_CASES runs more.
/// </summary>
[Category("Kafka")]
public sealed class RecordPropertyTests : EmbeddedKafkaTestBase
{
    private static readonly Gen<byte[]?> Values = Gen.Frequency(
        (8, Gen.Guid.SelectMany(g => InputGen.Execution($"rec-{g:N}").Mutated).Select(v => (byte[]?)Encoding.UTF8.GetBytes(v))),
        (1, InputGen.Value.Select(v => (byte[]?)Encoding.UTF8.GetBytes(v))),
        (1, Gen.Byte.Array[0, 64].Select(b => (byte[]?)b)),
        (1, Gen.Const(() => (byte[]?)null)));

    [Test]
    public async Task Every_generated_record_is_ingested_or_dead_lettered_with_a_reason()
    {
        var topics = new KafkaTestTopics(Cluster);
        await using var host = await ServiceHost.StartAsync(topics.HostSettings);
        var records = InputGen.Draw(Values, InputGen.Cases(300), seed: 20261207).ToList();
        var before = host.Core.GetStats().Ingested;
        using (var producer = KafkaClients.Producer(Cluster.BootstrapServers))
        {
            for (var i = 0; i < records.Count; i++)
            {
                KafkaClients.Produce(producer, topics.Input, i % 7 == 0 ? "\u00e9\0key" : $"k-{i}", records[i]);
            }

            producer.Flush(TimeSpan.FromSeconds(30));
        }

        // Ingested and dead-lettered together account for every record, whatever each one was.
        List<Confluent.Kafka.ConsumeResult<byte[]?, byte[]?>> dead = [];
        await Eventually.WaitUntilAsync(() =>
        {
            var ingested = host.Core.GetStats().Ingested - before;
            dead = KafkaClients.ReadAsync(Cluster.BootstrapServers, [topics.DeadLetter], r => r.Count >= records.Count - ingested, TimeSpan.FromSeconds(2)).GetAwaiter().GetResult();
            return ingested + dead.Count == records.Count;
        }, "every record ingested or dead-lettered", TimeSpan.FromSeconds(90));

        Assert.That(dead.Select(d => KafkaClients.Header(d, "dlq.reason")), Has.All.Not.Empty, "each dead letter says why");
        Assert.That(dead.Count, Is.GreaterThan(records.Count / 4), "most generated records are invalid, so the property checked something");
        foreach (var d in dead.Where(d => d.Message.Value is { Length: > 0 } && IsJson(d.Message.Value)))
        {
            Assert.That(KafkaClients.Header(d, "dlq.reason"), Does.Contain(":"), "a reason names the field, as path: message");
        }
    }

    private static bool IsJson(byte[] value)
    {
        try
        {
            using var _ = JsonDocument.Parse(value);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
