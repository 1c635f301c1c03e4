using Confluent.Kafka;
using ExecutionDistribution.Core;

namespace ExecutionDistribution.Kafka;

/// <summary>Which partitions ingest reads and from where: declared to the core before anyone is served, assigned (a gateway) or given by the group.</summary>
internal sealed partial class KafkaIngestService
{
    // Where this instance reads each assigned partition from (its committed offset, else the earliest):
    // resume tokens name every partition from the start, and a token below it is re-read from Kafka.
    private void DeclareStarts(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartition> partitions)
    {
        if (_ingest is not FanOutDispatcher core || partitions.Count == 0)
        {
            return;
        }

        try
        {
            foreach (var committed in consumer.Committed(partitions, TimeSpan.FromSeconds(10)))
            {
                var next = committed.Offset.Value >= 0
                    ? committed.Offset.Value
                    : consumer.QueryWatermarkOffsets(committed.TopicPartition, TimeSpan.FromSeconds(10)).Low.Value;
                core.DeclareSource(committed.Topic, committed.Partition.Value, Math.Max(0, next));
            }
        }
        catch (KafkaException ex)
        {
            // Tokens then name these partitions from their first record on.
            KafkaLog.ClientError(_logger, $"reading the committed offsets of the assigned partitions: {ex.Error.Reason}");
        }
    }

    // Before the host serves anyone: every partition of the input topics declared to the core with the
    // offset this instance reads it from (the group's committed offset, else the earliest; a gateway:
    // the end), so every resume token names every partition from the first request on (a durable
    // subscription created before the consumer's first assignment would otherwise name none).
    private readonly Dictionary<TopicPartition, long> _declaredStarts = [];

    private void DeclareAtStart()
    {
        if (_ingest is not FanOutDispatcher core)
        {
            return;
        }

        try
        {
            using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _connection.BootstrapServers }).Build();
            using var probe = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
            {
                BootstrapServers = _connection.BootstrapServers,
                GroupId = _gateway ? $"{_options.ConsumerGroup}-gateway-probe" : _options.ConsumerGroup, // asked, never joined
                EnableAutoCommit = false,
            }).Build();
            var partitions = InputPartitions(admin);
            var committed = _gateway ? [] : probe.Committed(partitions, TimeSpan.FromSeconds(10)).ToDictionary(c => c.TopicPartition, c => c.Offset.Value);
            foreach (var partition in partitions)
            {
                var marks = probe.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10));
                var start = _gateway ? (_gatewayFromBeginning ? marks.Low.Value : marks.High.Value)
                    : committed.TryGetValue(partition, out var c) && c >= 0 ? c : marks.Low.Value;
                _declaredStarts[partition] = start;
                core.DeclareSource(partition.Topic, partition.Partition.Value, start);
            }
        }
        catch (KafkaException ex)
        {
            // Declared at assignment instead (tokens issued before it name no partition yet).
            KafkaLog.ClientError(_logger, $"reading the input partitions at start: {ex.Error.Reason}");
        }
    }

    // A gateway: every partition of every input topic, from its end (what arrives from now on; a client
    // resuming from earlier is re-read from Kafka by its token's offsets) or, with Cluster:GatewayStart
    // Beginning, from the oldest record Kafka holds; declared to the core first.
    private void AssignAll(IConsumer<byte[]?, byte[]?> consumer)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _connection.BootstrapServers }).Build();
        var assignments = new List<TopicPartitionOffset>();
        foreach (var tp in InputPartitions(admin))
        {
            // Where it was declared at start, if it was: tokens issued since already name that offset.
            var start = _declaredStarts.TryGetValue(tp, out var declared) ? declared
                : _gatewayFromBeginning ? consumer.QueryWatermarkOffsets(tp, TimeSpan.FromSeconds(10)).Low.Value
                : consumer.QueryWatermarkOffsets(tp, TimeSpan.FromSeconds(10)).High.Value;
            if (_ingest is FanOutDispatcher core)
            {
                core.DeclareSource(tp.Topic, tp.Partition.Value, start);
            }

            assignments.Add(new TopicPartitionOffset(tp, start));
        }

        consumer.Assign(assignments);
        Interlocked.Exchange(ref _lastSuccessTimestamp, _time.GetTimestamp());
        Volatile.Write(ref _assignedOnce, 1);
        KafkaLog.PartitionsAssigned(_logger, string.Join(", ", assignments.Select(p => $"{p.Topic}/{p.Partition.Value}@{p.Offset.Value}")));
    }

    // Every partition of the input topics, from the brokers' metadata; a topic without partitions (not there) fails.
    private List<TopicPartition> InputPartitions(IAdminClient admin)
    {
        var partitions = new List<TopicPartition>();
        foreach (var topic in _options.InputTopics)
        {
            var metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single();
            if (metadata.Error.IsError || metadata.Partitions.Count == 0)
            {
                throw new KafkaException(metadata.Error.IsError ? metadata.Error : new Error(ErrorCode.UnknownTopicOrPart, $"topic {topic} has no partitions"));
            }

            partitions.AddRange(metadata.Partitions.Select(p => new TopicPartition(topic, p.PartitionId)));
        }

        return partitions;
    }
}
