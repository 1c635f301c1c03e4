using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Subscriptions;

namespace ExecutionDistribution.Streaming;

/// <summary>
/// What a client connection that carries several subscriptions does the same way on any transport (a
/// multiplexed WebSocket or gRPC call; a connection of one subscription is sent by a <see cref="PushSender"/>): the send loop that waits on its subscribers, lingers under
/// load, writes a frame of what they hold, audits it, and lets go of the subscriptions that ended; the
/// heartbeat loop for an idle connection; and one write at a time. A transport says how a frame, an
/// ended subscription and a heartbeat are written. <c>maxSubscriptions</c> is the most subscriptions it
/// carries, and <c>limitKey</c> the setting that says so (named in a refusal).
/// </summary>
internal abstract class StreamConnection(
    FanOutDispatcher core, SubscriptionRegistry registry, AuditTrail trail, int maxSubscriptions, string limitKey, TimeProvider time, TimeSpan linger, TimeSpan heartbeatInterval)
{
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly List<Task> _replays = [];
    private long _lastWrite;

    /// <summary>The subscriptions this connection carries.</summary>
    protected ConnectionSubscriptions Subscriptions { get; } = new(core, registry, trail, maxSubscriptions, limitKey);

    /// <summary>Reads several subscriptions so that each event travels once (the send loop's only).</summary>
    protected MultiplexedReader Reader { get; } = new(core);

    protected TimeProvider Time { get; } = time;

    /// <summary>Reads the members for the next frame: those with something to send, or none.</summary>
    protected abstract StreamMember[] Read(StreamMember[] members);

    /// <summary>Writes one frame of what <paramref name="members"/> hold (through <see cref="WriteExclusiveAsync"/>).</summary>
    protected abstract Task WriteFrameAsync(StreamMember[] members, CancellationToken cancellationToken);

    /// <summary>After a write returned: did it reach a connection that is still there? A write after the client vanished is swallowed.</summary>
    protected abstract bool StillConnected(CancellationToken cancellationToken);

    /// <summary>Audits what the frame carried, delivered or failed.</summary>
    protected abstract void Audit(StreamMember[] members, bool delivered);

    /// <summary>A subscription that ended was drained and released: say so. False: the connection ends.</summary>
    protected abstract Task<bool> OnEndedAsync(StreamMember member, CancellationToken cancellationToken);

    /// <summary>A heartbeat for an idle connection with these members.</summary>
    protected abstract Task WriteHeartbeatAsync(StreamMember[] members, CancellationToken cancellationToken);

    /// <summary>Writes one frame of events re-read from Kafka for one subscription still opening (a connection that carries several), with the token after them.</summary>
    protected abstract Task WriteReplayFrameAsync(string id, DeliveryBatch batch, string resumeToken, CancellationToken cancellationToken);

    /// <summary>
    /// Tells the client subscription <paramref name="subscriptionId"/>, already announced as subscribed, could not
    /// go on (answering <paramref name="requestId"/>, if it came in a request, and naming the subscription either way).
    /// </summary>
    protected abstract Task WriteOpenFailedAsync(string? requestId, string subscriptionId, OpenRefusal refusal, CancellationToken cancellationToken);

    /// <summary>Tells the client a subscription ended before it joined (while it re-read Kafka), and where to resume it (<see cref="Admission.ResumeToken"/>).</summary>
    protected abstract Task WriteOpeningEndedAsync(Admission admission, CancellationToken cancellationToken);

    /// <summary>True for exceptions that mean the client or the connection is gone.</summary>
    protected abstract bool IsDisconnect(Exception exception);

    /// <summary>Runs until every subscription is drained after <see cref="ConnectionSubscriptions.StopAll"/>, or the connection ends.</summary>
    protected async Task SendLoopAsync(CancellationToken cancellationToken)
    {
        long lastFrame = 0;
        while (await Subscriptions.Group.WaitToReadAsync().ConfigureAwait(false))
        {
            await trail.WaitForRoomAsync(cancellationToken).ConfigureAwait(false);

            // Under load (the previous frame went out within the linger), hold the rest of the linger so
            // what arrives meanwhile travels in the same frame; the first event after a quiet spell goes at once.
            if (linger > TimeSpan.Zero && lastFrame != 0 && Time.GetElapsedTime(lastFrame) is var since && since < linger)
            {
                await Task.Delay(linger - since, Time, cancellationToken).ConfigureAwait(false);
            }

            var sent = false;
            while (Read(Subscriptions.Members) is { Length: > 0 } members)
            {
                sent = true;
                lastFrame = Time.GetTimestamp();
                try
                {
                    await WriteFrameAsync(members, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    Audit(members, delivered: false);
                    throw;
                }

                // A frame "sent" after the client vanished is audited as failed, not delivered
                // (at_least_once sends it again on resume).
                if (!StillConnected(cancellationToken))
                {
                    Audit(members, delivered: false);
                    return;
                }

                Audit(members, delivered: true);
            }

            if (!await RemoveEndedAsync(cancellationToken).ConfigureAwait(false))
            {
                return;
            }

            // Woken with nothing to send while a subscription holds deliveries it read (it waits for another to
            // read through, which is rejoining the live path): pause a millisecond rather than spin on the wake-ups.
            // A wake-up with nothing held is only a member's signal that came after the read, and costs nothing more.
            if (!sent && MultiplexedReader.Holds(Subscriptions.Members))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(1), Time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    // Drained subscriptions that ended are released and announced. False: the connection ends.
    private async Task<bool> RemoveEndedAsync(CancellationToken cancellationToken)
    {
        foreach (var m in Subscriptions.Members)
        {
            if (!m.Subscriber.IsClosed)
            {
                continue;
            }

            Subscriptions.Release(m);
            if (!await OnEndedAsync(m, cancellationToken).ConfigureAwait(false))
            {
                return false;
            }
        }

        return !Subscriptions.Stopping || Subscriptions.Members.Length > 0;
    }

    /// <summary>Writes a heartbeat whenever nothing was written for a heartbeat interval, until <paramref name="stopping"/>.</summary>
    protected Task HeartbeatLoopAsync(CancellationToken stopping, CancellationToken aborted) =>
        HeartbeatLoop.RunAsync(Time, heartbeatInterval, () => Volatile.Read(ref _lastWrite), () => WriteHeartbeatAsync(Subscriptions.Members, aborted), IsDisconnect, stopping);

    /// <summary>The one way to write: one at a time (the send loop, replies and heartbeats share the connection).</summary>
    protected async Task WriteExclusiveAsync<TState>(TState state, Func<TState, CancellationToken, ValueTask> write, CancellationToken cancellationToken)
    {
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await write(state, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _lastWrite, Time.GetTimestamp());
        }
        finally
        {
            _writeGate.Release();
        }
    }

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
        string? requestId, CancellationToken aborted)
    {
        var task = Task.Run(async () =>
        {
            try
            {
                await ReplayThenJoinAsync(admission, replay, filter, guarantee, from, bufferCapacity, batchSize, requestId, aborted).ConfigureAwait(false);
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
        string? requestId, CancellationToken aborted)
    {
        admission.ResumeToken = from.Encode();
        try
        {
            // Ends between batches when the client unsubscribes it, its managed subscription changes, or the connection ends.
            using var ended = CancellationTokenSource.CreateLinkedTokenSource(admission.Ended.Token, admission.Changed?.Token ?? CancellationToken.None, aborted);
            var handOver = await replay.SendUntilHandOverAsync(filter, from, batchSize, async (batch, token) =>
            {
                await trail.WaitForRoomAsync(ended.Token).ConfigureAwait(false);
                var encoded = token.Encode();
                try
                {
                    await WriteReplayFrameAsync(admission.Id, batch, encoded, aborted).ConfigureAwait(false);
                }
                catch
                {
                    admission.Audit.Failed(batch.Deliveries, reread: true);
                    throw;
                }

                if (!StillConnected(aborted))
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
                await WriteOpenFailedAsync(requestId, admission.Id, refusal!, aborted).ConfigureAwait(false);
            }
        }
        catch (ReplayException ex)
        {
            Subscriptions.Abandon(admission);
            await WriteOpenFailedAsync(requestId, admission.Id, new OpenRefusal($"resume_token: {ex.Message} (resume from the last token this subscription was sent)", RefusalKind.NotReReadable), aborted)
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
                await WriteOpeningEndedAsync(admission, aborted).ConfigureAwait(false);
            }
        }
        catch
        {
            // The connection is gone.
            Subscriptions.Abandon(admission);
            throw;
        }
    }

    /// <summary>At the connection's end, after every loop that writes has returned.</summary>
    protected void DisposeWriteGate() => _writeGate.Dispose();
}
