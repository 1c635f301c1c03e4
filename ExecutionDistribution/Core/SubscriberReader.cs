using System.Threading.Tasks.Sources;

namespace ExecutionDistribution.Core;

/// <summary>
/// Who reads a subscriber. The subscriber calls <see cref="Wake"/> when it has something to read or
/// was closed: from the dispatcher thread (so it must not block) and from others. A client connection
/// is one reader of all its subscribers, served by a <see cref="DeliveryLoop"/>; an in-process
/// consumer that does its own I/O waits with a <see cref="SubscriberWaiter"/>.
/// </summary>
public interface ISubscriberReader
{
    /// <summary>There may be something to read (or the subscriber closed). Non-blocking; may be called more often than needed.</summary>
    void Wake();
}

/// <summary>
/// The reader of one subscriber consumed in a task of its own (an in-process consumer: the order
/// projection, the Kafka output, the audit recorder): <see cref="Subscriber.WaitToReadAsync"/> waits on it.
/// A wake completes a pending wait through the thread pool, at most once per wait, without allocating.
/// </summary>
public sealed class SubscriberWaiter : ISubscriberReader, IValueTaskSource<bool>, IThreadPoolWorkItem
{
    private ManualResetValueTaskSourceCore<bool> _signal;
    private Subscriber? _subscriber;
    private int _waiting;

    internal Subscriber Subscriber
    {
        get => _subscriber!;
        set => _subscriber = value;
    }

    /// <inheritdoc />
    public void Wake()
    {
        if (Volatile.Read(ref _waiting) == 1 && Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    /// <summary>Waits until there is something to read (true) or the subscriber is closed and drained (false). One waiter at a time.</summary>
    public ValueTask<bool> WaitAsync()
    {
        var s = Subscriber;
        if (s.HasWork())
        {
            return new ValueTask<bool>(true);
        }

        if (s.IsClosed)
        {
            return new ValueTask<bool>(false);
        }

        _signal.Reset();
        Interlocked.Exchange(ref _waiting, 1);

        // Re-check after announcing: a wake that came before _waiting was 1 woke nobody.
        if ((s.HasWork() || s.IsClosed) && Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            return new ValueTask<bool>(s.HasWork() || !s.IsClosed);
        }

        // Otherwise a wake took the flag and queued the completion: wait for it so it is consumed.
        return new ValueTask<bool>(this, _signal.Version);
    }

    void IThreadPoolWorkItem.Execute() => _signal.SetResult(true);

    bool IValueTaskSource<bool>.GetResult(short token)
    {
        _signal.GetResult(token);
        return !Subscriber.IsClosed || Subscriber.HasWork();
    }

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _signal.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _signal.OnCompleted(continuation, state, token, flags);
}
