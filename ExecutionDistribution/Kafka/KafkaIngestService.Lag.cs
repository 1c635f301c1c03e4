using System.Collections.Concurrent;
using Confluent.Kafka;

namespace ExecutionDistribution.Kafka;

/// <summary>The consumer's lag per assigned partition, for the metrics and readiness.</summary>
internal sealed partial class KafkaIngestService
{
    private readonly ConcurrentDictionary<TopicPartition, long> _lag = new();
    private long _lagMeasuredAt;

    /// <summary>Records not yet consumed per assigned partition (the high watermark of the last fetch minus the position), measured about once a second.</summary>
    internal IReadOnlyDictionary<TopicPartition, long> Lag => _lag;

    // On the consume thread: watermarks are librdkafka's cached ones (no broker call).
    private void MeasureLag(IConsumer<byte[]?, byte[]?> consumer)
    {
        var now = _time.GetTimestamp();
        if (_time.GetElapsedTime(_lagMeasuredAt, now) < TimeSpan.FromSeconds(1))
        {
            return;
        }

        _lagMeasuredAt = now;
        var assigned = consumer.Assignment;
        foreach (var gone in _lag.Keys.Except(assigned))
        {
            _lag.TryRemove(gone, out _);
        }

        foreach (var tp in assigned)
        {
            var high = consumer.GetWatermarkOffsets(tp).High;
            var position = consumer.Position(tp);
            if (high != Offset.Unset && position != Offset.Unset)
            {
                _lag[tp] = Math.Max(0, high.Value - position.Value);
            }
        }
    }
}
