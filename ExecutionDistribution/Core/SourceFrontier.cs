using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text;
using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Core;

/// <summary>
/// Translates between the core's log positions, which count in this process only, and source offsets,
/// which every instance shares: for each position, the source partition (a Kafka topic and partition)
/// and offset its event came from. A resume token names, per partition, the next offset a stream has
/// not passed (<see cref="ResumeToken"/>); this answers which token a position is
/// (<see cref="Frontier"/>) and where a token starts in this process's log (<see cref="Locate"/>), so a
/// token taken on one instance resumes on any other and after any restart.
/// <para>
/// An 8-byte entry per position (partition id and offset) in a ring of <see cref="Capacity"/>
/// positions, far longer than the retained log, and every <see cref="CheckpointEvery"/> positions the
/// frontier (per partition, one past the highest offset so far) as it stood there. A frontier at any
/// position is a checkpoint plus at most 63 entries. Events that came from no source (published to
/// the core directly) count in a partition of this run's own, which no other run knows.
/// </para>
/// Written by the dispatcher thread only (one entry per position, in order); read by any thread.
/// </summary>
internal sealed class SourceFrontier
{
    /// <summary>Positions between two checkpoints.</summary>
    public const int CheckpointEvery = 64;

    private const int OffsetBits = 47;
    private const long OffsetMask = (1L << OffsetBits) - 1;
    private const int MaxPartitions = (1 << 16) - 2;

    private readonly long[] _entries;
    private readonly long _mask;
    private readonly long[]?[] _checkpoints;
    private readonly ConcurrentDictionary<(string Topic, int Partition), int> _ids = [];
    private readonly Lock _registration = new();

    // Copy-on-write: partition id -> its key, and its frontier before its first record.
    private Partition[] _partitions = [];

    // Dispatcher only: the frontier after the newest position.
    private long[] _running = [];
    private long _head;
    private long _localNext;
    private int _localId = -1;

    // The last partition seen: most events in a row come from few partitions, and topic names are fresh strings per record.
    private string? _lastTopic;
    private int _lastPartition = -1;
    private int _lastId = -1;

    public SourceFrontier(int capacity, Guid run)
    {
        var size = (long)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(capacity, CheckpointEvery * 16));
        _entries = new long[size];
        _mask = size - 1;
        _checkpoints = new long[]?[size / CheckpointEvery];
        LocalTopic = "~run-" + run.ToString("N");
    }

    /// <summary>The partition of events that came from no source: this run's own, unknown to any other.</summary>
    public string LocalTopic { get; }

    /// <summary>Positions the index holds (a power of two).</summary>
    public long Capacity => _mask + 1;

    /// <summary>One past the newest position recorded.</summary>
    public long Head => Volatile.Read(ref _head);

    /// <summary>The oldest position whose frontier is still known (a checkpoint's, with room for a reader racing the writer).</summary>
    public long Oldest
    {
        get
        {
            var oldest = Head - Capacity + (2 * CheckpointEvery);
            return oldest <= 0 ? 0 : (oldest + CheckpointEvery - 1) / CheckpointEvery * CheckpointEvery;
        }
    }

    /// <summary>The hash a resume token names a topic by (FNV-1a of its UTF-8 name).</summary>
    public static uint TopicHash(string topic)
    {
        Span<byte> buffer = stackalloc byte[256];
        var bytes = Encoding.UTF8.GetByteCount(topic) <= buffer.Length ? buffer[..Encoding.UTF8.GetBytes(topic, buffer)] : Encoding.UTF8.GetBytes(topic);
        var hash = 2166136261u;
        foreach (var b in bytes)
        {
            hash = (hash ^ b) * 16777619u;
        }

        return hash;
    }

    /// <summary>
    /// Declares that this process reads <paramref name="topic"/>/<paramref name="partition"/> from offset
    /// <paramref name="next"/> on (its ingest was assigned it there): tokens name it at that offset until
    /// its first record, and a token below it is re-read from Kafka. Any thread; a partition already
    /// known keeps what it has.
    /// </summary>
    public void Declare(string topic, int partition, long next)
    {
        if (!_ids.ContainsKey((topic, partition)))
        {
            Register(topic, partition, next);
        }
    }

    /// <summary>Records the source of the event at <paramref name="position"/> (the next one). Dispatcher thread only.</summary>
    public void Record(long position, SourcePosition? source)
    {
        if (position % CheckpointEvery == 0)
        {
            Checkpoint(position);
        }

        int id;
        long offset;
        if (source is { } s && (ulong)s.Offset <= OffsetMask && IdOf(s.Topic, s.Partition, s.Offset) is var known && known >= 0)
        {
            (id, offset) = (known, s.Offset);
        }
        else
        {
            // Registered with the first such event: tokens name it only once there is one.
            if (_localId < 0)
            {
                _localId = Register(LocalTopic, 0, 0);
            }

            (id, offset) = (_localId, _localNext++);
        }

        if (id >= _running.Length)
        {
            GrowRunning();
        }

        if (offset >= _running[id])
        {
            _running[id] = offset + 1;
        }

        Volatile.Write(ref _entries[position & _mask], ((long)(id + 1) << OffsetBits) | offset);
        Volatile.Write(ref _head, position + 1);
    }

    /// <summary>The partition and offset of the event at <paramref name="position"/>, if the index still holds it.</summary>
    public bool TryGetSource(long position, out int partitionId, out long offset)
    {
        partitionId = -1;
        offset = -1;
        if (position < Head - Capacity || position >= Head)
        {
            return false;
        }

        var entry = Volatile.Read(ref _entries[position & _mask]);
        if (position < Head - Capacity || entry == 0)
        {
            return false;
        }

        partitionId = (int)(entry >> OffsetBits) - 1;
        offset = entry & OffsetMask;
        return true;
    }

    /// <summary>
    /// Per partition id, the next offset not passed by a reader that has every event before
    /// <paramref name="position"/>; false when the position is older than the index or not yet reached.
    /// </summary>
    public bool Frontier(long position, long[] into, out int count)
    {
        var partitions = Volatile.Read(ref _partitions);
        count = partitions.Length;
        if (position < Oldest || position > Head || into.Length < count)
        {
            return false;
        }

        var from = position / CheckpointEvery * CheckpointEvery;
        var checkpoint = _checkpoints[(from / CheckpointEvery) % _checkpoints.Length];
        for (var id = 0; id < count; id++)
        {
            into[id] = checkpoint is not null && id < checkpoint.Length ? checkpoint[id] : partitions[id].Start;
        }

        for (var p = from; p < position; p++)
        {
            var entry = Volatile.Read(ref _entries[p & _mask]);
            var id = (int)(entry >> OffsetBits) - 1;
            var next = (entry & OffsetMask) + 1;
            if (id >= 0 && id < count && next > into[id])
            {
                into[id] = next;
            }
        }

        // The writer may have lapped what was read: only a position still held is an answer.
        return position >= Oldest;
    }

    /// <summary>A buffer as wide as the partitions known now, for <see cref="Frontier"/>.</summary>
    public long[] NewVector() => new long[Math.Max(4, Volatile.Read(ref _partitions).Length + 4)];

    /// <summary>The token of a reader at <paramref name="position"/> with <paramref name="sequence"/> delivered, raised to <paramref name="floor"/> where it is ahead.</summary>
    public ResumeToken TokenAt(Guid epoch, long position, long sequence, ResumeFloor? floor = null)
    {
        var vector = NewVector();
        if (!Frontier(Math.Clamp(position, Oldest, Head), vector, out var count))
        {
            Frontier(Head, vector = NewVector(), out count);
        }

        var partitions = Volatile.Read(ref _partitions);
        var offsets = new SourceOffset[count];
        for (var id = 0; id < count; id++)
        {
            var next = vector[id];
            if (floor is not null && id < floor.Offsets.Length && floor.Offsets[id] > next)
            {
                next = floor.Offsets[id];
            }

            offsets[id] = new SourceOffset(partitions[id].Hash, partitions[id].Number, next);
        }

        return new ResumeToken(epoch, offsets, sequence);
    }

    /// <summary>
    /// The text of <see cref="TokenAt"/>, as a stream sends it with every batch: the token's bytes up
    /// to the sequence number are made once per position and shared by every stream at that position
    /// (a small cache indexed by position), so a batch costs the sequence and the base64 only.
    /// </summary>
    public string EncodeAt(Guid epoch, long position, long sequence, ResumeFloor? floor = null)
    {
        if (floor is not null)
        {
            return TokenAt(epoch, position, sequence, floor).Encode();
        }

        var partitions = Volatile.Read(ref _partitions).Length;
        var cached = Volatile.Read(ref _encoded[position & (_encoded.Length - 1)]);
        if (cached is null || cached.Position != position || cached.Partitions != partitions || cached.Epoch != epoch)
        {
            var token = TokenAt(epoch, position, 0);
            cached = new EncodedPrefix(position, token.Offsets.Length, epoch, ResumeToken.EncodePrefix(token));
            Volatile.Write(ref _encoded[position & (_encoded.Length - 1)], cached);
        }

        return ResumeToken.EncodeWithPrefix(cached.Bytes, sequence);
    }

    /// <summary>
    /// Where a stream holding <paramref name="token"/> starts in this log: the first position with an
    /// event the token has not passed, and the offsets to skip after it (events of a partition the
    /// token is further in than the log is at that position). <see cref="LocateResult.Before"/> when the
    /// token is older than the index holds for some partition, or names a topic this process has not
    /// read: the source decides (Kafka re-reads it, or refuses a topic it does not have).
    /// </summary>
    public Located Locate(ResumeToken token)
    {
        var partitions = Volatile.Read(ref _partitions);
        var head = Head;
        var oldest = Oldest;
        var atOldest = NewVector();
        var atHead = NewVector();
        if (!Frontier(oldest, atOldest, out _) || !Frontier(head, atHead, out _))
        {
            return new Located(LocateResult.Before, 0, null);
        }

        var start = head;
        var ahead = false;
        var wanted = new long[partitions.Length];
        Array.Fill(wanted, -1);

        // This run's own partition, when the token does not name it: the token has none of its events.
        var local = Find(partitions, TopicHash(LocalTopic), 0);
        if (local >= 0 && token.OffsetOf(TopicHash(LocalTopic), 0) < 0)
        {
            token = token with { Offsets = [.. token.Offsets, new SourceOffset(TopicHash(LocalTopic), 0, 0)] };
        }

        foreach (var entry in token.Offsets)
        {
            var id = Find(partitions, entry.Topic, entry.Partition);
            if (id < 0)
            {
                // A partition this process has not read (yet): its events after the token are not in this
                // log, so the source decides (Kafka re-reads it, and refuses topics it does not read).
                return new Located(LocateResult.Before, 0, null);
            }

            wanted[id] = entry.Offset;
            if (entry.Offset < atOldest[id])
            {
                return new Located(LocateResult.Before, 0, null);
            }

            if (entry.Offset < atHead[id])
            {
                start = Math.Min(start, FirstAtOrAfter(id, entry.Offset, oldest, head));
            }
            else if (entry.Offset > atHead[id])
            {
                ahead = true;
            }
        }

        var atStart = NewVector();
        if (!Frontier(start, atStart, out var count))
        {
            return new Located(LocateResult.Before, 0, null);
        }

        long[]? skip = null;
        for (var id = 0; id < Math.Min(count, wanted.Length); id++)
        {
            if (wanted[id] > atStart[id])
            {
                skip ??= new long[count];
                skip[id] = wanted[id];
            }
        }

        return new Located(LocateResult.Found, start, skip is null ? null : new ResumeFloor(skip), ahead);
    }

    /// <summary>True once a reader at <paramref name="position"/> has passed every offset of <paramref name="floor"/>.</summary>
    public bool Passed(ResumeFloor floor, long position)
    {
        var vector = NewVector();
        if (!Frontier(Math.Min(position, Head), vector, out var count))
        {
            return false;
        }

        for (var id = 0; id < floor.Offsets.Length; id++)
        {
            if (floor.Offsets[id] > (id < count ? vector[id] : 0))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Topic and partition of partition id <paramref name="id"/>.</summary>
    public (string Topic, int Partition) KeyOf(int id) => (Volatile.Read(ref _partitions)[id].Topic, Volatile.Read(ref _partitions)[id].Number);

    /// <summary>The next offset of this run's own partition (events from no source) at <paramref name="position"/>: 0 before the first.</summary>
    public long LocalFrontier(long position)
    {
        var vector = NewVector();
        if (!Frontier(Math.Clamp(position, Oldest, Head), vector, out var count))
        {
            return long.MaxValue;
        }

        var hash = TopicHash(LocalTopic);
        var partitions = Volatile.Read(ref _partitions);
        for (var id = 0; id < count; id++)
        {
            if (partitions[id].Hash == hash)
            {
                return vector[id];
            }
        }

        return 0;
    }

    /// <summary>The topic a token's hash names, among those this process has seen or declared; null if none.</summary>
    public string? TopicOf(uint hash)
    {
        foreach (var p in Volatile.Read(ref _partitions))
        {
            if (p.Hash == hash)
            {
                return p.Topic;
            }
        }

        return null;
    }

    private static int Find(Partition[] partitions, uint hash, int number)
    {
        for (var id = 0; id < partitions.Length; id++)
        {
            if (partitions[id].Hash == hash && partitions[id].Number == number)
            {
                return id;
            }
        }

        return -1;
    }

    // The first position at or after the newest checkpoint below the offset whose event of partition id is at or past it.
    private long FirstAtOrAfter(int id, long offset, long oldest, long head)
    {
        var low = oldest / CheckpointEvery;
        var high = head / CheckpointEvery;
        while (low < high)
        {
            var mid = low + ((high - low + 1) / 2);
            if (CheckpointValue(mid, id) <= offset)
            {
                low = mid;
            }
            else
            {
                high = mid - 1;
            }
        }

        for (var p = Math.Max(low * CheckpointEvery, oldest); p < head; p++)
        {
            var entry = Volatile.Read(ref _entries[p & _mask]);
            if ((int)(entry >> OffsetBits) - 1 == id && (entry & OffsetMask) >= offset)
            {
                return p;
            }
        }

        return head;
    }

    private long CheckpointValue(long index, int id)
    {
        var checkpoint = _checkpoints[index % _checkpoints.Length];
        return checkpoint is not null && id < checkpoint.Length ? checkpoint[id] : Volatile.Read(ref _partitions)[id].Start;
    }

    private void Checkpoint(long position)
    {
        if (_running.Length < Volatile.Read(ref _partitions).Length)
        {
            GrowRunning();
        }

        var slot = (position / CheckpointEvery) % _checkpoints.Length;
        var checkpoint = _checkpoints[slot];
        if (checkpoint is null || checkpoint.Length != _running.Length)
        {
            // Only when a partition was added since this slot was last written: steady state reuses it.
            checkpoint = new long[_running.Length];
        }

        Array.Copy(_running, checkpoint, _running.Length);
        Volatile.Write(ref _checkpoints[slot], checkpoint);
    }

    // Partitions declared from other threads since the last event: the dispatcher's frontier takes them at their start.
    private void GrowRunning()
    {
        var partitions = Volatile.Read(ref _partitions);
        var from = _running.Length;
        Array.Resize(ref _running, partitions.Length);
        for (var id = from; id < partitions.Length; id++)
        {
            _running[id] = partitions[id].Start;
        }
    }

    private int IdOf(string topic, int partition, long first)
    {
        if (partition == _lastPartition && string.Equals(topic, _lastTopic, StringComparison.Ordinal))
        {
            return _lastId;
        }

        if (!_ids.TryGetValue((topic, partition), out var id))
        {
            if (_ids.Count >= MaxPartitions)
            {
                return -1;
            }

            id = Register(topic, partition, first);
        }

        (_lastTopic, _lastPartition, _lastId) = (topic, partition, id);
        return id;
    }

    // The dispatcher (a partition's first record) or a declaring thread; the id is the partition's index.
    private int Register(string topic, int partition, long first)
    {
        lock (_registration)
        {
            if (_ids.TryGetValue((topic, partition), out var known))
            {
                return known;
            }

            var id = _partitions.Length;
            Volatile.Write(ref _partitions, [.. _partitions, new Partition(topic, partition, TopicHash(topic), first)]);
            _ids[(topic, partition)] = id;
            return id;
        }
    }

    private sealed record Partition(string Topic, int Number, uint Hash, long Start);

    // The bytes of a position's token before its sequence number.
    private sealed record EncodedPrefix(long Position, int Partitions, Guid Epoch, byte[] Bytes);

    private readonly EncodedPrefix?[] _encoded = new EncodedPrefix?[1024];
}

/// <summary>What <see cref="SourceFrontier.Locate"/> found.</summary>
internal enum LocateResult
{
    /// <summary>The log holds the token's place: <see cref="Located.Start"/>.</summary>
    Found,
    /// <summary>The token is older than this process's index for some partition: re-read the source first.</summary>
    Before,
}

/// <summary>A token's place in this log: where to start, what to skip after it, and whether it is further than this log in some partition.</summary>
internal readonly record struct Located(LocateResult Result, long Start, ResumeFloor? Floor, bool Ahead = false);

/// <summary>
/// Offsets a resumed stream has already passed, per partition id, beyond where the log's frontier
/// is at its start position: events of those partitions below them are skipped (another instance
/// interleaved the partitions differently, or read further).
/// </summary>
public sealed class ResumeFloor
{
    internal ResumeFloor(long[] offsets) => Offsets = offsets;

    internal long[] Offsets { get; }
}
