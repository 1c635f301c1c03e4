using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Core;

/// <summary>
/// The retained log: a ring of the most recent events in ingest order, addressed by position.
/// Written only by the dispatcher thread; read concurrently by subscribers catching up or resuming.
/// Bounded by count (the ring's capacity), by bytes (the events' <see cref="ExecutionEvent.EstimatedBytes"/>)
/// and by age (<see cref="MaxAge"/>): the oldest event leaves first, and a reader asking for one that
/// left is told so rather than skipping it.
/// </summary>
internal sealed class RetainedLog
{
    private readonly ExecutionEvent?[] _slots;
    private readonly long _mask;
    private readonly TimeProvider _time;
    private readonly long _maxAgeTicks;
    private readonly long _maxBytes;
    private long _head;
    private long _tail;
    private long _bytes;

    public RetainedLog(int capacity, TimeSpan maxAge, TimeProvider time, long maxBytes = long.MaxValue)
    {
        _maxBytes = maxBytes;
        var size = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(capacity, 2));
        _slots = new ExecutionEvent?[size];
        _mask = size - 1;
        _time = time;
        MaxAge = maxAge;
        _maxAgeTicks = (long)(maxAge.TotalSeconds * time.TimestampFrequency);
    }

    /// <summary>Slots in the ring (a power of two).</summary>
    public int Capacity => _slots.Length;

    /// <summary>Events older than this are no longer served.</summary>
    public TimeSpan MaxAge { get; }

    /// <summary>The position the next event will get (one past the newest).</summary>
    public long Head => Volatile.Read(ref _head);

    /// <summary>The oldest position still retained.</summary>
    public long Tail => Volatile.Read(ref _tail);

    /// <summary>The estimated bytes of the events retained.</summary>
    public long Bytes => Volatile.Read(ref _bytes);

    /// <summary>Appends an event, stamping its position; the oldest leave past the capacity or the byte bound. Dispatcher thread only.</summary>
    public void Append(ExecutionEvent e)
    {
        var position = _head;
        e.Position = position;
        if (position - _tail == _slots.Length)
        {
            Drop(); // the ring is full: the oldest slot is the one written next
        }

        _bytes += e.EstimatedBytes;
        Volatile.Write(ref _slots[position & _mask], e);
        Volatile.Write(ref _head, position + 1);
        while (_bytes > _maxBytes && _tail < position)
        {
            Drop();
        }
    }

    /// <summary>Drops events past the age limit from the tail. Dispatcher thread only; bounded work per call.</summary>
    public void TrimExpired(int maxSlots)
    {
        var now = _time.GetTimestamp();
        var tail = _tail;
        var head = _head;
        while (maxSlots-- > 0 && tail < head)
        {
            var e = _slots[tail & _mask];
            if (e is not null && now - e.IngestTimestamp <= _maxAgeTicks)
            {
                break;
            }

            Drop();
            tail++;
        }
    }

    // The oldest event leaves: the tail moves first, so a reader never takes the slot it empties.
    private void Drop()
    {
        var tail = _tail;
        Volatile.Write(ref _tail, tail + 1);
        ref var slot = ref _slots[tail & _mask];
        if (slot is { } e)
        {
            _bytes -= e.EstimatedBytes;
            slot = null;
        }
    }

    /// <summary>
    /// The event at <paramref name="position"/>, if still retained (not overwritten, not expired).
    /// Any thread.
    /// </summary>
    public bool TryGet(long position, out ExecutionEvent e)
    {
        e = null!;
        if (position < Volatile.Read(ref _tail) || position >= Volatile.Read(ref _head))
        {
            return false;
        }

        var candidate = Volatile.Read(ref _slots[position & _mask]);
        if (candidate is null || candidate.Position != position)
        {
            return false;
        }

        e = candidate;
        return true;
    }

    /// <summary>True when <paramref name="e"/> is older than the age limit.</summary>
    public bool IsExpired(ExecutionEvent e) => _time.GetTimestamp() - e.IngestTimestamp > _maxAgeTicks;
}
