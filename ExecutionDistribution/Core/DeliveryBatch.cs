using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Core;

/// <summary>One event delivered to one subscriber, with its per-subscriber sequence number.</summary>
/// <param name="Event">The event (shared by every subscriber; its serialized bytes too).</param>
/// <param name="Sequence">1, 2, 3, ... per subscriber, with no gaps among delivered events.</param>
public readonly record struct Delivery(ExecutionEvent Event, long Sequence);

/// <summary>
/// A reusable holder for what one <see cref="Subscriber.TryReadBatch(DeliveryBatch)"/> call returns: deliveries in
/// the order the subscriber must process them, plus what it must be told (drops, gaps) and where to
/// resume. One per reader, reused for every read, so reading allocates nothing.
/// </summary>
public sealed class DeliveryBatch
{
    private readonly Delivery[] _items;

    /// <summary>Creates a batch holder of the given capacity.</summary>
    public DeliveryBatch(int capacity = 256) => _items = new Delivery[capacity];

    /// <summary>Deliveries in this batch.</summary>
    public ReadOnlySpan<Delivery> Deliveries => _items.AsSpan(0, Count);

    /// <summary>Number of deliveries.</summary>
    public int Count { get; private set; }

    /// <summary>Most deliveries one read returns.</summary>
    public int Capacity => _items.Length;

    /// <summary>at_most_once: events dropped for this subscriber since the previous batch (announce them).</summary>
    public long Dropped { get; internal set; }

    /// <summary>
    /// Positions that could not be delivered because the retained log no longer held them
    /// (the subscriber fell behind further than retention); 0 when none. Never silent.
    /// </summary>
    public long LostPositions { get; internal set; }

    /// <summary>
    /// The log position to resume from after this batch: every matching event before it has been
    /// delivered (or announced as dropped or lost).
    /// </summary>
    public long ResumePosition { get; internal set; }

    /// <summary>
    /// Set while the subscriber re-reads Kafka (it is behind the retained log, so no log position says
    /// where it stands): the token after this batch. Null otherwise: the token is that of <see cref="ResumePosition"/>.
    /// </summary>
    public ResumeToken? Token { get; internal set; }

    /// <summary>The sequence number of the last delivery so far (carried into a resumed subscriber).</summary>
    public long LastSequence { get; internal set; }

    /// <summary>True when the batch has nothing to deliver or announce.</summary>
    public bool IsEmpty => Count == 0 && Dropped == 0 && LostPositions == 0;

    internal Delivery[] Items => _items;

    internal void Reset()
    {
        Count = 0;
        Dropped = 0;
        LostPositions = 0;
    }

    internal void SetCount(int count) => Count = count;
}
