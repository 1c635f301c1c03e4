using Microsoft.Extensions.Logging;

namespace ExecutionDistribution.Kafka;

/// <summary>Log messages of the Kafka module; EventIds 3000-3099.</summary>
internal static partial class KafkaLog
{
    [LoggerMessage(3000, LogLevel.Information, "Embedded Kafka-protocol broker listening on {BootstrapServers}; topics {Topics}")]
    public static partial void EmbeddedStarted(ILogger logger, string bootstrapServers, string topics);

    [LoggerMessage(3001, LogLevel.Information, "Kafka ingest consuming {Topics} as group {Group} from {BootstrapServers}")]
    public static partial void IngestStarted(ILogger logger, string topics, string group, string bootstrapServers);

    [LoggerMessage(3002, LogLevel.Information, "Partitions assigned: {Partitions}")]
    public static partial void PartitionsAssigned(ILogger logger, string partitions);

    [LoggerMessage(3003, LogLevel.Information, "Partitions revoked: {Partitions}; committed what was safe")]
    public static partial void PartitionsRevoked(ILogger logger, string partitions);

    [LoggerMessage(3004, LogLevel.Warning, "Kafka consume failed ({Reason}); retrying in {DelayMs} ms")]
    public static partial void ConsumeFailed(ILogger logger, string reason, int delayMs);

    [LoggerMessage(3005, LogLevel.Warning, "Kafka client error: {Reason}")]
    public static partial void ClientError(ILogger logger, string reason);

    [LoggerMessage(3006, LogLevel.Warning, "Record {Topic}/{Partition}@{Offset} sent to the dead-letter topic: {Reason}")]
    public static partial void DeadLettered(ILogger logger, string topic, int partition, long offset, string reason);

    [LoggerMessage(3007, LogLevel.Warning, "Publishing to {Topic} failed ({Reason}); retrying")]
    public static partial void PublishFailed(ILogger logger, string topic, string reason);

    [LoggerMessage(3008, LogLevel.Warning, "Committing offsets failed: {Reason}")]
    public static partial void CommitFailed(ILogger logger, string reason);

    [LoggerMessage(3010, LogLevel.Error, "Kafka consumer failed; rebuilding it in {DelayMs} ms")]
    public static partial void ConsumerFailed(ILogger logger, Exception exception, int delayMs);

    [LoggerMessage(3009, LogLevel.Information, "Kafka output publishing execution_distributed to {Template}")]
    public static partial void OutputStarted(ILogger logger, string template);

    [LoggerMessage(3011, LogLevel.Information, "Kafka cluster {ClusterId}: resume tokens carry its epoch")]
    public static partial void ClusterIdentified(ILogger logger, string clusterId);
}
