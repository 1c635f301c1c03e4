using ExecutionDistribution.Kafka;

namespace ExecutionDistribution.Benchmarks.Support;

/// <summary>
/// An input topic of 12 partitions and its dead-letter topic on an embedded broker (names unique to the
/// run), and the settings with which our service consumes it and publishes no output.
/// </summary>
public sealed record ServiceInputTopic(string Topic, string[] Settings)
{
    /// <summary>Creates both topics; <paramref name="prefix"/> names them and the consumer group.</summary>
    public static ServiceInputTopic Create(EmbeddedKafkaCluster cluster, string prefix)
    {
        var suffix = Guid.NewGuid().ToString("N")[..12];
        var topic = $"{prefix}-input-{suffix}";
        cluster.CreateTopic(topic, 12);
        cluster.CreateTopic($"{prefix}-dlq-{suffix}", 1);
        return new ServiceInputTopic(topic,
        [
            "--Kafka:Enabled=true", $"--Kafka:BootstrapServers={cluster.BootstrapServers}", $"--Kafka:InputTopics:0={topic}",
            $"--Kafka:DeadLetterTopic={prefix}-dlq-{suffix}", "--Kafka:OutputEnabled=false", $"--Kafka:ConsumerGroup={prefix}-{suffix}",
        ]);
    }
}
