using ExecutionDistribution.Core;
using ExecutionDistribution.Subscriptions;

namespace ExecutionDistribution.Streaming;

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
