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
    /// <summary>Re-read the events after the token from Kafka (<see cref="IEventReplay"/>), then attach.</summary>
    Replay,
    /// <summary>Not a token of this service: InvalidArgument.</summary>
    Invalid,
    /// <summary>A token of another cluster (or of another run without Kafka): FailedPrecondition.</summary>
    Foreign,
    /// <summary>Events after the token are gone and cannot be re-read: OutOfRange.</summary>
    Expired,
}

/// <summary>The one decision both streaming transports make for a resume token.</summary>
internal static class ResumeRouting
{
    /// <summary>
    /// Where a managed subscription's stream opened without a token starts: its last acknowledgement
    /// (or its creation), on whichever instance it was; without Kafka, after a restart, this run's
    /// head with the sequence going on (the earlier run's events are gone).
    /// </summary>
    public static ResumeToken StartOf(ManagedSubscription managed, FanOutDispatcher core) =>
        managed.Acknowledged is { Epoch: var epoch } acknowledged && epoch == core.TokenEpoch
            ? acknowledged
            : core.TokenAtHead(managed.Acknowledged.Sequence);

    public static (ResumeRoute Route, string? Reason) Decide(FanOutDispatcher core, IEventReplay? replay, ResumeToken token)
    {
        var point = core.Locate(token);
        switch (point.Check)
        {
            case ResumeCheck.Available when point.Ahead && replay?.PastEnd(token) is { } pastEnd:
                // Ahead of this instance: another read further, or the offsets are of a topic since recreated.
                return (ResumeRoute.Expired, pastEnd);
            case ResumeCheck.Available:
                return (ResumeRoute.Attach, null);
            case ResumeCheck.Foreign:
                return (ResumeRoute.Foreign, point.Reason);
        }

        var cannot = replay is null ? $"{point.Reason}, and there is no Kafka to re-read it from; events were missed" : replay.CannotReplay(token);
        return cannot is null ? (ResumeRoute.Replay, null) : (ResumeRoute.Expired, cannot);
    }
}
