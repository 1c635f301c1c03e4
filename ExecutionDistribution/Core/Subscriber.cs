using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Core;

/// <summary>
/// One subscriber of the dispatch core: a bounded single-producer/single-consumer ring of log
/// positions fed by the dispatcher thread, read by exactly one reader (<see cref="ISubscriberReader"/>:
/// a client connection on a delivery loop, or an in-process consumer's task).
/// </summary>
/// <remarks>
/// <para>
/// Modes: <b>live</b> (the dispatcher appends matching positions to the ring), <b>catching up</b>
/// (the ring overflowed or the subscriber resumed from an old position: the reader scans the retained
/// log itself with <see cref="SubscriptionFilter.Matches(ExecutionEvent)"/>), <b>rejoin pending</b>
/// (the reader is near the head and asked the dispatcher to put it back on the live path; the
/// dispatcher delivers the last few positions and flips it to live, so the seam has no gap and no
/// repeat) and <b>closed</b>.
/// </para>
/// <para>
/// Overflow policy: at_most_once drops the event, counts it and announces the count in the next
/// batch; at_least_once leaves the live path and catches up from the log without loss. Either way the
/// dispatcher never waits. The reader is woken at most once per dispatch batch, without allocating.
/// </para>
/// <para>
/// Behind the log: an at_least_once subscriber that reaches a position the retained log no longer
/// holds (catching up below its tail, or a ring entry whose event it dropped) re-reads from Kafka
/// (<see cref="FanOutDispatcher.Replay"/>, <see cref="Reread"/>) from there, with its sequence going
/// on, then goes back to the log. Without Kafka, or for positions that cannot be re-read, they are
/// announced as lost.
/// </para>
/// </remarks>
public sealed partial class Subscriber
{
    internal const int Live = 0;
    internal const int CatchingUp = 1;
    internal const int RejoinPending = 2;
    internal const int Closed = 3;

    /// <summary>Positions a ring starts with (8 KB); it doubles when full, up to the buffer capacity.</summary>
    internal const int InitialRingSize = 1_024;

    // The ring of positions. The dispatcher (its only writer) replaces it with a larger copy when it
    // fills (Grow) and with a small empty one once it has stayed drained (TryShrink); readers read the
    // producer index first and the ring after it (see Grow for why that order suffices).
    private long[] _ring;
    private readonly int _maxRingSize;
    private long _grownAt;
    private long _ringGrowths;
    private long _ringShrinks;
    private readonly RetainedLog _log;
    private readonly FanOutDispatcher _dispatcher;
    private readonly int _rejoinThreshold;
    private readonly DeferredOrders _deferredOrders;
    private readonly ExecutionEvent[] _scratch;

    // Producer (dispatcher thread) and consumer (reader) indices on separate cache lines.
    private PaddedLong _producerIndex;
    private PaddedLong _consumerIndex;
    private long _cachedConsumerIndex;

    private readonly ISubscriberReader _reader;
    private readonly bool _logOrder;
    private int _mode;
    private long _catchUpCursor;
    private long _droppedPending;
    private long _lostPending;
    private long _sequence;
    private long _resumePosition;

    // at_least_once, behind the retained log: re-reading from Kafka (reader-owned; Close disposes it).
    private Reread? _reread;
    private int _rereadResting;
    private long _gapAt = -1;

    private long _delivered;
    private long _droppedTotal;
    private long _lostTotal;
    private long _catchUps;
    private long _rereads;

    internal Subscriber(
        string id,
        SubscriptionFilter filter,
        DeliveryGuarantee guarantee,
        int bufferCapacity,
        int readBatchSize,
        long startPosition,
        long initialSequence,
        RetainedLog log,
        FanOutDispatcher dispatcher,
        ISubscriberReader? reader,
        bool logOrder,
        bool startCatchingUp = false)
    {
        Id = id;
        Filter = filter;
        Anchor = filter.Anchor;
        Guarantee = guarantee;
        var size = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(bufferCapacity, 2));
        _maxRingSize = size;
        _ring = NewRing(Math.Min(size, InitialRingSize));
        _log = log;
        _dispatcher = dispatcher;
        _rejoinThreshold = Math.Max(1, size / 2);
        _scratch = new ExecutionEvent[Math.Max(1, readBatchSize)];
        _logOrder = logOrder;
        if (reader is null)
        {
            var waiter = new SubscriberWaiter();
            waiter.Subscriber = this;
            reader = waiter;
        }

        _reader = reader;
        _deferredOrders = new DeferredOrders(Math.Max(1, readBatchSize));
        _catchUpCursor = startPosition;
        _resumePosition = startPosition;
        StartPosition = startPosition;
        InitialSequence = initialSequence;
        _sequence = initialSequence;

        // Near the head the dispatcher delivers the few positions up to it and goes live; further back
        // the reader catches up from the log itself, so the dispatcher never scans a long range.
        _mode = startCatchingUp ? CatchingUp : RejoinPending;
        LastStamp = -1;
        TouchedStamp = -1;
    }

    /// <summary>The subscriber's id (a durable subscription id, or one made up for an ad hoc stream).</summary>
    public string Id { get; }

    /// <summary>What the subscriber takes.</summary>
    public SubscriptionFilter Filter { get; }

    /// <summary>The log position it started from.</summary>
    public long StartPosition { get; }

    /// <summary>
    /// Offsets a resumed stream had passed beyond its start position (its token came from an instance
    /// that interleaved partitions differently, or had read further): events below them are skipped,
    /// and tokens are raised to them, until the log's frontier passes them. Reader-owned after attach.
    /// </summary>
    public ResumeFloor? Floor { get; internal set; }

    /// <summary>The sequence number it continued from (0 for a new stream).</summary>
    public long InitialSequence { get; }

    /// <summary>What happens when the subscriber falls behind.</summary>
    public DeliveryGuarantee Guarantee { get; }

    /// <summary>Ring capacity (positions).</summary>
    public int BufferCapacity => _maxRingSize;

    /// <summary>Events handed to the reader so far.</summary>
    public long Delivered => Volatile.Read(ref _delivered);

    /// <summary>
    /// Where this subscriber would resume after what its reader has taken: every matching event before
    /// it has been handed to the reader (or announced as dropped or lost).
    /// </summary>
    public long ResumePosition => Volatile.Read(ref _resumePosition);

    /// <summary>at_most_once events dropped because the reader was behind.</summary>
    public long Dropped => Volatile.Read(ref _droppedTotal);

    /// <summary>Log positions that were gone (beyond retention) when this subscriber reached them.</summary>
    public long LostPositions => Volatile.Read(ref _lostTotal);

    /// <summary>How often an at_least_once subscriber left the live path to catch up.</summary>
    public long CatchUps => Volatile.Read(ref _catchUps);

    /// <summary>How often an at_least_once subscriber fell behind the retained log and re-read from Kafka.</summary>
    public long Rereads => Volatile.Read(ref _rereads);

    /// <summary>True while the subscriber reads from the log instead of the live path.</summary>
    public bool IsCatchingUp => Volatile.Read(ref _mode) is CatchingUp or RejoinPending;

    /// <summary>True once closed; reads then return nothing and waits return false.</summary>
    public bool IsClosed => Volatile.Read(ref _mode) == Closed;

    /// <summary>Positions waiting in the ring.</summary>
    public long Backlog => Volatile.Read(ref _producerIndex.Value) - Volatile.Read(ref _consumerIndex.Value);

    /// <summary>What the reader has to read: the ring's positions, and while catching up, the log from the cursor to the head.</summary>
    internal long Queued => Backlog + (Volatile.Read(ref _mode) == CatchingUp ? Math.Max(0, _log.Head - Volatile.Read(ref _catchUpCursor)) : 0);

    internal FilterDimension Anchor { get; }

    /// <summary>Dispatcher-only: the position this subscriber was last considered for (de-duplicates index hits).</summary>
    internal long LastStamp;

    /// <summary>Dispatcher-only: the dispatch batch in which this subscriber was last queued for a wake-up.</summary>
    internal long TouchedStamp;

    internal int Mode => Volatile.Read(ref _mode);

    /// <summary>
    /// Waits until there is something to read (true) or the subscriber is closed and drained (false),
    /// for a subscriber read by its own task (subscribed without a reader). One waiter at a time; cancel
    /// by closing the subscriber (<see cref="FanOutDispatcher.Unsubscribe"/>).
    /// </summary>
    public ValueTask<bool> WaitToReadAsync() => _reader is SubscriberWaiter waiter
        ? waiter.WaitAsync()
        : throw new InvalidOperationException($"subscriber '{Id}' is read by {_reader}, not waited on");

    /// <summary>
    /// Reads up to <see cref="DeliveryBatch.Capacity"/> deliveries into <paramref name="batch"/>.
    /// Within one batch, urgent events (priority 1 or latency-sensitive) come first unless an earlier
    /// event of the same order is not urgent: per-order order always holds. Single reader only.
    /// </summary>
    /// <returns>False when there is nothing to deliver or announce.</returns>
    public bool TryReadBatch(DeliveryBatch batch) => TryReadBatch(batch, long.MaxValue);

    /// <summary>
    /// As <see cref="TryReadBatch(DeliveryBatch)"/>, taking only positions below <paramref name="before"/>
    /// (a reader of several subscribers passes <see cref="FanOutDispatcher.RoutedHead"/>, so an event the
    /// dispatcher is still fanning out is read from all of them in the same turn, or from none).
    /// </summary>
    public bool TryReadBatch(DeliveryBatch batch, long before)
    {
        batch.Reset();
        var max = Math.Min(batch.Capacity, _scratch.Length);
        var events = _scratch;
        var n = 0;
        long lost = 0;

        if (Volatile.Read(ref _droppedPending) > 0)
        {
            batch.Dropped = Interlocked.Exchange(ref _droppedPending, 0);
        }

        if (Volatile.Read(ref _lostPending) > 0)
        {
            lost += Interlocked.Exchange(ref _lostPending, 0);
        }

        // Mode before cursor: the dispatcher sets the cursor before it flips the mode.
        var mode = Volatile.Read(ref _mode);
        var skipFrom = mode == CatchingUp ? Volatile.Read(ref _catchUpCursor) : long.MaxValue;
        if (mode != Live)
        {
            _gapAt = -1;
        }

        var consumer = _consumerIndex.Value;
        var producer = Volatile.Read(ref _producerIndex.Value);
        var rejoin = false;
        if (consumer == producer && mode == CatchingUp)
        {
            // The dispatcher fills the ring before it flips the mode, so re-read the producer index.
            producer = Volatile.Read(ref _producerIndex.Value);
            if (consumer == producer)
            {
                var refused = false;
                if (_reread is not null || StartReread(out refused))
                {
                    if (TryReadFromKafka(batch, lost) is { } read)
                    {
                        return read;
                    }

                    refused = true;
                }

                // Refused or failed (cannot be re-read): the scan announces what the log no longer has as lost.
                n = ScanLog(events, max, before, !refused && CanReread, ref lost, out rejoin);
            }
        }

        // After the producer index: a ring replaced before that index was published is seen (Grow).
        var ring = Volatile.Read(ref _ring);
        var mask = ring.Length - 1;
        while (consumer < producer && n < max)
        {
            var position = ring[consumer & mask];
            if (position >= before)
            {
                break;
            }

            if (position >= skipFrom)
            {
                // Catching up from the cursor covers it: the dispatcher turned this subscriber to catch-up after a gap.
                consumer++;
                continue;
            }

            if (_log.TryGet(position, out var e))
            {
                events[n++] = e;
            }
            else if (CanReread)
            {
                // The log no longer has it: stop here and have the dispatcher turn this subscriber to
                // catching up from it (re-read from Kafka). Nothing at or after it is taken meanwhile.
                if (_gapAt < 0)
                {
                    Volatile.Write(ref _gapAt, position);
                    _dispatcher.RequestCatchUp(this, position);
                }

                break;
            }
            else
            {
                lost++;
            }

            consumer++;
            _resumePosition = position + 1;
        }

        if (Floor is { } floor)
        {
            n = SkipPassed(events, n, floor);
        }

        if (n > 1 && !_logOrder)
        {
            n = OrderByUrgency(events, n, batch.Items);
        }
        else
        {
            for (var i = 0; i < n; i++)
            {
                batch.Items[i] = new Delivery(events[i], 0);
            }
        }

        var items = batch.Items;
        for (var i = 0; i < n; i++)
        {
            items[i] = new Delivery(items[i].Event, ++_sequence);
            events[i] = null!;
        }

        Volatile.Write(ref _consumerIndex.Value, consumer);
        if (rejoin)
        {
            _dispatcher.RequestRejoin(this);
        }

        batch.SetCount(n);
        return Finish(batch, n, lost);
    }

    // Drops the events a resumed stream's token had passed; lets go of the floor once the log's frontier has passed it.
    private int SkipPassed(ExecutionEvent[] events, int n, ResumeFloor floor)
    {
        var sources = _dispatcher.Sources;
        var kept = 0;
        for (var i = 0; i < n; i++)
        {
            var e = events[i];
            events[i] = null!;
            if (sources.TryGetSource(e.Position, out var id, out var offset) && id < floor.Offsets.Length && offset < floor.Offsets[id])
            {
                continue;
            }

            events[kept++] = e;
        }

        if (sources.Passed(floor, _resumePosition))
        {
            Floor = null;
        }

        return kept;
    }

    // What every read ends with: where the reader stands, and the counters.
    private bool Finish(DeliveryBatch batch, int n, long lost)
    {
        batch.LostPositions = lost;
        batch.ResumePosition = _resumePosition;
        batch.Token = _reread is null ? null : _rereadToken;
        batch.LastSequence = _sequence;
        if (n > 0)
        {
            Volatile.Write(ref _delivered, _delivered + n);
        }

        if (lost > 0)
        {
            Interlocked.Add(ref _lostTotal, lost);
        }

        return !batch.IsEmpty;
    }

    // Catch-up: read the retained log directly from the cursor, filtering with the reference filter.
    private int ScanLog(ExecutionEvent[] events, int max, long before, bool stopAtGap, ref long lost, out bool rejoin)
    {
        var cursor = _catchUpCursor;
        var tail = _log.Tail;
        if (cursor < tail)
        {
            // Beyond retention: announce, never skip silently.
            lost += tail - cursor;
            cursor = tail;
        }

        var head = Math.Min(_log.Head, before);

        // Bound the work of one call so a sparse filter over a long log still yields regularly.
        var budget = max * 64;
        var n = 0;
        while (cursor < head && n < max && budget-- > 0)
        {
            if (!_log.TryGet(cursor, out var e) || _log.IsExpired(e))
            {
                if (stopAtGap && (e is not null || cursor < _log.Tail))
                {
                    // The log moved past the cursor while it scanned, or the event is past the age limit:
                    // the next read re-reads from Kafka.
                    break;
                }

                lost++;
            }
            else if (Filter.Matches(e))
            {
                events[n++] = e;
            }

            cursor++;
        }

        Volatile.Write(ref _catchUpCursor, cursor);
        _resumePosition = cursor;
        // Near the head: ask to go live, once this read is done (the end of TryReadBatch).
        rejoin = _log.Head - cursor <= _rejoinThreshold
            && Interlocked.CompareExchange(ref _mode, RejoinPending, CatchingUp) == CatchingUp;
        return n;
    }

    // Stable partition: urgent events first, unless an earlier event of the same order was deferred.
    private int OrderByUrgency(ExecutionEvent[] events, int n, Delivery[] output)
    {
        var urgent = 0;
        for (var i = 0; i < n; i++)
        {
            if (events[i].IsUrgent)
            {
                urgent++;
            }
        }

        if (urgent == 0 || urgent == n)
        {
            for (var i = 0; i < n; i++)
            {
                output[i] = new Delivery(events[i], 0);
            }

            return n;
        }

        var written = 0;
        _deferredOrders.Clear();
        for (var i = 0; i < n; i++)
        {
            var e = events[i];
            if (e.IsUrgent && (e.OrderId is null || !_deferredOrders.Contains(e.OrderHash, e.OrderId)))
            {
                output[written++] = new Delivery(e, 0);
                events[i] = null!;
            }
            else if (e.OrderId is not null)
            {
                _deferredOrders.Add(e.OrderHash, e.OrderId);
            }
        }

        for (var i = 0; i < n; i++)
        {
            if (events[i] is { } e)
            {
                output[written++] = new Delivery(e, 0);
            }
        }

        return written;
    }

    internal bool HasWork() =>
        (Volatile.Read(ref _producerIndex.Value) != Volatile.Read(ref _consumerIndex.Value) && (Volatile.Read(ref _gapAt) < 0 || Volatile.Read(ref _mode) != Live))
        || (Volatile.Read(ref _mode) == CatchingUp && Volatile.Read(ref _rereadResting) == 0)
        || Volatile.Read(ref _droppedPending) > 0
        || Volatile.Read(ref _lostPending) > 0;

    /// <summary>Stops the subscriber; a pending wait completes with false. Idempotent; any thread.</summary>
    internal void Close()
    {
        Interlocked.Exchange(ref _mode, Closed);
        EndReread();
        Signal();
    }

    /// <summary>Wakes the reader (it has something to read, or the subscriber closed).</summary>
    internal void Signal() => _reader.Wake();

    /// <inheritdoc />
    public override string ToString() => $"Subscriber {Id} ({Guarantee.Name()}, backlog {Backlog})";

    /// <summary>A long alone on its cache line pair, so producer and consumer indices do not false-share.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct PaddedLong
    {
        [FieldOffset(64)]
        public long Value;
    }
}
