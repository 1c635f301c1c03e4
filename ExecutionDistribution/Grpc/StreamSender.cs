using System.Globalization;
using System.IO.Pipelines;
using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Distribution;
using ExecutionDistribution.Grpc.V1;

namespace ExecutionDistribution.Grpc;

/// <summary>
/// Sends the events of one <c>StreamExecution</c> call from the core's delivery loop (push mode): the
/// loop hands each batch (at most the call's <c>max_events_per_message</c>) to
/// <see cref="OnDeliveries"/>, which writes it as one message into the response body and flushes,
/// without a task, a thread-pool work item or a wait per stream and event. With 1,000 streams on
/// 2 cores that is a quarter less p99 at 100,000 deliveries/s than a send loop per stream, because
/// the loop's writes and Kestrel's sends run side by side (docs/benchmarks.md, W3 gRPC, session 15).
/// </summary>
/// <remarks>
/// <para>One writer at a time. The body is written by the loop, by a heartbeat, and by whatever
/// completes a flush that did not finish at once; <see cref="_writer"/> says who. The loop never
/// waits for it: a batch that arrives while it is taken is kept (<see cref="_held"/>) and delivery
/// pauses; whoever frees the writer sends the kept batch first and resumes delivery, so order holds.</para>
/// <para>A flush that does not finish at once (HTTP/2 flow control: the client reads slowly) pauses
/// delivery until it does. Meanwhile the subscriber's buffer fills and its overflow policy applies, as
/// for any slow reader. Delivery also pauses while the audit queue is full, as the send loops did.</para>
/// <para>Every message is audited once written: delivered (or redelivered), or failed when the write
/// failed or the client had gone. A stream starts with the writer taken, so nothing is sent before the
/// response headers and the order snapshot; <see cref="Start"/> hands it over.</para>
/// </remarks>
/// <param name="body">The call's response body.</param>
/// <param name="subscriptionId">The id every message carries.</param>
/// <param name="epoch">The core's log epoch, for resume tokens.</param>
/// <param name="perMessage">Most events per message.</param>
/// <param name="audit">The stream's audit.</param>
/// <param name="time">Clock of the heartbeats and the linger.</param>
/// <param name="linger">Under load, the rest after a message (<c>Grpc:SendLinger</c>); zero: none.</param>
/// <param name="ended">Cancelled when the stream ends (the client went away, the service stops, the subscription changed).</param>
internal sealed class StreamSender(
    PipeWriter body, string subscriptionId, Guid epoch, int perMessage, StreamAudit audit, TimeProvider time, TimeSpan linger, CancellationToken ended)
    : IDeliveryHandler
{
    private const int Free = 0;
    private const int Taken = 1;

    private readonly ExecutionFrame _frame = new();
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private int _writer = Taken;
    private int _hasHeld;
    private DeliveryBatch? _held;
    private DeliveryBatch? _inFlight;
    private Subscriber? _subscriber;
    private string _token = string.Empty;
    private long _lastWrite = time.GetTimestamp();
    private volatile bool _over;
    private ITimer? _lingerTimer;
    private long _lastMessage;
    private bool _started;
    private int _stopped;

    /// <summary>Completes when the stream can send no more: its subscriber closed, or a write failed.</summary>
    public Task Done => _done.Task;

    /// <summary>When the last message was written (heartbeats go out after an interval without one).</summary>
    public long LastWrite => Volatile.Read(ref _lastWrite);

    /// <inheritdoc />
    public int MaxDeliveriesPerCall => perMessage;

    /// <summary>
    /// The headers (and any snapshot) are out: hands the writer to the loop, sending what arrived meanwhile.
    /// <paramref name="startToken"/> is the stream's start, which heartbeats carry until a message goes out.
    /// </summary>
    public Task Start(Subscriber subscriber, string startToken)
    {
        _subscriber = subscriber;
        Volatile.Write(ref _token, startToken);
        Volatile.Write(ref _lastWrite, time.GetTimestamp());
        _started = true;
        return ReleaseAsync(resume: true);
    }

    /// <inheritdoc />
    public bool OnDeliveries(Subscriber subscriber, DeliveryBatch batch)
    {
        _subscriber ??= subscriber;
        if (_over)
        {
            return false;
        }

        if (TryTake())
        {
            return Send(batch);
        }

        // The writer is taken: keep the batch for whoever frees it, unless it was freed meanwhile.
        Hold(batch);
        if (TryTake())
        {
            if (Interlocked.Exchange(ref _hasHeld, 0) == 1)
            {
                return Send(_held!);
            }

            Volatile.Write(ref _writer, Free);
        }

        return false;
    }

    /// <inheritdoc />
    public void OnClosed(Subscriber subscriber) => End();

    /// <summary>Writes a heartbeat if no message is being written (then the stream is not idle anyway).</summary>
    public async Task HeartbeatAsync()
    {
        if (_over || !TryTake())
        {
            return;
        }

        try
        {
            BodyFrameWriter<ExecutionFrame>.Frame(body, ExecutionFrame.Of(new ExecutionMessage
            {
                SubscriptionId = subscriptionId,
                ResumeToken = Volatile.Read(ref _token),
                Heartbeat = new Heartbeat { Time = Timestamps.UtcNow(time).ToString(Timestamps.WireFormat, CultureInfo.InvariantCulture) },
            }));
            await body.FlushAsync(ended).ConfigureAwait(false);
            Volatile.Write(ref _lastWrite, time.GetTimestamp());
        }
        catch (Exception)
        {
            Fail();
            return;
        }

        await ReleaseAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// The stream is over: waits until no write is under way and keeps the writer, so nothing touches
    /// the body once the call returns.
    /// </summary>
    public async Task StopAsync()
    {
        _over = true;
        if (!_started || Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return; // the writer is still the starter's (this caller's), or stopped already
        }

        while (!TryTake())
        {
            await Task.Delay(1, CancellationToken.None).ConfigureAwait(false);
        }

        if (_lingerTimer is not null)
        {
            await _lingerTimer.DisposeAsync().ConfigureAwait(false);
        }
    }

    private bool TryTake() => Volatile.Read(ref _writer) == Free && Interlocked.CompareExchange(ref _writer, Taken, Free) == Free;

    // Loop thread, holding the writer: one message; true to go on, false to pause (flush pending, audit full, or over).
    private bool Send(DeliveryBatch batch)
    {
        string token;
        ValueTask<FlushResult> flush;
        try
        {
            flush = Write(batch, out token);
        }
        catch (Exception)
        {
            audit.Failed(batch.Deliveries);
            Fail();
            return false;
        }

        if (!flush.IsCompletedSuccessfully)
        {
            // The client reads slowly: pause until the flush completes; its deliveries are audited then.
            var inFlight = _inFlight ??= new DeliveryBatch(batch.Capacity);
            Copy(batch, inFlight);
            _ = CompleteFlushAsync(flush, token);
            return false;
        }

        _ = flush.Result;
        var previous = _lastMessage;
        if (!Sent(batch, token))
        {
            return false;
        }

        _lastMessage = Volatile.Read(ref _lastWrite);
        if (linger > TimeSpan.Zero && previous != 0 && time.GetElapsedTime(previous, _lastMessage) < linger)
        {
            // Under load (this message followed the last within the linger): rest for a linger, so what
            // arrives meanwhile travels in one message. The first message after a quiet spell never waits.
            Volatile.Write(ref _writer, Free);
            (_lingerTimer ??= time.CreateTimer(static s => ((StreamSender)s!).EndRest(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan))
                .Change(linger, Timeout.InfiniteTimeSpan);
            return false;
        }

        // Only the loop keeps batches, and it is here: nothing can be held, so freeing is a write.
        Volatile.Write(ref _writer, Free);
        if (!audit.HasRoom)
        {
            _ = ResumeWhenAuditHasRoomAsync();
            return false;
        }

        return true;
    }

    // Holding the writer, off the loop: one message, flushed.
    private async Task<bool> SendAsync(DeliveryBatch batch)
    {
        string token;
        try
        {
            await Write(batch, out token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            audit.Failed(batch.Deliveries);
            Fail();
            return false;
        }

        return Sent(batch, token);
    }

    // Holding the writer: the batch as one message into the body, flushed; the token it carries.
    private ValueTask<FlushResult> Write(DeliveryBatch batch, out string token)
    {
        token = new ResumeToken(epoch, batch.ResumePosition, batch.LastSequence).Encode();
        BodyFrameWriter<ExecutionFrame>.Frame(body, _frame.Events(subscriptionId, token, batch));
        return body.FlushAsync(ended);
    }

    private async Task CompleteFlushAsync(ValueTask<FlushResult> flush, string token)
    {
        try
        {
            await flush.ConfigureAwait(false);
        }
        catch (Exception)
        {
            audit.Failed(_inFlight!.Deliveries);
            Fail();
            return;
        }

        if (Sent(_inFlight!, token))
        {
            await ReleaseAsync(resume: true).ConfigureAwait(false);
        }
    }

    // Audits a written message and records its token; false (the stream ended) when the client had gone,
    // as Kestrel swallows a write to a stream that was reset.
    private bool Sent(DeliveryBatch batch, string token)
    {
        if (ended.IsCancellationRequested)
        {
            audit.Failed(batch.Deliveries);
            Fail();
            return false;
        }

        audit.Delivered(batch.Deliveries);
        Volatile.Write(ref _token, token);
        Volatile.Write(ref _lastWrite, time.GetTimestamp());
        return true;
    }

    // Holding the writer, off the loop: sends what the loop kept meanwhile, frees the writer, and resumes
    // delivery if the loop paused for this writer (a kept batch, or a pending flush when resume is set).
    private async Task ReleaseAsync(bool resume = false)
    {
        while (true)
        {
            if (Interlocked.Exchange(ref _hasHeld, 0) == 1)
            {
                if (!await SendAsync(_held!).ConfigureAwait(false))
                {
                    return;
                }

                resume = true;
                continue;
            }

            Volatile.Write(ref _writer, Free);

            // A batch kept after the check above, while the loop found the writer still taken.
            if (Volatile.Read(ref _hasHeld) == 1 && TryTake())
            {
                continue;
            }

            break;
        }

        if (resume && !_over)
        {
            _subscriber?.ResumeDelivery();
        }
    }

    private void EndRest()
    {
        if (!_over)
        {
            _subscriber?.ResumeDelivery();
        }
    }

    private async Task ResumeWhenAuditHasRoomAsync()
    {
        try
        {
            await audit.WaitForRoomAsync(ended).ConfigureAwait(false);
            _subscriber?.ResumeDelivery();
        }
        catch (OperationCanceledException)
        {
            // The stream ended.
        }
    }

    // One batch at most is kept at a time: the loop pauses when it keeps one, and only the writer that
    // sends it resumes the loop (the linger's and the audit's resumes are for pauses that keep nothing).
    private void Hold(DeliveryBatch batch)
    {
        Copy(batch, _held ??= new DeliveryBatch(batch.Capacity));
        Volatile.Write(ref _hasHeld, 1);
    }

    private static void Copy(DeliveryBatch from, DeliveryBatch to)
    {
        from.Deliveries.CopyTo(to.Items);
        to.SetCount(from.Count);
        to.Dropped = from.Dropped;
        to.LostPositions = from.LostPositions;
        to.ResumePosition = from.ResumePosition;
        to.LastSequence = from.LastSequence;
    }

    // A write failed or the client had gone: the stream can send no more, and the writer is freed so
    // StopAsync can take it. The call ends as its client left (or with Unavailable), as the send loops did.
    private void Fail()
    {
        _over = true;
        Volatile.Write(ref _writer, Free);
        End();
    }

    private void End() => _done.TrySetResult();
}
