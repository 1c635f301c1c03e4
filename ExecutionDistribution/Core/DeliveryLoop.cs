using Microsoft.Extensions.Logging;

namespace ExecutionDistribution.Core;

/// <summary>
/// Receives a subscriber's deliveries on a delivery loop thread (push mode). Implementations must
/// not block and must not keep the batch: it is reused for the next subscriber. A transport copies
/// the shared serialized bytes into its connection buffer and signals its own flush.
/// </summary>
public interface IDeliveryHandler
{
    /// <summary>Deliveries (and drop / loss announcements) for <paramref name="subscriber"/>, in order.</summary>
    /// <returns>
    /// True to keep receiving; false to pause after this batch (the connection is backed up). The
    /// subscriber's buffer then fills and its overflow policy applies; call
    /// <see cref="Subscriber.ResumeDelivery"/> when ready again.
    /// </returns>
    bool OnDeliveries(Subscriber subscriber, DeliveryBatch batch);

    /// <summary>The subscriber was closed (unsubscribed, or the service is stopping). Called once.</summary>
    void OnClosed(Subscriber subscriber);

    /// <summary>Most deliveries one <see cref="OnDeliveries"/> call takes (a message's limit); the loop's batch size when larger.</summary>
    int MaxDeliveriesPerCall => int.MaxValue;
}

/// <summary>
/// One delivery thread serving many push-mode subscribers. The dispatcher schedules a subscriber
/// (at most once until it has run) into a bounded lock-free queue; the loop runs each scheduled
/// subscriber's reads and handler inline. This replaces one thread-pool work item per subscriber per
/// dispatch batch with a kernel wake-up only when the loop had gone idle.
/// </summary>
internal sealed class DeliveryLoop : IDisposable
{
    /// <summary>
    /// Batches a subscriber may take per turn before the loop moves on, however little it has queued;
    /// one with more queued takes more, up to <see cref="MaxBatchesPerTurn"/> (see <see cref="Subscriber.RunTurn"/>).
    /// </summary>
    private const int MinBatchesPerTurn = 4;

    /// <summary>
    /// Most batches per turn (4,096 deliveries at the default batch size): four times the least, and
    /// short enough that the loop's other subscribers wait a few milliseconds at most (a
    /// whole ring per turn, up to 256 batches, measured slower in W2).
    /// </summary>
    private const int MaxBatchesPerTurn = 16;

    /// <summary>Log positions a catching-up subscriber may scan per turn (a few milliseconds of filtering).</summary>
    private const long ScanBudgetPerTurn = 65_536;

    /// <summary>Empty polls before the loop parks: short, because on a small machine spinning takes the core the dispatcher needs.</summary>
    private const int SpinsBeforePark = 8;

    private readonly SubscriberQueue _queue;
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
    private readonly DeliveryBatch _batch;
    private readonly Thread _thread;
    private readonly ILogger _logger;
    private volatile bool _stopping;
    private int _sleeping;

    public DeliveryLoop(int index, int capacity, int batchSize, ILogger logger)
    {
        _queue = new SubscriberQueue(capacity);
        _batch = new DeliveryBatch(batchSize);
        _logger = logger;
        _thread = new Thread(Run) { IsBackground = true, Name = $"execdist-delivery-{index}" };
        _thread.Start();
    }

    /// <summary>Queues a subscriber that has work (the caller won its scheduling flag). Any thread.</summary>
    public void Schedule(Subscriber subscriber)
    {
        _queue.Enqueue(subscriber);
        if (Volatile.Read(ref _sleeping) == 1 && Interlocked.Exchange(ref _sleeping, 0) == 1)
        {
            _wake.Set();
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _wake.Set();
        _thread.Join(TimeSpan.FromSeconds(5));
        _wake.Dispose();
    }

    private void Run()
    {
        var idle = 0;
        while (!_stopping)
        {
            if (_queue.TryDequeue(out var subscriber))
            {
                idle = 0;
                RunTurn(subscriber);
                continue;
            }

            if (++idle < SpinsBeforePark)
            {
                Thread.SpinWait(20);
                continue;
            }

            _wake.Reset();
            Interlocked.Exchange(ref _sleeping, 1);
            if (!_queue.IsEmpty || _stopping)
            {
                Volatile.Write(ref _sleeping, 0);
                continue;
            }

            _wake.Wait();
            idle = 0;
        }
    }

    private void RunTurn(Subscriber subscriber)
    {
        try
        {
            subscriber.RunTurn(_batch, MinBatchesPerTurn, MaxBatchesPerTurn, ScanBudgetPerTurn);
        }
        catch (Exception ex)
        {
            // A faulty handler loses its subscription, never the loop or the other subscribers.
            DistributionLog.HandlerFailed(_logger, subscriber.Id, ex);
            subscriber.FailHandler();
        }
    }

    /// <summary>
    /// Bounded multi-producer / single-consumer queue of subscribers (Vyukov's bounded queue with a
    /// sequence per slot). Capacity covers every subscriber, and each is queued at most once at a
    /// time, so it never fills.
    /// </summary>
    private sealed class SubscriberQueue
    {
        private readonly Slot[] _slots;
        private readonly long _mask;
        private long _enqueuePosition;
        private long _dequeuePosition;

        public SubscriberQueue(int capacity)
        {
            var size = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(capacity, 2));
            _slots = new Slot[size];
            for (var i = 0; i < size; i++)
            {
                _slots[i].Sequence = i;
            }

            _mask = size - 1;
        }

        public bool IsEmpty => Volatile.Read(ref _dequeuePosition) == Volatile.Read(ref _enqueuePosition);

        public void Enqueue(Subscriber subscriber)
        {
            var spinner = default(SpinWait);
            while (true)
            {
                var position = Volatile.Read(ref _enqueuePosition);
                ref var slot = ref _slots[position & _mask];
                var diff = Volatile.Read(ref slot.Sequence) - position;
                if (diff == 0)
                {
                    if (Interlocked.CompareExchange(ref _enqueuePosition, position + 1, position) == position)
                    {
                        slot.Item = subscriber;
                        Volatile.Write(ref slot.Sequence, position + 1);
                        return;
                    }
                }
                else if (diff < 0)
                {
                    // Full: cannot happen while capacity >= subscribers; wait rather than lose a wake-up.
                    spinner.SpinOnce();
                }
            }
        }

        public bool TryDequeue(out Subscriber subscriber)
        {
            var position = _dequeuePosition;
            ref var slot = ref _slots[position & _mask];
            if (Volatile.Read(ref slot.Sequence) - (position + 1) < 0)
            {
                subscriber = null!;
                return false;
            }

            subscriber = slot.Item!;
            slot.Item = null;
            Volatile.Write(ref slot.Sequence, position + _slots.Length);
            Volatile.Write(ref _dequeuePosition, position + 1);
            return true;
        }

        private struct Slot
        {
            public long Sequence;
            public Subscriber? Item;
        }
    }
}
