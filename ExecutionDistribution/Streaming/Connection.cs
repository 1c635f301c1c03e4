using ExecutionDistribution.Audit;
using ExecutionDistribution.Core;
using ExecutionDistribution.Subscriptions;

namespace ExecutionDistribution.Streaming;

/// <summary>
/// A client stream, whatever its transport: a connection carrying 1..N subscriptions of the dispatch
/// core (<see cref="Subscriptions"/>), read and sent by one of the core's delivery loops. Its
/// subscribers wake it; a turn on the loop reads what they hold and writes it as one message of the
/// transport (<see cref="WriteEvents"/>) from each event's bytes serialized once, with no task, wait or
/// allocation per connection and message. A transport says how a message of events, a heartbeat and a
/// subscription's end are written; everything else is here.
/// </summary>
/// <remarks>
/// <para><b>Reading.</b> A connection of one subscription sends its batches as they come (urgent events
/// first within a batch). A multiplexed one reads its subscriptions in log order through
/// <see cref="MultiplexedReader"/>, so an event several of them take travels once, tagged with each.</para>
/// <para><b>One writer at a time.</b> The loop's messages, the transport's own (replies to the client,
/// the opening's "subscribed" and snapshot, events re-read from Kafka: <see cref="WriteAsync"/>) and
/// heartbeats share the connection; whoever holds the writer writes. The loop never waits for it: a
/// turn that finds it taken pauses, and whoever frees it resumes the connection.</para>
/// <para><b>Pauses.</b> The connection stops reading its subscribers while a write has not finished
/// (the client reads slowly), during a linger under load (so what arrives meanwhile travels in one
/// message), and while the audit queue is full. Meanwhile their buffers fill and their overflow policies
/// apply (dropped and announced, or caught up from the log), and no other connection notices.</para>
/// <para><b>Audit.</b> Every message of events is audited once written: delivered, or failed when the
/// write failed or the client had gone (at_least_once sends it again on resume).</para>
/// </remarks>
internal abstract partial class Connection : ISubscriberReader, IDeliveryWork
{
    /// <summary>Messages a turn sends however little is queued, before the loop serves another connection.</summary>
    private const int MinBatchesPerTurn = 4;

    /// <summary>
    /// Most messages per turn: a connection with more queued takes more, in proportion to what arrived,
    /// so one that receives most events (a desk's whole flow) keeps up while the loop does; the cap
    /// bounds how long the loop's other connections wait (a few milliseconds).
    /// </summary>
    private const int MaxBatchesPerTurn = 16;

    private readonly FanOutDispatcher _core;
    private readonly AuditTrail _trail;
    private readonly DeliveryLoop _loop;
    private readonly TimeSpan _linger;
    private readonly TimeSpan _heartbeatInterval;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly ConnectionWriter _writer;
    private int _final;

    // Scheduling: at most once on the loop until the turn runs; no wake schedules while paused.
    private int _scheduled;
    private int _paused;
    private int _ending;
    private volatile bool _over;
    private long _lastWrite;
    private long _lastMessage;
    private ITimer? _lingerTimer;

    protected Connection(
        FanOutDispatcher core, SubscriptionRegistry registry, AuditTrail trail, int maxSubscriptions, string limitKey, bool multiplexed,
        TimeProvider time, TimeSpan linger, TimeSpan heartbeatInterval, CancellationToken aborted)
    {
        _core = core;
        _trail = trail;
        _loop = core.NextDeliveryLoop();
        _linger = linger;
        _heartbeatInterval = heartbeatInterval;
        Time = time;
        Multiplexed = multiplexed;
        Aborted = aborted;
        Reader = multiplexed ? new MultiplexedReader(core) : null;
        Subscriptions = new ConnectionSubscriptions(core, registry, trail, maxSubscriptions, limitKey, this, multiplexed, CheckDone);
        _writer = new ConnectionWriter(Resume);
        _lastWrite = time.GetTimestamp();
        StreamMetrics.Opened(this, Transport);
    }

    private string? _denied;

    /// <summary>Why the caller's access ended the connection (revoked, or its token expired), or null.</summary>
    public string? DeniedReason => Volatile.Read(ref _denied);

    /// <summary>The caller's access, followed for revocation and expiry, and refreshed in-band.</summary>
    public Security.StreamAccess? Access { get; set; }

    /// <summary>Ends the connection because its caller's access was taken away: the transport says why (any thread).</summary>
    public void Deny(string reason)
    {
        if (Interlocked.CompareExchange(ref _denied, reason, null) is null)
        {
            Subscriptions.StopAll();
        }
    }

    /// <summary>How the connection reaches its client (the metrics' <c>transport</c>).</summary>
    internal abstract StreamTransport Transport { get; }

    /// <summary>The subscriptions this connection carries.</summary>
    public ConnectionSubscriptions Subscriptions { get; }

    /// <summary>Completes when the connection can send no more: its subscription ended (one), every subscription ended after a stop (several), or a write failed.</summary>
    public Task Done => _done.Task;

    /// <summary>Several subscriptions, merged by log position.</summary>
    protected bool Multiplexed { get; }

    /// <summary>Reads the subscriptions of a multiplexed connection (null for one subscription).</summary>
    protected MultiplexedReader? Reader { get; }

    /// <summary>Cancelled when the client is gone: writes take it.</summary>
    protected CancellationToken Aborted { get; }

    /// <summary>The clock of heartbeats and the linger.</summary>
    protected TimeProvider Time { get; }

    /// <summary>The dispatch core.</summary>
    protected FanOutDispatcher Core => _core;

    /// <summary>True while the connection does not read its subscribers (a write under way, a linger, the audit full).</summary>
    internal bool IsPaused => Volatile.Read(ref _paused) == 1;

    /// <summary>When the last message was written.</summary>
    protected long LastWrite => Volatile.Read(ref _lastWrite);

    /// <summary>
    /// Writes one message of what <paramref name="members"/> hold and flushes: for one subscription its
    /// <see cref="StreamMember.Batch"/> with its <see cref="StreamMember.ResumeToken"/>; for several what
    /// <see cref="Reader"/> collects of them. Called holding the writer, on the loop (it must not block).
    /// </summary>
    protected abstract ValueTask WriteEvents(StreamMember[] members);

    /// <summary>Writes a heartbeat carrying every subscription's resume token and flushes; holding the writer.</summary>
    protected abstract ValueTask WriteHeartbeat(CancellationToken cancellationToken);

    /// <summary>A subscription ended and was let go of: say so if the transport does (through <see cref="WriteAsync"/>).</summary>
    protected abstract Task OnEndedAsync(StreamMember member);

    /// <summary>After a write returned: is the client still there? A write after it vanished is swallowed.</summary>
    protected virtual bool StillConnected => !Aborted.IsCancellationRequested;

    /// <summary>True for exceptions that mean the client or the connection is gone.</summary>
    protected abstract bool IsDisconnect(Exception exception);

    /// <inheritdoc />
    public void Wake()
    {
        if (Volatile.Read(ref _paused) == 1)
        {
            return;
        }

        if (Volatile.Read(ref _scheduled) == 0 && Interlocked.Exchange(ref _scheduled, 1) == 0)
        {
            _loop.Schedule(this);
        }
    }

    /// <inheritdoc />
    void IDeliveryWork.RunTurn()
    {
        // Cleared before reading, so anything published from now on schedules the connection again.
        Volatile.Write(ref _scheduled, 0);
        if (_over || !TakeForLoop())
        {
            return;
        }

        var members = Subscriptions.Active;
        var batches = BatchesFor(members);
        var drained = true;
        try
        {
            for (var i = 0; i < batches; i++)
            {
                if (!Read(members))
                {
                    drained = true;
                    break;
                }

                drained = false;
                if (!Send(members))
                {
                    return;
                }
            }
        }
        catch (Exception)
        {
            // Reading failed (Send sees to its own): the loop logs it; the connection ends.
            Fail(holding: true);
            throw;
        }

        _writer.PassOn();
        if (drained && Array.Exists(members, static m => m.Subscriber.IsClosed))
        {
            _ = EndMembersAsync();
        }
        else if (!drained || Array.Exists(members, static m => m.Subscriber.HasWork()))
        {
            Wake();
        }
    }

    /// <inheritdoc />
    void IDeliveryWork.Fail(Exception exception) => Fail(holding: false);

    /// <summary>Writes a heartbeat whenever nothing was written for a heartbeat interval, until <paramref name="stopping"/>.</summary>
    public Task HeartbeatLoopAsync(CancellationToken stopping) =>
        HeartbeatLoop.RunAsync(Time, _heartbeatInterval, () => LastWrite, HeartbeatAsync, IsDisconnect, stopping);

    /// <summary>
    /// Writes a message of the transport's own (a reply, an opening message, events re-read from Kafka)
    /// when the writer is free, between messages of events. Throws <see cref="OperationCanceledException"/>
    /// once the connection can send no more, and what the write throws (after which it can send no more).
    /// </summary>
    public async Task WriteAsync<TState>(TState state, Func<TState, CancellationToken, ValueTask> write)
    {
        await _writer.TakeAsync().ConfigureAwait(false);
        if (_over)
        {
            _writer.PassOn();
            throw new OperationCanceledException("the stream ended", Aborted);
        }

        try
        {
            await write(state, Aborted).ConfigureAwait(false);
            Volatile.Write(ref _lastWrite, Time.GetTimestamp());
        }
        catch (Exception)
        {
            Fail(holding: true);
            throw;
        }

        _writer.PassOn();
    }

    /// <summary>
    /// The connection is over: waits until no write is under way and keeps the writer, so nothing
    /// touches the transport once this returns. Writers still waiting are told it ended.
    /// </summary>
    public async Task StopAsync()
    {
        _over = true;
        if (Interlocked.Exchange(ref _final, 1) == 1)
        {
            return;
        }

        StreamMetrics.Closed(this);

        await _writer.TakeForGoodAsync().ConfigureAwait(false);
        if (_lingerTimer is not null)
        {
            await _lingerTimer.DisposeAsync().ConfigureAwait(false);
        }
    }

    // Messages this turn may send: in proportion to what is queued (see MaxBatchesPerTurn).
    private static int BatchesFor(StreamMember[] members)
    {
        long queued = 0;
        var perMessage = 1;
        foreach (var m in members)
        {
            queued += m.Subscriber.Queued;
            perMessage = Math.Max(perMessage, m.Batch.Capacity);
        }

        return (int)Math.Clamp((queued / perMessage) + 1, MinBatchesPerTurn, MaxBatchesPerTurn);
    }

    // Reads the next message's deliveries; false when there is nothing to send.
    private bool Read(StreamMember[] members)
    {
        if (Reader is { } reader)
        {
            return reader.Read(members).Length > 0;
        }

        return members is [var only] && only.ReadBatch();
    }

    // Holding the writer, on the loop: one message. True to go on; false when paused or over (the writer is seen to).
    private bool Send(StreamMember[] members)
    {
        ValueTask flush;
        try
        {
            flush = WriteEvents(members);
        }
        catch (Exception)
        {
            Audit(members, delivered: false);
            Fail(holding: true);
            return false;
        }

        if (!flush.IsCompletedSuccessfully)
        {
            // The client reads slowly: pause until the write completes (which audits it and resumes).
            Pause();
            _ = CompleteWriteAsync(flush, members);
            return false;
        }

        flush.GetAwaiter().GetResult();
        if (!Sent(members))
        {
            return false;
        }

        var previous = _lastMessage;
        _lastMessage = Volatile.Read(ref _lastWrite);
        if (_linger > TimeSpan.Zero && previous != 0 && Time.GetElapsedTime(previous, _lastMessage) < _linger)
        {
            // Under load (this message followed the last within the linger): rest for a linger, so what
            // arrives meanwhile travels in one message. The first message after a quiet spell never waits.
            Pause();
            _writer.PassOn();
            (_lingerTimer ??= Time.CreateTimer(static s => ((Connection)s!).Resume(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan))
                .Change(_linger, Timeout.InfiniteTimeSpan);
            return false;
        }

        if (!_trail.HasRoom)
        {
            Pause();
            _writer.PassOn();
            _ = ResumeWhenAuditHasRoomAsync();
            return false;
        }

        return true;
    }

    private async Task CompleteWriteAsync(ValueTask flush, StreamMember[] members)
    {
        try
        {
            await flush.ConfigureAwait(false);
        }
        catch (Exception)
        {
            Audit(members, delivered: false);
            Fail(holding: true);
            return;
        }

        if (Sent(members))
        {
            _writer.PassOn();
            Resume();
        }
    }

    // Audits a written message; false (the connection can send no more) when the client had gone.
    private bool Sent(StreamMember[] members)
    {
        if (!StillConnected)
        {
            Audit(members, delivered: false);
            Fail(holding: true);
            return false;
        }

        StreamMetrics.Written(Transport, members, multiplexed: Reader is not null, Time);
        Audit(members, delivered: true);
        Volatile.Write(ref _lastWrite, Time.GetTimestamp());
        return true;
    }

    private void Audit(StreamMember[] members, bool delivered)
    {
        if (Reader is not null)
        {
            MultiplexedReader.Audit(members, delivered);
        }
        else if (members is [var only])
        {
            only.AuditBatch(delivered);
        }
    }

    private async Task ResumeWhenAuditHasRoomAsync()
    {
        try
        {
            await _trail.WaitForRoomAsync(Aborted).ConfigureAwait(false);
            Resume();
        }
        catch (OperationCanceledException)
        {
            // The client is gone.
        }
    }

    // Off the loop: the subscriptions that ended (closed and drained) are let go of and announced.
    private async Task EndMembersAsync()
    {
        if (Interlocked.Exchange(ref _ending, 1) == 1)
        {
            return;
        }

        try
        {
            foreach (var m in Subscriptions.Active)
            {
                if (m.Subscriber.IsClosed && !m.Subscriber.HasWork())
                {
                    Subscriptions.Release(m);
                    await OnEndedAsync(m).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException || IsDisconnect(ex))
        {
            // The write that failed ended the connection already; a cancelled wait for the writer ends it now.
            Fail(holding: false);
        }
        finally
        {
            Volatile.Write(ref _ending, 0);
        }

        // One that ended while these were announced.
        Wake();
    }

    // After a stop, or a subscription let go of: a connection of one subscription is done when it has
    // none left; one of several once it is stopping and has none left, streaming or opening.
    private void CheckDone()
    {
        if (Subscriptions.Members.Length == 0 && Subscriptions.Openings.Length == 0 && (Subscriptions.Stopping || !Multiplexed))
        {
            _done.TrySetResult();
        }
    }

    /// <summary>Writes a heartbeat unless a write is under way (then the connection is not idle).</summary>
    internal async Task HeartbeatAsync()
    {
        if (_over || !_writer.TryTake())
        {
            // A write under way: the connection is not idle.
            return;
        }

        try
        {
            await WriteHeartbeat(Aborted).ConfigureAwait(false);
            Volatile.Write(ref _lastWrite, Time.GetTimestamp());
        }
        catch (Exception)
        {
            Fail(holding: true);
            return;
        }

        _writer.PassOn();
    }

    private void Pause() => Interlocked.Exchange(ref _paused, 1);

    private void Resume()
    {
        Volatile.Write(ref _paused, 0);
        Wake();
    }

    // On the loop: the writer, or a pause until whoever holds it frees it and resumes the connection.
    private bool TakeForLoop()
    {
        if (_writer.TryTake())
        {
            return true;
        }

        Pause();
        if (_writer.TryTakeOrWant())
        {
            Volatile.Write(ref _paused, 0);
            return true;
        }

        return false;
    }

    // A write failed or the client had gone: the connection can send no more, and stops reading its
    // subscribers (they close, so they no longer fill). A writer held passes on (waiters see it ended),
    // so StopAsync can take it.
    private void Fail(bool holding)
    {
        _over = true;
        if (holding)
        {
            _writer.PassOn();
        }

        _done.TrySetResult();
        Subscriptions.StopAll();
    }

    /// <inheritdoc />
    public override string ToString() => $"{GetType().Name} ({Subscriptions.Members.Length} subscriptions)";
}
