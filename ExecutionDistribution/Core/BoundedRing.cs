using System.Numerics;
using System.Runtime.InteropServices;

namespace ExecutionDistribution.Core;

/// <summary>
/// A bounded lock-free queue for many producers and many consumers (Dmitry Vyukov's array queue): the
/// slots are allocated once, so adding an item allocates nothing. Each slot carries a sequence number
/// that says whose turn it is: a producer claims a position with one compare-and-swap, writes the row,
/// then publishes it by advancing the slot's sequence; a consumer does the same from the other side.
/// Used for the dispatch core's ingest queue (many producers, the dispatcher) and the audit's rows.
/// </summary>
/// <remarks>
/// A consumer that reaches a slot claimed but not yet published sees the queue as empty for now and
/// comes back later; nothing is lost. <see cref="TryEnqueue"/> fails only when every slot is taken.
/// </remarks>
internal sealed class BoundedRing<T>
{
    private readonly Slot[] _slots;
    private readonly long _mask;
    private PaddedCounter _tail;
    private PaddedCounter _head;

    /// <summary>Creates a ring of at least <paramref name="capacity"/> slots (a power of two).</summary>
    public BoundedRing(int capacity)
    {
        var size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(2, capacity));
        _slots = new Slot[size];
        _mask = size - 1;
        for (var i = 0; i < size; i++)
        {
            _slots[i].Sequence = i;
        }
    }

    /// <summary>The number of slots.</summary>
    public int Capacity => _slots.Length;

    /// <summary>Items claimed and not yet taken (a snapshot, for statistics).</summary>
    public int Count => (int)Math.Clamp(Volatile.Read(ref _tail.Value) - Volatile.Read(ref _head.Value), 0, _slots.Length);

    /// <summary>Adds an item; false when the ring is full.</summary>
    public bool TryEnqueue(in T item)
    {
        var position = Volatile.Read(ref _tail.Value);
        while (true)
        {
            ref var slot = ref _slots[position & _mask];
            var turn = Volatile.Read(ref slot.Sequence) - position;
            if (turn == 0)
            {
                var seen = Interlocked.CompareExchange(ref _tail.Value, position + 1, position);
                if (seen == position)
                {
                    slot.Item = item;
                    Volatile.Write(ref slot.Sequence, position + 1);
                    return true;
                }

                position = seen;
            }
            else if (turn < 0)
            {
                return false; // the slot still holds the item of one lap ago: full
            }
            else
            {
                position = Volatile.Read(ref _tail.Value);
            }
        }
    }

    /// <summary>Takes the oldest item; false when there is none (published) yet.</summary>
    public bool TryDequeue(out T item)
    {
        var position = Volatile.Read(ref _head.Value);
        while (true)
        {
            ref var slot = ref _slots[position & _mask];
            var turn = Volatile.Read(ref slot.Sequence) - (position + 1);
            if (turn == 0)
            {
                var seen = Interlocked.CompareExchange(ref _head.Value, position + 1, position);
                if (seen == position)
                {
                    item = slot.Item;
                    slot.Item = default!; // let go of what the item references
                    Volatile.Write(ref slot.Sequence, position + _mask + 1);
                    return true;
                }

                position = seen;
            }
            else if (turn < 0)
            {
                item = default!;
                return false; // empty, or the next item is claimed and not yet written
            }
            else
            {
                position = Volatile.Read(ref _head.Value);
            }
        }
    }

    private struct Slot
    {
        public long Sequence;
        public T Item;
    }
}

/// <summary>A position on a cache line of its own, so producers and consumers do not share one.</summary>
[StructLayout(LayoutKind.Explicit, Size = 128)]
internal struct PaddedCounter
{
    [FieldOffset(64)]
    public long Value;
}
