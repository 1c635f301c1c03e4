using System.Collections.Concurrent;
using ExecutionDistribution.Contract;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ExecutionDistribution.Core;

/// <summary>
/// The dispatch core: one dedicated thread takes events from the bounded ingest queue in batches,
/// appends each to the retained log (which stamps its position), resolves its subscribers through the
/// current <see cref="RoutingIndex"/> and appends the position to each subscriber's ring, then wakes
/// each touched subscriber once for the whole batch.
/// </summary>
/// <remarks>
/// <para>Nothing on this path blocks, locks or allocates: the ingest queue is a lock-free ring
/// (<see cref="BoundedRing{T}"/>, a compare-and-swap per event on each side) and the only queue
/// producers wait on (a full one is back-pressure to Kafka or a 503 to REST), subscriber rings never
/// make the dispatcher wait (see <see cref="Subscriber"/> for the overflow policies), and subscriber
/// changes arrive through a lock-free queue that the dispatcher applies to its index between batches
/// (each costs the entries of that subscriber's filter, not a rebuild).</para>
/// <para>Ordering: one thread assigns positions and fills every ring in position order, so events of one
/// order reach every subscriber in ingest order.</para>
/// </remarks>
public sealed partial class FanOutDispatcher : IExecutionIngest, IDisposable
{
    private readonly DistributionOptions _options;
    private readonly ILogger _logger;
    private readonly BoundedRing<ExecutionEvent> _ingest;

    // Producers wait for room (PublishAsync) on this, completed and replaced after each batch the
    // dispatcher takes while any waits; null while none does.
    private TaskCompletionSource? _room;
    private int _roomWaiters;

    // Stopping: 1 once no event is accepted any more. Publishers count themselves in around their
    // enqueue, so the dispatcher ends only after every event accepted before the stop (see Run).
    private int _completed;
    private int _publishing;
    private readonly RetainedLog _log;
    private readonly ConcurrentQueue<Subscriber> _rejoins = new();
    private readonly ConcurrentQueue<(Subscriber Subscriber, long Position)> _fellBehind = new();
    private readonly Lock _registrationGate = new();
    private (long Dropped, long Lost) _departed; // what removed subscribers had dropped and lost (under _registrationGate)
    private readonly Dictionary<string, Subscriber> _subscribers = new(StringComparer.Ordinal);
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 100);
    private readonly TimeProvider _time;

    // Subscribes and unsubscribes, in the order they were made, for the dispatcher to apply to its index.
    private readonly ConcurrentQueue<(Subscriber Subscriber, bool Attach)> _registrations = new();

    // The dispatcher thread's own: it routes with it and applies the registrations to it between batches.
    private RoutingIndex _index = new();
    private int _indexed;
    private int _changesSinceBuild;

    // A fresh index of the members being built on the thread pool, and the changes applied since its snapshot.
    private Task<RoutingIndex>? _rebuild;
    private List<(Subscriber Subscriber, bool Attach)>? _sinceSnapshot;
    private Subscriber[] _touched = new Subscriber[256];
    private int _touchedCount;
    private long _batchStamp;
    private int _sleeping;
    private Thread? _thread;
    private long _ingested;
    private long _routedHead;
    private long _routed;
    private long _rejected;
    private int _nextLoop;
    private DeliveryLoop[]? _loops;

    // Subscribers whose ring has grown (dispatcher thread only; see ShrinkQuietRings).
    private readonly List<Subscriber> _grownRings = [];

    // Bytes of rings grown beyond their initial size, and growths refused for want of budget
    // (dispatcher-written: it alone grows and shrinks rings; read by GetStats).
    private long _ringGrowthBytes;
    private long _ringGrowthsRefused;
    private long _nextRingSweep;

    /// <summary>Creates the core; call <see cref="Start"/> to begin dispatching.</summary>
    public FanOutDispatcher(DistributionOptions options, TimeProvider time, ILogger<FanOutDispatcher>? logger = null)
    {
        _options = options;
        _time = time;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _log = new RetainedLog(options.RetainedLogCapacity, options.RetainedLogMaxAge, time, options.RetainedLogMaxBytes);
        _ingest = new BoundedRing<ExecutionEvent>(options.IngestQueueCapacity);
        LogEpoch = Guid.NewGuid();
        TokenEpoch = LogEpoch;
        Sources = new SourceFrontier(options.SourceIndexCapacity, LogEpoch);
    }

    /// <summary>
    /// Identifies this process's log: positions restart at 0 with every start, so resume tokens carry
    /// the epoch and a token from another epoch is recognised instead of misread.
    /// </summary>
    public Guid LogEpoch { get; }

    /// <summary>The next position to be assigned.</summary>
    public long Head => _log.Head;

    /// <summary>The oldest position still retained.</summary>
    public long Tail => _log.Tail;

    /// <summary>
    /// Every position below this has been offered to every matching subscriber (published after each
    /// dispatch batch, before the readers are woken).
    /// </summary>
    public long RoutedHead => Volatile.Read(ref _routedHead);

    internal RetainedLog Log => _log;

    /// <summary>The source partition and offset of each position, beyond the retained log: what resume tokens are made of.</summary>
    internal SourceFrontier Sources { get; }

    /// <summary>The portfolio of each recent order: fills an event's portfolio from its order's as it enters the log.</summary>
    public OrderPortfolios Portfolios { get; } = new();

    /// <summary>
    /// The epoch resume tokens carry: the Kafka cluster's (set by the Kafka module before ingest
    /// starts, so tokens resume on any instance of the cluster), or this run's own without Kafka.
    /// </summary>
    public Guid TokenEpoch { get; set; }

    /// <summary>
    /// Declares that ingest reads a source partition (a Kafka topic and partition) from offset
    /// <paramref name="next"/> on, so tokens name it before its first event, and a token below that
    /// offset is re-read from the source. Any thread.
    /// </summary>
    public void DeclareSource(string topic, int partition, long next) => Sources.Declare(topic, partition, next);

    /// <summary>The resume token of a reader at <paramref name="position"/> that has delivered up to <paramref name="sequence"/>.</summary>
    public ResumeToken TokenAt(long position, long sequence, ResumeFloor? floor = null) => Sources.TokenAt(TokenEpoch, position, sequence, floor);

    /// <summary>The text of <see cref="TokenAt"/>, as sent with every batch (its bytes before the sequence shared by every stream at that position).</summary>
    public string EncodeTokenAt(long position, long sequence, ResumeFloor? floor = null) => Sources.EncodeAt(TokenEpoch, position, sequence, floor);

    /// <summary>The token of a stream that starts now, at the head of the log.</summary>
    public ResumeToken TokenAtHead(long sequence = 0) => TokenAt(Head, sequence);

    /// <summary>Where a stream resuming from <paramref name="token"/> starts in this log, or why it cannot here.</summary>
    public ResumePoint Locate(ResumeToken token)
    {
        if (token.Epoch != TokenEpoch)
        {
            return new ResumePoint(ResumeCheck.Foreign, 0, null,
                "was issued by another cluster (another Kafka cluster, or another run of a service without Kafka); its offsets mean nothing here");
        }

        var located = Sources.Locate(token);
        return located.Result switch
        {
            LocateResult.Found when located.Start >= _log.Tail => new ResumePoint(ResumeCheck.Available, located.Start, located.Floor, null, located.Ahead),
            _ => new ResumePoint(ResumeCheck.Replay, 0, null, $"points before the oldest retained event (position {_log.Tail})"),
        };
    }

    /// <summary>
    /// Told on the dispatcher thread of each event an at_most_once subscriber drops (the audit records
    /// it). It must not block: it only enqueues.
    /// </summary>
    public IDropObserver? DropObserver { get; set; }

    /// <summary>
    /// Where an at_least_once subscriber that fell behind the retained log re-reads what the log no
    /// longer holds (the Kafka module's <see cref="IEventReplay"/>); without it those positions are
    /// announced as lost. Set once at start.
    /// </summary>
    public IEventReplay? Replay { get; private set; }

    /// <summary>Lets at_least_once subscribers re-read from <paramref name="replay"/> what the retained log no longer holds.</summary>
    public void UseReplay(IEventReplay replay) => Replay = replay;

    internal TimeProvider Time => _time;

    internal ILogger Logger => _logger;

    /// <summary>Starts the dispatcher thread. Idempotent.</summary>
    public void Start()
    {
        lock (_registrationGate)
        {
            if (_thread is not null)
            {
                return;
            }

            _thread = new Thread(Run) { IsBackground = true, Name = "execdist-dispatcher", Priority = ThreadPriority.AboveNormal };
            _thread.Start();
        }

        DistributionLog.DispatcherStarted(_logger, _options.IngestQueueCapacity, _log.Capacity, _options.SubscriberBufferCapacity);
    }

    /// <summary>
    /// Attaches a subscriber. It receives matching events from <paramref name="startPosition"/>
    /// (default: the current head, i.e. from now on) with sequence numbers continuing after
    /// <paramref name="initialSequence"/>. Never blocks dispatch. <paramref name="reader"/> is woken
    /// when it has something to read (none: it is waited on, <see cref="Subscriber.WaitToReadAsync"/>);
    /// with <paramref name="logOrder"/> its batches keep log order (a reader of several subscribers
    /// merges them by position), otherwise urgent events come first within a batch.
    /// </summary>
    /// <exception cref="SubscriptionRejectedException">The id is taken or the subscriber limit is reached.</exception>
    public Subscriber Subscribe(
        string id,
        SubscriptionFilter filter,
        DeliveryGuarantee guarantee,
        long? startPosition = null,
        long initialSequence = 0,
        int? bufferCapacity = null,
        ISubscriberReader? reader = null,
        bool logOrder = false,
        ResumeFloor? floor = null) => Attach(id, filter, guarantee, startPosition, initialSequence, bufferCapacity, reader, logOrder, floor);

    /// <summary>
    /// One of the core's delivery loop threads, in turn, for a reader of subscribers (a client
    /// connection) to run on (<see cref="DistributionOptions.DeliveryThreads"/> of them, made on first use).
    /// </summary>
    internal DeliveryLoop NextDeliveryLoop()
    {
        var loops = Volatile.Read(ref _loops);
        if (loops is null)
        {
            lock (_registrationGate)
            {
                loops = _loops ??= CreateLoops();
            }
        }

        return loops[(int)((uint)Interlocked.Increment(ref _nextLoop) % (uint)loops.Length)];
    }

    private Subscriber Attach(
        string id,
        SubscriptionFilter filter,
        DeliveryGuarantee guarantee,
        long? startPosition,
        long initialSequence,
        int? bufferCapacity,
        ISubscriberReader? reader,
        bool logOrder,
        ResumeFloor? floor)
    {
        Subscriber subscriber;
        lock (_registrationGate)
        {
            if (_subscribers.ContainsKey(id))
            {
                throw new SubscriptionRejectedException(SubscriptionRejection.DuplicateId, $"subscriber '{id}' is already attached");
            }

            if (_subscribers.Count >= _options.MaxSubscribers)
            {
                throw new SubscriptionRejectedException(SubscriptionRejection.LimitReached,
                    $"the service already has {_options.MaxSubscribers} subscribers (Distribution:MaxSubscribers)");
            }

            var head = _log.Head;
            var start = startPosition ?? head;
            var capacity = bufferCapacity ?? _options.SubscriberBufferCapacity;
            var farBehind = head - start > Math.Max(1, capacity / 2);
            subscriber = new Subscriber(id, filter, guarantee, capacity, _options.ReadBatchSize, start, initialSequence, _log, this, reader, logOrder, farBehind) { Floor = floor };

            _subscribers.Add(id, subscriber);
            _registrations.Enqueue((subscriber, true));
        }

        // After the registration is queued: the dispatcher applies registrations after taking rejoin
        // requests, so the subscriber is in its index by the time it goes live (no event slips between).
        // One that starts far behind catches up on its reader first and asks to rejoin when it is near
        // the head.
        if (subscriber.Mode == Subscriber.CatchingUp)
        {
            subscriber.Signal();
        }
        else
        {
            RequestRejoin(subscriber);
        }
        DistributionLog.SubscriberAttached(_logger, id, guarantee.Name());
        return subscriber;
    }

    /// <summary>
    /// Detaches and closes a subscriber: its reader is woken and finds it closed (a pending wait
    /// completes with false once it is drained). Idempotent.
    /// </summary>
    public void Unsubscribe(Subscriber subscriber)
    {
        Detach(subscriber);
        subscriber.Close();
        DistributionLog.SubscriberDetached(_logger, subscriber.Id, subscriber.Delivered, subscriber.Dropped, subscriber.CatchUps);
    }

    /// <summary>
    /// Removes a subscriber from the index: the dispatcher stops offering it events from its next batch
    /// on (a batch under way may still offer it some, which a closed subscriber ignores).
    /// </summary>
    internal void Detach(Subscriber subscriber)
    {
        lock (_registrationGate)
        {
            if (!_subscribers.TryGetValue(subscriber.Id, out var current) || !ReferenceEquals(current, subscriber))
            {
                return;
            }

            _subscribers.Remove(subscriber.Id);
            _departed = (_departed.Dropped + subscriber.Dropped, _departed.Lost + subscriber.LostPositions);
            _registrations.Enqueue((subscriber, false));
        }

        WakeDispatcher();
    }

    private DeliveryLoop[] CreateLoops()
    {
        var loops = new DeliveryLoop[Math.Max(1, _options.DeliveryThreads)];
        for (var i = 0; i < loops.Length; i++)
        {
            loops[i] = new DeliveryLoop(i, _options.MaxSubscribers, _logger);
        }

        return loops;
    }

    /// <summary>The event at a position, if still retained.</summary>
    public bool TryGetRetained(long position, out ExecutionEvent e) => _log.TryGet(position, out e);

    /// <summary>The <paramref name="count"/> attached subscribers furthest behind: queued positions, including what a subscriber catching up has still to read from the log. Any thread.</summary>
    public IReadOnlyList<SubscriberLag> Slowest(int count)
    {
        lock (_registrationGate)
        {
            return [.. _subscribers.Values
                .Select(s => new SubscriberLag(s.Id, s.Guarantee.Name(), s.Queued, s.IsCatchingUp, s.Delivered, s.Dropped, s.LostPositions))
                .OrderByDescending(s => s.Behind).Take(count)];
        }
    }

    /// <summary>Deliveries dropped (at_most_once) and positions announced lost, over every subscriber there has been. Any thread.</summary>
    internal (long Dropped, long Lost) Losses()
    {
        lock (_registrationGate)
        {
            var (dropped, lost) = _departed;
            foreach (var s in _subscribers.Values)
            {
                dropped += s.Dropped;
                lost += s.LostPositions;
            }

            return (dropped, lost);
        }
    }

    /// <summary>A snapshot of the core's counters.</summary>
    public DistributionStats GetStats()
    {
        long catchingUp = 0, dropped = 0, delivered = 0, rereads = 0;
        int attached;
        lock (_registrationGate)
        {
            attached = _subscribers.Count;
            foreach (var s in _subscribers.Values)
            {
                delivered += s.Delivered;
                dropped += s.Dropped;
                rereads += s.Rereads;
                if (s.IsCatchingUp)
                {
                    catchingUp++;
                }
            }
        }

        return new DistributionStats(
            Volatile.Read(ref _ingested),
            Volatile.Read(ref _routed),
            delivered,
            dropped,
            Volatile.Read(ref _rejected),
            attached,
            catchingUp,
            _log.Head,
            _log.Tail,
            _log.Capacity,
            _ingest.Count,
            LogEpoch,
            rereads,
            Volatile.Read(ref _ringGrowthBytes),
            Volatile.Read(ref _ringGrowthsRefused),
            _log.Bytes);
    }

    /// <summary>
    /// Phased stop: refuse new events, let the dispatcher drain what was accepted (up to
    /// <paramref name="drainTimeout"/>), then close every subscriber so their readers finish.
    /// </summary>
    public Task StopAsync(TimeSpan drainTimeout)
    {
        Complete();
        var thread = _thread;
        return Task.Run(() =>
        {
            if (thread is not null && !thread.Join(drainTimeout))
            {
                DistributionLog.DrainTimedOut(_logger, _ingest.Count);
            }

            CloseAllSubscribers();
            DistributionLog.DispatcherStopped(_logger, Volatile.Read(ref _ingested), Volatile.Read(ref _routed));
        });
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Complete();
        _thread?.Join(TimeSpan.FromSeconds(5));
        CloseAllSubscribers();
        _wake.Dispose();
    }

    // Closes every subscriber (their readers are woken and find them closed), then stops the delivery
    // loops once the turns this queued have run.
    private void CloseAllSubscribers()
    {
        Subscriber[] all;
        lock (_registrationGate)
        {
            all = [.. _subscribers.Values];
        }

        foreach (var s in all)
        {
            s.Close();
        }

        foreach (var loop in Interlocked.Exchange(ref _loops, null) ?? [])
        {
            loop.Dispose();
        }
    }
}
