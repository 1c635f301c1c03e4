using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Core;

/// <summary>The seam every ingest path (Kafka, REST, the demo feed) publishes through.</summary>
public interface IExecutionIngest
{
    /// <summary>Hands an event to the dispatch core if the ingest queue has room; never blocks.</summary>
    bool TryPublish(ExecutionEvent e);

    /// <summary>
    /// Like <see cref="TryPublish(ExecutionEvent)"/> but leaves the dispatcher asleep: a producer that has a
    /// batch at hand publishes it all, then calls <see cref="WakeDispatcher"/> once (one wake-up per batch).
    /// </summary>
    bool TryPublishWithoutWake(ExecutionEvent e);

    /// <summary>Wakes the dispatcher if it is asleep.</summary>
    void WakeDispatcher();

    /// <summary>Hands an event to the dispatch core, waiting while the ingest queue is full (back-pressure).</summary>
    ValueTask PublishAsync(ExecutionEvent e, CancellationToken cancellationToken);
}

/// <summary>Routes matches of the dispatcher thread into subscriber rings.</summary>
internal readonly struct DispatchSink(FanOutDispatcher dispatcher) : IRouteSink
{
    public void Deliver(Subscriber subscriber, long position) => dispatcher.Deliver(subscriber, position);
}

/// <summary>Counters of the dispatch core.</summary>
/// <param name="Ingested">Events appended to the log.</param>
/// <param name="Routed">Deliveries offered to subscribers (including ones that overflowed).</param>
/// <param name="Delivered">Deliveries read by subscribers currently attached.</param>
/// <param name="Dropped">at_most_once deliveries dropped, for subscribers currently attached.</param>
/// <param name="RejectedFull">TryPublish calls refused because the ingest queue was full.</param>
/// <param name="Subscribers">Attached subscribers.</param>
/// <param name="CatchingUp">Subscribers currently reading from the log instead of the live path.</param>
/// <param name="LogHead">Next position.</param>
/// <param name="LogTail">Oldest retained position.</param>
/// <param name="LogCapacity">Retained log slots.</param>
/// <param name="IngestQueueDepth">Events waiting for the dispatcher.</param>
/// <param name="LogEpoch">This process's log epoch.</param>
/// <param name="Rereads">Times the attached at_least_once subscribers fell behind the retained log and re-read from Kafka.</param>
/// <param name="BufferBytesGrown">Bytes of subscriber rings beyond their initial 8 KB each (counted against <see cref="DistributionOptions.SubscriberBufferBudgetBytes"/>).</param>
/// <param name="BufferGrowthsRefused">Times a full ring was not grown because the budget was spent (its overflow policy applied instead).</param>
/// <param name="LogBytes">Estimated bytes of the retained events (bounded by <see cref="DistributionOptions.RetainedLogMaxBytes"/>).</param>
public sealed record DistributionStats(
    long Ingested,
    long Routed,
    long Delivered,
    long Dropped,
    long RejectedFull,
    int Subscribers,
    long CatchingUp,
    long LogHead,
    long LogTail,
    int LogCapacity,
    int IngestQueueDepth,
    Guid LogEpoch,
    long Rereads = 0,
    long BufferBytesGrown = 0,
    long BufferGrowthsRefused = 0,
    long LogBytes = 0);

/// <summary>How far one subscriber is behind (<see cref="FanOutDispatcher.Slowest"/>).</summary>
/// <param name="Id">The subscriber (a stream's subscription id, or an in-process consumer).</param>
/// <param name="Guarantee">at_least_once or at_most_once.</param>
/// <param name="Behind">Positions queued for it, including what it has still to read from the log while catching up.</param>
/// <param name="CatchingUp">Reading from the retained log or Kafka instead of the live path.</param>
/// <param name="Delivered">Deliveries read so far.</param>
/// <param name="Dropped">at_most_once deliveries dropped.</param>
/// <param name="LostPositions">Positions announced lost.</param>
public sealed record SubscriberLag(string Id, string Guarantee, long Behind, bool CatchingUp, long Delivered, long Dropped, long LostPositions);

/// <summary>Why a subscription was refused.</summary>
public enum SubscriptionRejection
{
    /// <summary>A subscriber with that id is already attached.</summary>
    DuplicateId,
    /// <summary>The service's subscriber limit is reached.</summary>
    LimitReached,
}

/// <summary>Thrown when the core refuses a subscriber; transports map it to their error (ResourceExhausted, 1008, 409/429).</summary>
public sealed class SubscriptionRejectedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SubscriptionRejectedException(SubscriptionRejection reason, string message)
        : base(message) => Reason = reason;

    /// <summary>Creates the exception.</summary>
    public SubscriptionRejectedException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public SubscriptionRejectedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public SubscriptionRejectedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Why.</summary>
    public SubscriptionRejection Reason { get; }
}

/// <summary>Told of every event dropped for an at_most_once subscriber, on the dispatcher thread; must not block.</summary>
public interface IDropObserver
{
    /// <summary><paramref name="e"/> was dropped for <paramref name="subscriber"/>.</summary>
    void Dropped(Subscriber subscriber, ExecutionEvent e);
}

/// <summary>
/// A part that needs events kept in Kafka until it is done with them: the Kafka ingest commits a
/// record's offset only once its event's position is below every part's <see cref="SafeBefore"/>.
/// </summary>
public interface IDurableHold
{
    /// <summary>
    /// Every event before this position of the current run (log epoch <paramref name="epoch"/>, oldest
    /// retained position <paramref name="tail"/>) is done with, as far as this part is concerned;
    /// <see cref="long.MaxValue"/> when it holds nothing.
    /// </summary>
    long SafeBefore(Guid epoch, long tail);
}
