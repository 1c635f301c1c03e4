using Microsoft.Extensions.Logging;

namespace ExecutionDistribution.Core;

/// <summary>
/// Work a <see cref="DeliveryLoop"/> runs: a reader of one or more subscribers (a client connection)
/// that reads what they hold and sends it, inline on the loop's thread. A turn must not block; a turn
/// that cannot go on (a send not finished, a linger) returns and is scheduled again by whoever ends the wait.
/// </summary>
public interface IDeliveryWork
{
    /// <summary>One turn: read and send what is there, up to a fair share, then return.</summary>
    void RunTurn();

    /// <summary>The turn threw: the work is ended (its subscribers closed); called once per failure.</summary>
    void Fail(Exception exception);
}

/// <summary>
/// One delivery thread serving many readers (client connections). A reader woken by its subscribers
/// schedules itself (at most once until it has run) into a bounded lock-free queue; the loop runs each
/// scheduled reader's turn inline. This replaces a thread-pool work item per connection per dispatch
/// batch with a kernel wake-up only when the loop had gone idle.
/// </summary>
internal sealed class DeliveryLoop : IDisposable
{
    /// <summary>Empty polls before the loop parks: short, because on a small machine spinning takes the core the dispatcher needs.</summary>
    private const int SpinsBeforePark = 8;

    private readonly WorkQueue _queue;
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
    private readonly Thread _thread;
    private readonly ILogger _logger;
    private volatile bool _stopping;
    private int _sleeping;

    public DeliveryLoop(int index, int capacity, ILogger logger)
    {
        _queue = new WorkQueue(capacity);
        _logger = logger;
        _thread = new Thread(Run) { IsBackground = true, Name = $"execdist-delivery-{index}" };
        _thread.Start();
    }

    /// <summary>Queues work that has something to do (the caller won its scheduling flag). Any thread.</summary>
    public void Schedule(IDeliveryWork work)
    {
        _queue.Enqueue(work);
        if (Volatile.Read(ref _sleeping) == 1 && Interlocked.Exchange(ref _sleeping, 0) == 1)
        {
            _wake.Set();
        }
    }

    /// <summary>Stops the thread once what is queued has run (readers told their subscribers closed), waiting up to 5 s.</summary>
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
        while (true)
        {
            if (_queue.TryDequeue(out var work))
            {
                idle = 0;
                RunTurn(work);
                continue;
            }

            if (_stopping)
            {
                return;
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

    private void RunTurn(IDeliveryWork work)
    {
        try
        {
            work.RunTurn();
        }
        catch (Exception ex)
        {
            // A faulty reader loses its stream, never the loop or the other readers.
            DistributionLog.HandlerFailed(_logger, work.ToString() ?? "reader", ex);
            try
            {
                work.Fail(ex);
            }
            catch (Exception)
            {
                // Already failing; logged above.
            }
        }
    }

    /// <summary>
    /// Bounded multi-producer / single-consumer queue of readers (Vyukov's bounded queue with a
    /// sequence per slot). Capacity covers every subscriber (a reader has at least one), and each is
    /// queued at most once at a time, so it never fills.
    /// </summary>
    private sealed class WorkQueue
    {
        private readonly Slot[] _slots;
        private readonly long _mask;
        private long _enqueuePosition;
        private long _dequeuePosition;

        public WorkQueue(int capacity)
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

        public void Enqueue(IDeliveryWork work)
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
                        slot.Item = work;
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

        public bool TryDequeue(out IDeliveryWork work)
        {
            var position = _dequeuePosition;
            ref var slot = ref _slots[position & _mask];
            if (Volatile.Read(ref slot.Sequence) - (position + 1) < 0)
            {
                work = null!;
                return false;
            }

            work = slot.Item!;
            slot.Item = null;
            Volatile.Write(ref slot.Sequence, position + _slots.Length);
            Volatile.Write(ref _dequeuePosition, position + 1);
            return true;
        }

        private struct Slot
        {
            public long Sequence;
            public IDeliveryWork? Item;
        }
    }
}
