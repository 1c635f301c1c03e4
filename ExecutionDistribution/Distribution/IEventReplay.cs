using ExecutionDistribution.Subscriptions;

namespace ExecutionDistribution.Distribution;

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

/// <summary>The one re-reading loop both streaming transports run.</summary>
internal static class ReplayStreaming
{
    /// <summary>
    /// Re-reads the events after <paramref name="from"/> matching <paramref name="filter"/>, hands each
    /// non-empty batch with the token after it to <paramref name="send"/>, pauses briefly while the
    /// cursor waits, and returns where the core takes over.
    /// </summary>
    /// <exception cref="ReplayException">An event cannot be re-read.</exception>
    public static async Task<ResumeToken> SendUntilHandOverAsync(
        this IEventReplay replay, SubscriptionFilter filter, ResumeToken from, int batchSize, Func<DeliveryBatch, ResumeToken, Task> send, CancellationToken cancellationToken)
    {
        using var cursor = replay.Open(filter, from);
        var batch = new DeliveryBatch(batchSize);
        while (true)
        {
            var progress = cursor.Fill(batch, cancellationToken);
            if (batch.Count > 0)
            {
                await send(batch, cursor.Token).ConfigureAwait(false);
            }
            else if (progress == ReplayProgress.Waiting)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(5), cancellationToken).ConfigureAwait(false);
            }

            if (progress == ReplayProgress.Done)
            {
                return cursor.Token;
            }
        }
    }
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

/// <summary>How a stream starts from a resume token: attached to the core, re-read first, or refused.</summary>
internal enum ResumeRoute
{
    /// <summary>The retained log has every event after the token.</summary>
    Attach,
    /// <summary>Re-read the events after the token (<see cref="IEventReplay"/>), then attach.</summary>
    Replay,
    /// <summary>Not a token of this service: InvalidArgument.</summary>
    Invalid,
    /// <summary>A token of an earlier run that cannot be re-read: FailedPrecondition.</summary>
    EarlierRun,
    /// <summary>Events after the token are gone and cannot be re-read: OutOfRange.</summary>
    Expired,
}

/// <summary>The one decision both streaming transports make for a resume token.</summary>
internal static class ResumeRouting
{
    /// <summary>
    /// Where a managed subscription's stream opened without a token starts: its last acknowledgement
    /// (or its creation), also when that was in an earlier run whose events can be re-read; otherwise,
    /// for an earlier run, the start of this run's log (everything unacknowledged is read again from Kafka).
    /// </summary>
    public static ResumeToken StartOf(ManagedSubscription managed, FanOutDispatcher core, IEventReplay? replay)
    {
        var acknowledged = managed.Acknowledged;
        return acknowledged.Epoch != core.LogEpoch && replay is not null && replay.CannotReplay(acknowledged) is null
            ? acknowledged
            : managed.StartIn(core.LogEpoch, core.Tail);
    }

    public static (ResumeRoute Route, string? Reason) Decide(FanOutDispatcher core, IEventReplay? replay, ResumeToken token)
    {
        var check = core.CheckResume(token);
        if (check == ResumeCheck.Available && token.EarlierRun == Guid.Empty)
        {
            return (ResumeRoute.Attach, null);
        }

        if (check == ResumeCheck.Invalid)
        {
            return (ResumeRoute.Invalid, "is not a resume token issued by this service");
        }

        var cannot = replay is not null
            ? replay.CannotReplay(token)
            : check == ResumeCheck.OtherEpoch
                ? "is from an earlier run of the service; its events cannot be replayed exactly (no Kafka to re-read them from)"
                : $"points before the oldest retained event (position {core.Tail}); events were missed";
        return cannot is null
            ? (ResumeRoute.Replay, null)
            : (check == ResumeCheck.OtherEpoch ? ResumeRoute.EarlierRun : ResumeRoute.Expired, cannot);
    }
}
