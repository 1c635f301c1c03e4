using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Core;

/// <summary>
/// The retained log: a ring of the most recent events in ingest order, addressed by position.
/// Written only by the dispatcher thread; read concurrently by subscribers catching up or resuming.
/// Bounded by count (the ring's capacity) and by age (<see cref="MaxAge"/>): an event older than
/// that, or overwritten, is gone, and a reader asking for it is told so rather than skipping it.
/// </summary>
internal sealed class RetainedLog
{
    private readonly ExecutionEvent?[] _slots;
    private readonly long _mask;
    private readonly TimeProvider _time;
    private readonly long _maxAgeTicks;
    private long _head;
    private long _tail;

    public RetainedLog(int capacity, TimeSpan maxAge, TimeProvider time)
    {
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

    /// <summary>Appends an event, stamping its position. Dispatcher thread only.</summary>
    public void Append(ExecutionEvent e)
    {
        var position = _head;
        e.Position = position;
        Volatile.Write(ref _slots[position & _mask], e);
        Volatile.Write(ref _head, position + 1);
        if (position + 1 - _tail > _slots.Length)
        {
            Volatile.Write(ref _tail, position + 1 - _slots.Length);
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

            _slots[tail & _mask] = null;
            tail++;
        }

        Volatile.Write(ref _tail, tail);
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
