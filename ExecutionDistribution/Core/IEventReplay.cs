namespace ExecutionDistribution.Core;

/// <summary>
/// Re-reads events older than the retained log from where they came from (Kafka), in log order: for a
/// stream resuming from a token the log no longer covers (it receives exactly the matching events after
/// its token, with sequence numbers going on from it, then attaches to the core where the retained log
/// takes over), and for an at_least_once subscriber that fell behind the log while attached
/// (<see cref="Reread"/>). Registered by the Kafka module; absent without Kafka.
/// </summary>
public interface IEventReplay
{
    /// <summary>
    /// Null when every event after <paramref name="token"/> up to the retained log can be re-read (of
    /// this run, or of the earlier run that issued it and then of this one); otherwise why not.
    /// </summary>
    string? CannotReplay(ResumeToken token);

    /// <summary>
    /// Null when no offset of <paramref name="token"/> is past its partition's end; otherwise why (the
    /// topic was recreated, or the token is of another cluster). Asked when a token is ahead of this
    /// instance's log, which is also what a token of another instance that read further looks like.
    /// </summary>
    string? PastEnd(ResumeToken token);

    /// <summary>A cursor over the events after <paramref name="token"/> matching <paramref name="filter"/>, numbered after its sequence.</summary>
    IReplayCursor Open(SubscriptionFilter filter, ResumeToken token);
}

/// <summary>One stream's re-read (see <see cref="IEventReplay"/>). Not thread-safe; its calls block on Kafka.</summary>
public interface IReplayCursor : IDisposable
{
    /// <summary>Where the stream stands: the token of what has been handed out (of the earlier run while re-reading it).</summary>
    ResumeToken Token { get; }

    /// <summary>
    /// Fills <paramref name="batch"/> with the next matching events (it may stay empty after a stretch
    /// of events that do not match). Done when the cursor has reached the retained log: attach a
    /// subscriber at <see cref="Token"/> (then of this run, naming no earlier run); if the log has
    /// moved past that point meanwhile, call again: the cursor goes on. Waiting: the next event is
    /// not there yet (Kafka is fetching it, or this run is about to read it); call again after a
    /// short pause. Never blocks: Kafka is read in the background.
    /// </summary>
    /// <exception cref="ReplayException">An event cannot be re-read (Kafka no longer has it, or it did not come from Kafka).</exception>
    ReplayProgress Fill(DeliveryBatch batch, CancellationToken cancellationToken);
}

/// <summary>What <see cref="IReplayCursor.Fill"/> left: more to read, a wait, or the hand-over to the core (the retained log covers <see cref="IReplayCursor.Token"/>, a token of this run naming no earlier run).</summary>
public enum ReplayProgress
{
    /// <summary>More events to re-read: call again.</summary>
    More,
    /// <summary>The next event is not there yet: call again after a short pause.</summary>
    Waiting,
    /// <summary>The retained log takes over from <see cref="IReplayCursor.Token"/>.</summary>
    Done,
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
