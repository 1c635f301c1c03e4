using System.Collections.Concurrent;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;

namespace ExecutionDistribution.Tests.Support;

/// <summary>
/// Reads a subscriber on a background task the way a transport would, recording every delivery,
/// announced drop and lost position. <see cref="Gate"/> can hold the reader to simulate a stall.
/// </summary>
internal sealed class CollectingReader : IAsyncDisposable
{
    private readonly FanOutDispatcher _core;
    private readonly Task _loop;
    private readonly ConcurrentQueue<Delivery> _deliveries = new();
    private long _dropped;
    private long _lost;
    private long _count;

    public CollectingReader(FanOutDispatcher core, Subscriber subscriber, bool startStalled = false, int batchCapacity = 256)
    {
        _core = core;
        Subscriber = subscriber;
        if (!startStalled)
        {
            Gate.Set();
        }

        _loop = Task.Run(() => RunAsync(batchCapacity));
    }

    public Subscriber Subscriber { get; }

    /// <summary>Reset to stall the reader, set to let it read.</summary>
    public ManualResetEventSlim Gate { get; } = new(false);

    public long Count => Interlocked.Read(ref _count);

    public long Dropped => Interlocked.Read(ref _dropped);

    public long Lost => Interlocked.Read(ref _lost);

    public long LastResumePosition { get; private set; }

    public long LastSequence { get; private set; }

    public List<Delivery> Deliveries => [.. _deliveries];

    public List<ExecutionEvent> Events => [.. _deliveries.Select(d => d.Event)];

    private async Task RunAsync(int batchCapacity)
    {
        var batch = new DeliveryBatch(batchCapacity);
        while (await Subscriber.WaitToReadAsync())
        {
            Gate.Wait();
            while (Subscriber.TryReadBatch(batch))
            {
                foreach (var d in batch.Deliveries)
                {
                    _deliveries.Enqueue(d);
                }

                Interlocked.Add(ref _dropped, batch.Dropped);
                Interlocked.Add(ref _lost, batch.LostPositions);
                LastResumePosition = batch.ResumePosition;
                LastSequence = batch.LastSequence;
                Interlocked.Add(ref _count, batch.Count);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _core.Unsubscribe(Subscriber);
        Gate.Set();
        await _loop.WaitAsync(TimeSpan.FromSeconds(10));
        Gate.Dispose();
    }
}
