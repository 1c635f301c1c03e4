using Confluent.Kafka;
using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Kafka;

/// <summary>
/// Tracks the records of each assigned partition from the moment they are consumed until they are
/// safe, and yields, per partition, the offset after the longest prefix of safe records: the only
/// offsets ever committed. A record is safe when its event is in the dispatch core's log, every
/// execution_distributed output of it is acknowledged by Kafka and no durable part holds it, or when
/// its dead-letter copy is acknowledged. Owned by the ingest parse stage (the consume thread takes it over, under
/// the ingest service's lock, only in a rebalance after draining that stage); completions arrive from other threads through fields
/// read with volatile semantics.
/// </summary>
internal sealed class SafePointTracker
{
    private readonly Dictionary<TopicPartition, Queue<InFlight>> _partitions = [];

    /// <summary>Partitions with records in flight.</summary>
    public TopicPartition[] Partitions => [.. _partitions.Keys];

    /// <summary>Records tracked and not yet safe.</summary>
    public int InFlightCount { get; private set; }

    public void Track(TopicPartition partition, long offset, ExecutionEvent e) => Add(partition, new InFlight(offset, e, null));

    public void Track(TopicPartition partition, long offset, DeadLetterAck ack) => Add(partition, new InFlight(offset, null, ack));

    /// <summary>
    /// Pops every safe prefix and returns the offsets to commit (next offset to read, per partition).
    /// Events at or after <paramref name="heldFrom"/> are not safe yet: a durable subscription or the
    /// order store still needs them (<see cref="Core.IDurableHold"/>).
    /// </summary>
    public List<TopicPartitionOffset> TakeSafeOffsets(long heldFrom = long.MaxValue)
    {
        var result = new List<TopicPartitionOffset>();
        foreach (var (partition, queue) in _partitions)
        {
            long last = -1;
            while (queue.TryPeek(out var head) && head.IsSafe(heldFrom))
            {
                last = head.Offset;
                queue.Dequeue();
                InFlightCount--;
            }

            if (last >= 0)
            {
                result.Add(new TopicPartitionOffset(partition, new Offset(last + 1)));
            }
        }

        return result;
    }

    /// <summary>
    /// The outputs of these records were published from re-read copies (the output fell behind the
    /// retained log): the ingested events waiting for them have their outputs. One pass per partition,
    /// from its oldest record to the highest offset released (the released records are among the oldest).
    /// </summary>
    public void ReleaseOutputs(IEnumerable<SourcePosition> released)
    {
        foreach (var group in released.GroupBy(s => new TopicPartition(s.Topic, new Partition(s.Partition))))
        {
            if (!_partitions.TryGetValue(group.Key, out var queue))
            {
                continue; // given up in a rebalance
            }

            var offsets = group.Select(s => s.Offset).ToHashSet();
            var highest = offsets.Max();
            foreach (var record in queue)
            {
                if (record.Offset > highest)
                {
                    break;
                }

                if (record.Event is { } e && offsets.Remove(record.Offset))
                {
                    // Never below zero: an event whose output went out itself is not released twice.
                    var pending = Volatile.Read(ref e.PendingOutputs);
                    while (pending > 0 && Interlocked.CompareExchange(ref e.PendingOutputs, pending - 1, pending) is var seen && seen != pending)
                    {
                        pending = seen;
                    }
                }
            }
        }
    }

    /// <summary>Stops tracking partitions given up in a rebalance; their unsafe records will be read again by the new owner.</summary>
    public void Forget(IEnumerable<TopicPartition> partitions)
    {
        foreach (var partition in partitions)
        {
            if (_partitions.Remove(partition, out var queue))
            {
                InFlightCount -= queue.Count;
            }
        }
    }

    private void Add(TopicPartition partition, InFlight record)
    {
        if (!_partitions.TryGetValue(partition, out var queue))
        {
            _partitions[partition] = queue = new Queue<InFlight>();
        }

        queue.Enqueue(record);
        InFlightCount++;
    }

    private readonly record struct InFlight(long Offset, ExecutionEvent? Event, DeadLetterAck? DeadLetter)
    {
        public bool IsSafe(long heldFrom) => Event is { } e
            ? e.Position >= 0 && e.Position < heldFrom && Volatile.Read(ref e.PendingOutputs) == 0
            : DeadLetter!.IsAcknowledged;
    }
}

/// <summary>Completion flag of one dead-letter write.</summary>
internal sealed class DeadLetterAck
{
    private int _acknowledged;

    public bool IsAcknowledged => Volatile.Read(ref _acknowledged) == 1;

    public void Acknowledge() => Volatile.Write(ref _acknowledged, 1);
}
