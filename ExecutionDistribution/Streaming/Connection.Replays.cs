using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Subscriptions;

namespace ExecutionDistribution.Streaming;

/// <summary>Opening a subscription beside others whose resume point is older than the retained log (a multiplexed connection).</summary>
internal abstract partial class Connection
{
    // A connection of one subscription re-reads Kafka before it joins, in its opening.
    private const string OnlyMultiplexed = "only a connection of several subscriptions opens one beside the others";

    private readonly List<Task> _replays = [];

    /// <summary>Writes one frame of events re-read from Kafka for one subscription still opening (a connection that carries several), with the token after them.</summary>
    protected virtual Task WriteReplayFrameAsync(string id, DeliveryBatch batch, string resumeToken) =>
        throw new InvalidOperationException(OnlyMultiplexed);

    /// <summary>
    /// Tells the client subscription <paramref name="subscriptionId"/>, already announced as subscribed, could not
    /// go on (answering <paramref name="requestId"/>, if it came in a request, and naming the subscription either way).
    /// </summary>
    protected virtual Task WriteOpenFailedAsync(string? requestId, string subscriptionId, OpenRefusal refusal) =>
        throw new InvalidOperationException(OnlyMultiplexed);

    /// <summary>Tells the client a subscription ended before it joined (while it re-read Kafka), and where to resume it (<see cref="Admission.ResumeToken"/>).</summary>
    protected virtual Task WriteOpeningEndedAsync(Admission admission) =>
        throw new InvalidOperationException(OnlyMultiplexed);

    /// <summary>
    /// Opens, on a connection that carries several subscriptions, one whose resume point is older than
    /// the retained log: in the background, its events are re-read from Kafka in log order and written
    /// as frames of their own between the connection's other frames; then it joins the dispatch core
    /// where the retained log takes over, with no gap and no repeat. The connection's other
    /// subscriptions and the client's commands go on meanwhile. The client has been told "subscribed"
    /// at <paramref name="from"/>; a record that cannot be re-read ends it with the reason
    /// (<see cref="RefusalKind.NotReReadable"/>), after the events before it.
    /// </summary>
    protected void OpenWithReplay(
        Admission admission, IEventReplay replay, SubscriptionFilter filter, DeliveryGuarantee guarantee, ResumeToken from, int bufferCapacity, int batchSize,
        string? requestId)
    {
        var task = Task.Run(async () =>
        {
            try
            {
                await ReplayThenJoinAsync(admission, replay, filter, guarantee, from, bufferCapacity, batchSize, requestId).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException || IsDisconnect(ex))
            {
                // The connection ended while this was answered.
            }
        }, CancellationToken.None);
        lock (_replays)
        {
            _replays.RemoveAll(t => t.IsCompleted);
            _replays.Add(task);
        }
    }

    /// <summary>Waits for the re-readings still running (after <see cref="ConnectionSubscriptions.StopAll"/>, which ends them).</summary>
    protected Task ReplaysEndedAsync()
    {
        lock (_replays)
        {
            return Task.WhenAll(_replays);
        }
    }

    private async Task ReplayThenJoinAsync(
        Admission admission, IEventReplay replay, SubscriptionFilter filter, DeliveryGuarantee guarantee, ResumeToken from, int bufferCapacity, int batchSize,
        string? requestId)
    {
        var aborted = Aborted;
        admission.ResumeToken = from.Encode();
        try
        {
            // Ends between batches when the client unsubscribes it, its managed subscription changes, or the connection ends.
            using var ended = CancellationTokenSource.CreateLinkedTokenSource(admission.Ended.Token, admission.Changed?.Token ?? CancellationToken.None, aborted);
            var handOver = await replay.SendUntilHandOverAsync(filter, from, batchSize, async (batch, token) =>
            {
                await _trail.WaitForRoomAsync(ended.Token).ConfigureAwait(false);
                var encoded = token.Encode();
                try
                {
                    await WriteReplayFrameAsync(admission.Id, batch, encoded).ConfigureAwait(false);
                }
                catch
                {
                    admission.Audit.Failed(batch.Deliveries, reread: true);
                    throw;
                }

                if (!StillConnected)
                {
                    admission.Audit.Failed(batch.Deliveries, reread: true);
                    throw new OperationCanceledException(aborted);
                }

                admission.Audit.Delivered(batch.Deliveries, reread: true);
                admission.ResumeToken = encoded;
            }, ended.Token).ConfigureAwait(false);

            if (Subscriptions.Join(admission, filter, guarantee, handOver, bufferCapacity, batchSize, out var refusal) is { } member)
            {
                Subscriptions.Activate(member);
            }
            else
            {
                await WriteOpenFailedAsync(requestId, admission.Id, refusal!).ConfigureAwait(false);
            }
        }
        catch (ReplayException ex)
        {
            Subscriptions.Abandon(admission);
            await WriteOpenFailedAsync(requestId, admission.Id, new OpenRefusal($"resume_token: {ex.Message} (resume from the last token this subscription was sent)", RefusalKind.NotReReadable))
                .ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            if (admission.Changed?.IsCancellationRequested == true)
            {
                admission.EndReason ??= ConnectionSubscriptions.ChangedReason;
            }

            Subscriptions.Abandon(admission);
            if (!Subscriptions.Stopping && !aborted.IsCancellationRequested)
            {
                await WriteOpeningEndedAsync(admission).ConfigureAwait(false);
            }
        }
        catch
        {
            // The connection is gone.
            Subscriptions.Abandon(admission);
            throw;
        }
    }
}
