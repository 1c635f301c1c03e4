using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Distribution;

/// <summary>
/// Where each log position came from: the Kafka topic, partition and offset of its event, kept for
/// far more positions than the retained log holds events (8 bytes a position against a whole event),
/// so a stream resuming from a token older than the retained log can re-read exactly the events after
/// it from Kafka, in log order (<see cref="IEventReplay"/>). Written only by the dispatcher thread, one
/// entry per position in order; read by any thread. A ring of lazily allocated segments: memory grows
/// with use up to <see cref="Capacity"/> positions.
/// </summary>
internal sealed class SourceIndex
{
    private const int SegmentShift = 16;
    private const int SegmentSize = 1 << SegmentShift;
    private const int OffsetBits = 47;
    private const long OffsetMask = (1L << OffsetBits) - 1;

    private readonly long[]?[] _segments;
    private readonly long _mask;
    private readonly Dictionary<(string Topic, int Partition), int> _ids = [];

    // Partition id -> (topic, partition), copy-on-write so readers need no lock.
    private (string Topic, int Partition)[] _partitions = [];

    // The last partition seen: most events in a row come from few partitions, and topic names are fresh strings per record.
    private string? _lastTopic;
    private int _lastPartition = -1;
    private int _lastId = -1;
    private long _head;

    public SourceIndex(int capacity)
    {
        var size = (long)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(capacity, SegmentSize));
        _segments = new long[]?[size >> SegmentShift];
        _mask = size - 1;
    }

    /// <summary>Positions the index can hold (a power of two, at least 65,536).</summary>
    public long Capacity => _mask + 1;

    /// <summary>One past the newest position recorded.</summary>
    public long Head => Volatile.Read(ref _head);

    /// <summary>The oldest position still recorded.</summary>
    public long Oldest => Math.Max(0, Head - Capacity);

    /// <summary>Records the source of the event at <paramref name="position"/> (the next one). Dispatcher thread only.</summary>
    public void Record(long position, SourcePosition? source)
    {
        long entry = 0;
        if (source is { } s && (ulong)s.Offset <= OffsetMask && IdOf(s.Topic, s.Partition) is var id && id >= 0)
        {
            entry = ((long)(id + 1) << OffsetBits) | s.Offset;
        }

        var segment = (position & _mask) >> SegmentShift;
        var slots = _segments[segment];
        if (slots is null)
        {
            slots = new long[SegmentSize];
            Volatile.Write(ref _segments[segment], slots);
        }

        Volatile.Write(ref slots[position & (SegmentSize - 1)], entry);
        Volatile.Write(ref _head, position + 1);
    }

    /// <summary>
    /// The source of <paramref name="position"/>: Recorded (with its Kafka position), NotFromKafka (the
    /// event came in another way, REST or the demo feed), or Gone (not recorded, or overwritten).
    /// </summary>
    public SourceLookup TryGet(long position, out SourcePosition source)
    {
        source = default;
        if (position < Oldest || position >= Head)
        {
            return SourceLookup.Gone;
        }

        var slots = Volatile.Read(ref _segments[(position & _mask) >> SegmentShift]);
        var entry = slots is null ? 0 : Volatile.Read(ref slots[position & (SegmentSize - 1)]);

        // The dispatcher may have overwritten the slot while it was read: check it is still this position's.
        if (slots is null || position < Oldest)
        {
            return SourceLookup.Gone;
        }

        if (entry == 0)
        {
            return SourceLookup.NotFromKafka;
        }

        var (topic, partition) = Volatile.Read(ref _partitions)[(int)(entry >> OffsetBits) - 1];
        source = new SourcePosition(topic, partition, entry & OffsetMask);
        return SourceLookup.Recorded;
    }

    private int IdOf(string topic, int partition)
    {
        if (partition == _lastPartition && string.Equals(topic, _lastTopic, StringComparison.Ordinal))
        {
            return _lastId;
        }

        if (!_ids.TryGetValue((topic, partition), out var id))
        {
            if (_ids.Count >= ushort.MaxValue - 1)
            {
                return -1;
            }

            id = _ids.Count;
            _ids.Add((topic, partition), id);
            Volatile.Write(ref _partitions, [.. _partitions, (topic, partition)]);
        }

        (_lastTopic, _lastPartition, _lastId) = (topic, partition, id);
        return id;
    }
}

/// <summary>What <see cref="SourceIndex.TryGet"/> knows of a position.</summary>
internal enum SourceLookup
{
    /// <summary>The event came from Kafka at the returned position.</summary>
    Recorded,
    /// <summary>The event did not come from Kafka (REST, the demo feed): it cannot be re-read.</summary>
    NotFromKafka,
    /// <summary>The position is older than the index holds, or not yet written.</summary>
    Gone,
}
