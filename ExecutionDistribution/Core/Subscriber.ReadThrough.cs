namespace ExecutionDistribution.Core;

/// <summary>How far a subscriber has read: what a connection carrying several subscriptions sends up to.</summary>
public sealed partial class Subscriber
{
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
