namespace ExecutionDistribution.Core;

/// <summary>How far a subscriber has read: what the Kafka safe point and the connections' resume points are computed from.</summary>
public sealed partial class Subscriber
{
    /// <summary>
    /// Any thread (the Kafka safe point): while live, the position below which every event this
    /// subscriber takes has been read by its reader, and the last sequence number handed out for them.
    /// False while catching up or rejoining (then only the acknowledged point counts).
    /// </summary>
    internal bool TryObserveReadThrough(out long through, out long handedOut)
    {
        var before = _dispatcher.RoutedHead;
        through = 0;
        handedOut = 0;
        if (Volatile.Read(ref _mode) != Live)
        {
            return false;
        }

        var consumer = Volatile.Read(ref _consumerIndex.Value);
        if (consumer != Volatile.Read(ref _producerIndex.Value))
        {
            var ring = Volatile.Read(ref _ring);
            var next = Volatile.Read(ref ring[consumer & (ring.Length - 1)]);

            // The slot is only reused after the reader moves past it: if it has not moved, `next` is the next unread.
            if (Volatile.Read(ref _consumerIndex.Value) != consumer)
            {
                return false;
            }

            before = Math.Min(before, next);
        }

        through = before;
        handedOut = Volatile.Read(ref _handedOut);
        return true;
    }

    /// <summary>
    /// Reader: every position below the result that this subscriber takes has been read (the next
    /// unread one is at or above it). At most <paramref name="before"/>, which must not exceed
    /// <see cref="FanOutDispatcher.RoutedHead"/>.
    /// </summary>
    internal long ReadThrough(long before)
    {
        // Mode first: a rejoin that completes after this read only moves positions below the cursor into the ring.
        var mode = Volatile.Read(ref _mode);
        var consumer = _consumerIndex.Value;
        if (consumer != Volatile.Read(ref _producerIndex.Value))
        {
            // Catching up after a gap, the ring's entries from the cursor on are skipped: the cursor bounds too.
            var ring = Volatile.Read(ref _ring);
            var next = ring[consumer & (ring.Length - 1)];
            return Math.Min(mode == CatchingUp ? Math.Min(next, Volatile.Read(ref _catchUpCursor)) : next, before);
        }

        return mode is CatchingUp or RejoinPending ? Math.Min(Volatile.Read(ref _catchUpCursor), before) : before;
    }
}
