namespace ExecutionDistribution.Distribution;

/// <summary>
/// Re-reads events older than the retained log from where they came from (Kafka), in log order, for a
/// stream resuming from a token the log no longer covers: the stream receives exactly the matching
/// events after its token, with sequence numbers going on from it, then attaches to the core where the
/// retained log takes over. Registered by the Kafka module; absent without Kafka.
/// </summary>
public interface IEventReplay
{
    /// <summary>Null when every event from <paramref name="from"/> up to the retained log can be re-read; otherwise why not.</summary>
    string? CannotReplay(long from);

    /// <summary>A cursor over the events matching <paramref name="filter"/> from <paramref name="from"/>, numbered after <paramref name="sequence"/>.</summary>
    IReplayCursor Open(SubscriptionFilter filter, long from, long sequence);
}

/// <summary>One stream's re-read (see <see cref="IEventReplay"/>). Not thread-safe; its calls block on Kafka.</summary>
public interface IReplayCursor : IDisposable
{
    /// <summary>Every matching event before this position has been handed out.</summary>
    long Position { get; }

    /// <summary>The sequence number of the last event handed out.</summary>
    long Sequence { get; }

    /// <summary>
    /// Fills <paramref name="batch"/> with the next matching events (it may stay empty after a stretch
    /// of events that do not match). False when the cursor has reached the retained log: attach a
    /// subscriber at <see cref="Position"/> with <see cref="Sequence"/>. If the log has moved past
    /// that point meanwhile, call again: the cursor goes on.
    /// </summary>
    /// <exception cref="ReplayException">An event cannot be re-read (Kafka no longer has it, or it did not come from Kafka).</exception>
    bool Fill(DeliveryBatch batch, CancellationToken cancellationToken);
}

/// <summary>An event after a resume token cannot be re-read: the stream ends with this reason, never with a silent gap.</summary>
public sealed class ReplayException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ReplayException()
    {
    }

    /// <summary>Creates the exception with its reason.</summary>
    public ReplayException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its reason and cause.</summary>
    public ReplayException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
