using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;

namespace ExecutionDistribution.Benchmarks.Support;

/// <summary>
/// Reads one subscriber on one of the core's delivery loops, as a client connection does, and hands
/// each batch to <paramref name="onBatch"/> in place of a transport's write (which completes at once).
/// </summary>
internal sealed class LoopReader : ISubscriberReader, IDeliveryWork
{
    private const int BatchesPerTurn = 16;

    private readonly DeliveryLoop _loop;
    private readonly Action<DeliveryBatch> _onBatch;
    private readonly DeliveryBatch _batch = new(256);
    private int _scheduled;

    private LoopReader(FanOutDispatcher core, Action<DeliveryBatch> onBatch)
    {
        _loop = core.NextDeliveryLoop();
        _onBatch = onBatch;
    }

    /// <summary>The subscriber read.</summary>
    public Subscriber Subscriber { get; private set; } = null!;

    /// <summary>Subscribes <paramref name="id"/> with a reader on a delivery loop.</summary>
    public static LoopReader Subscribe(FanOutDispatcher core, string id, SubscriptionFilter filter, Action<DeliveryBatch> onBatch)
    {
        var reader = new LoopReader(core, onBatch);
        reader.Subscriber = core.Subscribe(id, filter, DeliveryGuarantee.AtLeastOnce, reader: reader);
        reader.Wake();
        return reader;
    }

    public void Wake()
    {
        if (Volatile.Read(ref _scheduled) == 0 && Interlocked.Exchange(ref _scheduled, 1) == 0)
        {
            _loop.Schedule(this);
        }
    }

    public void RunTurn()
    {
        Volatile.Write(ref _scheduled, 0);
        var s = Subscriber;
        if (s is null)
        {
            return;
        }

        for (var i = 0; i < BatchesPerTurn; i++)
        {
            if (!s.TryReadBatch(_batch))
            {
                return;
            }

            _onBatch(_batch);
        }

        Wake();
    }

    public void Fail(Exception exception)
    {
    }
}
