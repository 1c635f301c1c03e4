using System.Text;
using System.Text.Json;
using CsCheck;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Kafka;

/// <summary>
/// The Kafka ingest fed generated record values (InputGen: the spec's fill with one field made
/// hostile, and raw junk) with odd keys and headers: every record is either ingested (exactly the
/// valid ones) or dead-lettered with its reason and its own headers, none is lost, and ingestion
/// goes on. A fixed seed; EXECDIST_FUZZ_CASES runs more.
/// </summary>
[Category("Kafka")]
public sealed class RecordPropertyTests : EmbeddedKafkaTestBase
{
    private static readonly Gen<byte[]?> Values = Gen.Frequency(
        (8, Gen.Guid.SelectMany(g => InputGen.Execution($"rec-{g:N}").Mutated).Select(v => (byte[]?)Encoding.UTF8.GetBytes(v))),
        (1, InputGen.Value.Select(v => (byte[]?)Encoding.UTF8.GetBytes(v))),
        (1, Gen.Byte.Array[0, 64].Select(b => (byte[]?)b)),
        (1, Gen.Const(() => (byte[]?)null)));

    /// <summary>
    /// Headers of any name (empty, non-ASCII, the dead letter's own; text a header name can hold: UTF-8
    /// without NUL, which librdkafka ends names at) and value (null, binary, large).
    /// </summary>
    private static readonly Gen<(string Key, byte[]? Value)[]> Headers = Gen.Select(
        Gen.Frequency(
            (4, Gen.String.Select(k => Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(k)).Replace("\0", string.Empty, StringComparison.Ordinal))),
            (2, Gen.OneOf("traceparent", "dlq.reason", "dlq.source.offset", "", "caf\u00e9 \u6f22")),
            (1, Gen.Const(new string('h', 1_000)))),
        Gen.Frequency((4, Gen.Byte.Array[0, 64].Select(b => (byte[]?)b)), (1, Gen.Const(() => (byte[]?)null)), (1, Gen.Const(() => (byte[]?)new byte[16_384]))))
        .Array[0, 6];

    [Test]
    public async Task Every_generated_record_is_ingested_or_dead_lettered_with_a_reason()
    {
        var topics = new KafkaTestTopics(Cluster);
        await using var host = await ServiceHost.StartAsync(topics.HostSettings);
        var records = InputGen.Draw(Gen.Select(Values, Headers), InputGen.Cases(300), seed: 20261207).ToList();
        var before = host.Core.GetStats().Ingested;
        using (var producer = KafkaClients.Producer(Cluster.BootstrapServers))
        {
            for (var i = 0; i < records.Count; i++)
            {
                var headers = new Confluent.Kafka.Headers { { "case", BitConverter.GetBytes(i) } };
                foreach (var (key, value) in records[i].Item2)
                {
                    headers.Add(key, value);
                }

                producer.Produce(topics.Input, new() { Key = Encoding.UTF8.GetBytes(i % 7 == 0 ? "\u00e9\0key" : $"k-{i}"), Value = records[i].Item1, Headers = headers });
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
        Assert.That(dead, Has.Count.EqualTo(records.Count(r => !IsValidEvent(r.Item1))), "exactly the invalid records are dead letters, whatever their headers");
        foreach (var d in dead)
        {
            // The record's own headers, in order, then the dead letter's five.
            var headers = d.Message.Headers.Select(h => (h.Key, h.GetValueBytes())).ToList();
            var index = BitConverter.ToInt32(headers[0].Item2);
            Assert.That(headers[1..^5], Is.EqualTo(records[index].Item2), $"record {index}'s headers");
            Assert.That(headers[^5..].Select(h => h.Key), Is.EqualTo(new[] { "dlq.reason", "dlq.source.topic", "dlq.source.partition", "dlq.source.offset", "dlq.time" }));
            Assert.That(IsValidEvent(records[index].Item1), Is.False, $"record {index} is invalid");
        }

        foreach (var d in dead.Where(d => d.Message.Value is { Length: > 0 } && IsJson(d.Message.Value)))
        {
            Assert.That(KafkaClients.Header(d, "dlq.reason"), Does.Contain(":"), "a reason names the field, as path: message");
        }
    }

    private static bool IsValidEvent(byte[]? value) => value is { Length: > 0 } && ExecutionDistribution.Contract.ExecutionEventParser.Parse(value).IsValid;

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
