using System.Runtime.CompilerServices;
using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Core;

/// <summary>
/// What the dispatcher thread does to a subscriber: offers it positions into its ring (written by the
/// dispatcher alone, grown when full below the buffer capacity, given back once quiet), applies its
/// overflow policy, and moves it between the live path and catching up.
/// </summary>
public sealed partial class Subscriber
{
    /// <summary>Dispatcher thread: offer a matching event. Returns true when the reader should be woken.</summary>
    internal bool Offer(long position)
    {
        if (Volatile.Read(ref _mode) != Live)
        {
            return false;
        }

        if (!TryAppend(position))
        {
            Overflow(position);
        }

        return true;
    }

    private void Overflow(long position)
    {
        if (Guarantee == DeliveryGuarantee.AtMostOnce)
        {
            Interlocked.Increment(ref _droppedPending);
            Volatile.Write(ref _droppedTotal, _droppedTotal + 1);
            if (_dispatcher.DropObserver is { } observer && _log.TryGet(position, out var dropped))
            {
                observer.Dropped(this, dropped);
            }

            return;
        }

        // Leave the live path: the reader drains the ring, then reads the log from this position.
        Volatile.Write(ref _catchUpCursor, position);
        if (Interlocked.CompareExchange(ref _mode, CatchingUp, Live) == Live)
        {
            Volatile.Write(ref _catchUps, _catchUps + 1);
        }
    }

    /// <summary>
    /// Dispatcher thread, between batches: every position below <paramref name="head"/> has been
    /// dispatched. Deliver [cursor, head) from the log and go live, or stay catching up if the ring fills.
    /// </summary>
    internal void CompleteRejoin(long head)
    {
        if (Volatile.Read(ref _mode) != RejoinPending)
        {
            return;
        }

        var cursor = Volatile.Read(ref _catchUpCursor);
        if (cursor < _log.Tail)
        {
            if (CanReread)
            {
                // The log moved past the cursor meanwhile: back to the reader, which re-reads from Kafka.
                BackToCatchUp(cursor);
                return;
            }

            Interlocked.Add(ref _lostPending, _log.Tail - cursor);
            cursor = _log.Tail;
        }

        for (; cursor < head; cursor++)
        {
            if (!_log.TryGet(cursor, out var e))
            {
                if (CanReread)
                {
                    BackToCatchUp(cursor);
                    return;
                }

                Interlocked.Increment(ref _lostPending);
                continue;
            }

            if (!Filter.Matches(e))
            {
                continue;
            }

            if (!TryAppend(cursor))
            {
                BackToCatchUp(cursor);
                return;
            }
        }

        Interlocked.CompareExchange(ref _mode, Live, RejoinPending);

        // Wake the reader only if the seam delivered something; going live alone is nothing to read,
        // except to a reader of several subscribers (log order), whose others may wait for this one to read through.
        if (_producerIndex.Value != Volatile.Read(ref _consumerIndex.Value) || _logOrder)
        {
            Signal();
        }
    }

    // at_least_once with Kafka to re-read from: a position the log no longer has is re-read, not lost.
    private bool CanReread => Guarantee == DeliveryGuarantee.AtLeastOnce && _dispatcher.Replay is not null;

    /// <summary>
    /// Dispatcher thread, between batches: the reader found <paramref name="position"/> in the ring gone
    /// from the log and stopped there. Catch up from it (re-read from Kafka); the ring's entries from it
    /// on are skipped by the reader, since the catch-up covers them.
    /// </summary>
    internal void FallBehind(long position)
    {
        if (Volatile.Read(ref _mode) == Live)
        {
            Volatile.Write(ref _catchUpCursor, position);
            if (Interlocked.CompareExchange(ref _mode, CatchingUp, Live) == Live)
            {
                Volatile.Write(ref _catchUps, _catchUps + 1);
            }
        }
        else if (Volatile.Read(ref _mode) == CatchingUp && position < Volatile.Read(ref _catchUpCursor))
        {
            // It overflowed meanwhile, at a later position: the gap comes first.
            Volatile.Write(ref _catchUpCursor, position);
        }

        Signal();
    }

    // Dispatcher, rejoining: the reader goes on catching up from the cursor.
    private void BackToCatchUp(long cursor)
    {
        Volatile.Write(ref _catchUpCursor, cursor);
        Interlocked.CompareExchange(ref _mode, CatchingUp, RejoinPending);
        Signal();
    }

    /// <summary>
    /// Dispatcher thread: writes <paramref name="position"/> into the ring and publishes it, growing a
    /// full ring below the buffer capacity. False, writing nothing, when the ring is full at capacity.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryAppend(long position)
    {
        var producer = _producerIndex.Value;
        var ring = _ring;
        if (producer - _cachedConsumerIndex >= ring.Length)
        {
            _cachedConsumerIndex = Volatile.Read(ref _consumerIndex.Value);
            if (producer - _cachedConsumerIndex >= ring.Length)
            {
                if (ring.Length >= _maxRingSize || !_dispatcher.TryReserveRingGrowth(GrowthBytes(ring.Length)))
                {
                    return false;
                }

                ring = Grow(producer, _cachedConsumerIndex);
            }
        }

        ring[producer & (ring.Length - 1)] = position;
        Volatile.Write(ref _producerIndex.Value, producer + 1);
        return true;
    }

    private int GrownSize(int size) => Math.Min(_maxRingSize, size * 2);

    // Bytes a ring of `size` positions adds when it grows (counted against the core's buffer budget).
    private long GrowthBytes(int size) => (GrownSize(size) - (long)size) * sizeof(long);

    // Not zeroed: a slot is read only below the producer index, after the dispatcher wrote it (and
    // zeroing a ring per subscriber was most of the time of a reconnect storm).
    private static long[] NewRing(int size) => GC.AllocateUninitializedArray<long>(size);

    /// <summary>
    /// Dispatcher thread: the ring is full below its capacity. Copy the unread positions
    /// [<paramref name="consumer"/>, <paramref name="producer"/>) into a ring twice the size and publish it.
    /// </summary>
    /// <remarks>
    /// Safe against a reader mid-read without a lock: the reader only reads slots below the producer
    /// index it read, at or above its consumer index, and those slots hold the same positions in the
    /// old ring (never written again) and in the new one; it reads the ring reference after the
    /// producer index, and the new ring is published before any position written only there.
    /// </remarks>
    private long[] Grow(long producer, long consumer)
    {
        var old = _ring;
        var grown = NewRing(GrownSize(old.Length));
        var (oldMask, newMask) = (old.Length - 1, grown.Length - 1);
        for (var p = consumer; p < producer; p++)
        {
            grown[p & newMask] = old[p & oldMask];
        }

        Volatile.Write(ref _ring, grown);
        _grownAt = _dispatcher.RingClock();
        Volatile.Write(ref _ringGrowths, _ringGrowths + 1);
        if (old.Length == InitialRingSize)
        {
            _dispatcher.RingGrown(this);
        }

        return grown;
    }

    /// <summary>
    /// Dispatcher thread: give back a grown ring that is empty at <paramref name="now"/> and has not
    /// grown for <paramref name="quietTicks"/> (of the dispatcher's <see cref="TimeProvider"/>), so a
    /// subscriber that once fell behind does not keep a large ring for good. True once the ring is
    /// back to its initial size (or the subscriber is closed).
    /// </summary>
    internal bool TryShrink(long now, long quietTicks)
    {
        var ring = _ring;
        if (ring.Length <= InitialRingSize)
        {
            return true;
        }

        // What this ring took of the core's buffer budget beyond its initial size.
        var grownBytes = (ring.Length - (long)InitialRingSize) * sizeof(long);
        if (IsClosed)
        {
            // Nothing appends to a closed subscriber's ring again: its growth goes back to the budget.
            _dispatcher.ReleaseRingGrowth(grownBytes);
            return true;
        }

        if (now - _grownAt < quietTicks
            || Volatile.Read(ref _consumerIndex.Value) != _producerIndex.Value)
        {
            return false;
        }

        // Empty: the reader has read every slot it will read of this ring (it published its index
        // after reading them), and reads the replacement for any position written from now on.
        Volatile.Write(ref _ring, NewRing(InitialRingSize));
        Volatile.Write(ref _ringShrinks, _ringShrinks + 1);
        _dispatcher.ReleaseRingGrowth(grownBytes);
        return true;
    }

    /// <summary>Times the ring grew (dispatcher-written; tests and diagnostics).</summary>
    internal long RingGrowths => Volatile.Read(ref _ringGrowths);

    /// <summary>Times a grown ring was given back (dispatcher-written; tests and diagnostics).</summary>
    internal long RingShrinks => Volatile.Read(ref _ringShrinks);

    /// <summary>Positions the ring holds now (it grows when full, up to the buffer capacity).</summary>
    internal int RingSize => Volatile.Read(ref _ring).Length;
}
