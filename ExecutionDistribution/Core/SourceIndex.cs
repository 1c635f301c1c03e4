using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;
using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Core;

/// <summary>
/// Where each log position came from: the Kafka topic, partition and offset of its event, kept for far
/// more positions than the retained log holds events (8 bytes a position against a whole event), so a
/// stream resuming from a token older than the retained log can re-read exactly the events after it
/// from Kafka, in log order (<see cref="IEventReplay"/>).
/// <para>
/// A ring of <see cref="Capacity"/> entries behind a header holding the head, and per partition its
/// topic and the highest offset recorded. In memory, or in a memory-mapped file per run
/// (<c>Distribution:SourceIndexDirectory</c>): every write lands in the page cache at once, so a
/// process killed at any instant leaves the index of everything it had dispatched, and the next run
/// can serve the earlier run's tokens. Pages are committed as they are touched.
/// </para>
/// Written only by the dispatcher thread, one entry per position in order; read by any thread.
/// </summary>
internal sealed unsafe class SourceIndex : IDisposable
{
    /// <summary>File name suffix of a run's index.</summary>
    public const string FileSuffix = ".sources";

    private const long Magic = 0x5844_4958_4443_5253; // "SRCDXIDX"
    private const int Version = 1;
    private const int OffsetBits = 47;
    private const long OffsetMask = (1L << OffsetBits) - 1;
    private const int HeaderBytes = 1 << 20;
    private const int PartitionTableStart = 64;
    private const int PartitionEntryBytes = 256;
    private const int MaxTopicBytes = PartitionEntryBytes - 16;
    private const int MaxPartitions = (HeaderBytes - PartitionTableStart) / PartitionEntryBytes;

    private readonly byte* _base;
    private readonly long* _entries;
    private readonly long _mask;
    private readonly MemoryMappedFile? _file;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly Dictionary<(string Topic, int Partition), int> _ids = [];

    // Partition id -> (topic, partition), copy-on-write so readers need no lock.
    private (string Topic, int Partition)[] _partitions = [];

    // The last partition seen: most events in a row come from few partitions, and topic names are fresh strings per record.
    private string? _lastTopic;
    private int _lastPartition = -1;
    private int _lastId = -1;
    private int _disposed;

    private SourceIndex(byte* @base, long capacity, MemoryMappedFile? file, MemoryMappedViewAccessor? view, Guid epoch, bool create)
    {
        _base = @base;
        _entries = (long*)(@base + HeaderBytes);
        _mask = capacity - 1;
        _file = file;
        _view = view;
        Epoch = epoch;
        if (create)
        {
            *(long*)(_base + 16) = capacity;
            epoch.TryWriteBytes(new Span<byte>(_base + 40, 16));
            *(int*)(_base + 8) = Version;
            Volatile.Write(ref *(long*)_base, Magic);
        }
        else
        {
            var count = Math.Min(*(int*)(_base + 32), MaxPartitions);
            var partitions = new (string, int)[count];
            for (var i = 0; i < count; i++)
            {
                var entry = _base + PartitionTableStart + (i * PartitionEntryBytes);
                var length = Math.Min((int)*(ushort*)(entry + 4), MaxTopicBytes);
                partitions[i] = (Encoding.UTF8.GetString(entry + 16, length), *(int*)entry);
            }

            _partitions = partitions;
        }
    }

    /// <summary>The run (log epoch) whose positions these are.</summary>
    public Guid Epoch { get; }

    /// <summary>Positions the index can hold (a power of two).</summary>
    public long Capacity => _mask + 1;

    /// <summary>One past the newest position recorded.</summary>
    public long Head => Volatile.Read(ref *(long*)(_base + 24));

    /// <summary>The oldest position still recorded.</summary>
    public long Oldest => Math.Max(0, Head - Capacity);

    /// <summary>The index of a new run: in memory, or in a new file of <paramref name="directory"/>.</summary>
    public static SourceIndex Create(int capacity, Guid epoch, string? directory)
    {
        var size = (long)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(capacity, 1024));
        var bytes = HeaderBytes + (size * sizeof(long));
        if (string.IsNullOrEmpty(directory))
        {
            // Large zeroed allocations are mapped lazily by the OS: memory grows with the positions written.
            return new SourceIndex((byte*)NativeMemory.AllocZeroed((nuint)bytes), size, null, null, epoch, create: true);
        }

        Directory.CreateDirectory(directory);
        var file = MemoryMappedFile.CreateFromFile(PathOf(directory, epoch), FileMode.CreateNew, mapName: null, bytes, MemoryMappedFileAccess.ReadWrite);
        return Map(file, epoch, create: true, MemoryMappedFileAccess.ReadWrite);
    }

    /// <summary>An earlier run's index, read-only, or null when the directory does not keep it.</summary>
    public static SourceIndex? OpenEarlier(string? directory, Guid epoch)
    {
        if (string.IsNullOrEmpty(directory) || !File.Exists(PathOf(directory, epoch)))
        {
            return null;
        }

        MemoryMappedFile file;
        try
        {
            file = MemoryMappedFile.CreateFromFile(PathOf(directory, epoch), FileMode.Open, mapName: null, 0, MemoryMappedFileAccess.Read);
        }
        catch (IOException)
        {
            return null;
        }

        var index = Map(file, epoch, create: false, MemoryMappedFileAccess.Read);
        if (*(long*)index._base != Magic || *(int*)(index._base + 8) != Version || new Guid(new ReadOnlySpan<byte>(index._base + 40, 16)) != epoch)
        {
            index.Dispose();
            return null;
        }

        return index;
    }

    /// <summary>True when <paramref name="directory"/> keeps the index of run <paramref name="epoch"/>.</summary>
    public static bool Exists(string? directory, Guid epoch) => !string.IsNullOrEmpty(directory) && File.Exists(PathOf(directory, epoch));

    /// <summary>Deletes the index files of runs older than the newest <paramref name="keep"/>.</summary>
    public static void DeleteOldRuns(string? directory, int keep)
    {
        if (string.IsNullOrEmpty(directory) || !Directory.Exists(directory))
        {
            return;
        }

        foreach (var old in new DirectoryInfo(directory).GetFiles("*" + FileSuffix).OrderByDescending(f => f.LastWriteTimeUtc).Skip(keep))
        {
            try
            {
                old.Delete();
            }
            catch (IOException)
            {
                // Still open by another process: the next start tries again.
            }
        }
    }

    /// <summary>Per (topic, partition): one past the highest offset recorded, i.e. where a later run's new records begin.</summary>
    public Dictionary<(string Topic, int Partition), long> Frontier()
    {
        var partitions = Volatile.Read(ref _partitions);
        var frontier = new Dictionary<(string, int), long>(partitions.Length);
        for (var i = 0; i < partitions.Length; i++)
        {
            frontier[partitions[i]] = Volatile.Read(ref *(long*)(_base + PartitionTableStart + (i * PartitionEntryBytes) + 8)) + 1;
        }

        return frontier;
    }

    /// <summary>Records the source of the event at <paramref name="position"/> (the next one). Dispatcher thread only.</summary>
    public void Record(long position, SourcePosition? source)
    {
        long entry = 0;
        if (source is { } s && (ulong)s.Offset <= OffsetMask && IdOf(s.Topic, s.Partition) is var id && id >= 0)
        {
            entry = ((long)(id + 1) << OffsetBits) | s.Offset;
            var last = (long*)(_base + PartitionTableStart + (id * PartitionEntryBytes) + 8);
            if (s.Offset > *last)
            {
                Volatile.Write(ref *last, s.Offset);
            }
        }

        Volatile.Write(ref _entries[position & _mask], entry);
        Volatile.Write(ref *(long*)(_base + 24), position + 1);
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

        var entry = Volatile.Read(ref _entries[position & _mask]);

        // The dispatcher may have overwritten the slot while it was read: check it is still this position's.
        if (position < Oldest)
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

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        if (_view is null)
        {
            NativeMemory.Free(_base);
            return;
        }

        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file!.Dispose();
    }

    private static string PathOf(string directory, Guid epoch) => Path.Combine(directory, epoch.ToString("N") + FileSuffix);

    private static SourceIndex Map(MemoryMappedFile file, Guid epoch, bool create, MemoryMappedFileAccess access)
    {
        var view = file.CreateViewAccessor(0, 0, access);
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        pointer += view.PointerOffset;
        var capacity = create ? (view.Capacity - HeaderBytes) / sizeof(long) : *(long*)(pointer + 16);
        capacity = (long)System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)Math.Max(capacity, 1));
        if (HeaderBytes + (capacity * sizeof(long)) > view.Capacity)
        {
            // Not a whole index (truncated): treat as empty.
            capacity = 1;
        }

        return new SourceIndex(pointer, capacity, file, view, epoch, create);
    }

    private int IdOf(string topic, int partition)
    {
        if (partition == _lastPartition && string.Equals(topic, _lastTopic, StringComparison.Ordinal))
        {
            return _lastId;
        }

        if (!_ids.TryGetValue((topic, partition), out var id))
        {
            var length = Encoding.UTF8.GetByteCount(topic);
            if (_ids.Count >= MaxPartitions || length > MaxTopicBytes)
            {
                return -1;
            }

            id = _ids.Count;
            var entry = _base + PartitionTableStart + (id * PartitionEntryBytes);
            *(int*)entry = partition;
            *(ushort*)(entry + 4) = (ushort)length;
            *(long*)(entry + 8) = -1;
            Encoding.UTF8.GetBytes(topic, new Span<byte>(entry + 16, MaxTopicBytes));
            Volatile.Write(ref *(int*)(_base + 32), id + 1);
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
