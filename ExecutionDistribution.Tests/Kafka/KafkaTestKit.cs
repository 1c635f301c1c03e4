using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using ExecutionDistribution.Kafka;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Kafka;

/// <summary>Topics, group and host settings owned by one test, on its class's embedded broker.</summary>
internal sealed class KafkaTestTopics
{
    public KafkaTestTopics(EmbeddedKafkaCluster cluster, int partitions = 4)
    {
        var id = Guid.NewGuid().ToString("N")[..12];
        Cluster = cluster;
        Input = $"in-{id}";
        DeadLetter = $"dlq-{id}";
        OutputPrefix = $"out-{id}";
        Group = $"g-{id}";
        cluster.CreateTopic(Input, partitions);
        cluster.CreateTopic(DeadLetter, 1);
        cluster.CreateTopic(Output("portfolio_management"), 4);
        cluster.CreateTopic(Output("order_management"), 4);
        cluster.CreateTopic(OutputPrefix + ".unrouted", 1);
    }

    public EmbeddedKafkaCluster Cluster { get; }

    public string Input { get; }

    public string DeadLetter { get; }

    public string OutputPrefix { get; }

    public string Group { get; }

    public string Output(string workflow) => $"{OutputPrefix}.{workflow}";

    /// <summary>Host settings pointing the Kafka module at this test's topics.</summary>
    public string[] HostSettings =>
    [
        "--Kafka:Enabled=true",
        $"--Kafka:BootstrapServers={Cluster.BootstrapServers}",
        $"--Kafka:InputTopics:0={Input}",
        $"--Kafka:DeadLetterTopic={DeadLetter}",
        $"--Kafka:OutputTopicTemplate={OutputPrefix}.{{workflow}}",
        $"--Kafka:UnroutedOutputTopic={OutputPrefix}.unrouted",
        $"--Kafka:ConsumerGroup={Group}",
        "--Kafka:SessionTimeout=00:00:03",
        "--Kafka:CommitInterval=00:00:00.100",
        "--Kafka:MaxRecordBytes=524288",
    ];
}

/// <summary>Plain Confluent.Kafka clients for the test side.</summary>
internal static class KafkaClients
{
    public static IProducer<byte[]?, byte[]?> Producer(string bootstrap) => new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig
    {
        BootstrapServers = bootstrap,
        LingerMs = 5,
        EnableIdempotence = true,
        MessageMaxBytes = 4_000_000,
    }).Build();

    public static void Produce(IProducer<byte[]?, byte[]?> producer, string topic, string key, byte[]? value) =>
        producer.Produce(topic, new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(key), Value = value });

    /// <summary>Reads records of <paramref name="topics"/> from the beginning until <paramref name="until"/> holds or the deadline passes.</summary>
    public static async Task<List<ConsumeResult<byte[]?, byte[]?>>> ReadAsync(
        string bootstrap, string[] topics, Func<List<ConsumeResult<byte[]?, byte[]?>>, bool> until, TimeSpan? timeout = null)
    {
        return await Task.Run(() =>
        {
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
            {
                BootstrapServers = bootstrap,
                GroupId = $"reader-{Guid.NewGuid():N}",
                AutoOffsetReset = AutoOffsetReset.Earliest,
                EnableAutoCommit = false,
                MaxPartitionFetchBytes = 4_000_000,
            }).Build();
            consumer.Subscribe(topics);
            var records = new List<ConsumeResult<byte[]?, byte[]?>>();
            var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
            while (!until(records) && DateTime.UtcNow < deadline)
            {
                var r = consumer.Consume(TimeSpan.FromMilliseconds(200));
                if (r is not null && !r.IsPartitionEOF)
                {
                    records.Add(r);
                }
            }

            consumer.Close();
            return records;
        });
    }

    public static string EventId(ConsumeResult<byte[]?, byte[]?> record)
    {
        using var doc = JsonDocument.Parse(record.Message.Value);
        return doc.RootElement.GetProperty("event_id").GetString()!;
    }

    public static string Header(ConsumeResult<byte[]?, byte[]?> record, string name) =>
        Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes(name));

    public static byte[] Json(ExecutionDistribution.Contract.ExecutionEvent e) => e.EnvelopeJson.ToArray();
}

/// <summary>One embedded broker per test class (started once; tests use their own topics).</summary>
public abstract class EmbeddedKafkaTestBase
{
    internal EmbeddedKafkaCluster Cluster { get; private set; } = null!;

    [OneTimeSetUp]
    public void StartBroker() => Cluster = EmbeddedKafkaCluster.Start();

    [OneTimeTearDown]
    public void StopBroker() => Cluster.Dispose();

    internal static Task WaitUntilAsync(Func<bool> condition, string what, int seconds = 60) =>
        Eventually.WaitUntilAsync(condition, what, TimeSpan.FromSeconds(seconds));
}
