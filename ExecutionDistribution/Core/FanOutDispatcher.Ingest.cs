using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Core;

/// <summary>Producers' side: events into the bounded ingest queue, waiting for room when it is full (<see cref="IExecutionIngest"/>).</summary>
public sealed partial class FanOutDispatcher
{
    /// <inheritdoc />
    public bool TryPublish(ExecutionEvent e)
    {
        if (!TryPublishWithoutWake(e))
        {
            return false;
        }

        WakeDispatcher();
        return true;
    }

    /// <inheritdoc />
    public bool TryPublishWithoutWake(ExecutionEvent e)
    {
        Stamp(e);
        if (TryEnqueue(e) != Enqueued.Yes)
        {
            Interlocked.Increment(ref _rejected);
            return false;
        }

        return true;
    }

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The core is stopping.</exception>
    public async ValueTask PublishAsync(ExecutionEvent e, CancellationToken cancellationToken)
    {
        Stamp(e);
        var outcome = TryEnqueue(e);
        while (outcome == Enqueued.Full)
        {
            outcome = await WaitForRoomAsync(e, cancellationToken).ConfigureAwait(false);
        }

        if (outcome == Enqueued.Stopping)
        {
            throw new InvalidOperationException("the dispatch core is stopping and accepts no more events");
        }

        WakeDispatcher();
    }

    // Full: wait until the dispatcher has taken a batch, then try again. The waiter is counted in before
    // its last try, so either that try finds room or the dispatcher, which has a full queue to take
    // from, sees the waiter after its next batch and completes the task (ReleaseRoomWaiters).
    private async ValueTask<Enqueued> WaitForRoomAsync(ExecutionEvent e, CancellationToken cancellationToken)
    {
        WakeDispatcher();
        Interlocked.Increment(ref _roomWaiters);
        try
        {
            var room = RoomTask();
            var outcome = TryEnqueue(e);
            if (outcome != Enqueued.Full)
            {
                return outcome;
            }

            await room.WaitAsync(cancellationToken).ConfigureAwait(false);
            return TryEnqueue(e);
        }
        finally
        {
            Interlocked.Decrement(ref _roomWaiters);
        }
    }

    private enum Enqueued
    {
        Yes,
        Full,
        Stopping,
    }

    private Enqueued TryEnqueue(ExecutionEvent e)
    {
        // Counted in before the stop flag is read: a stop either is seen here or waits for this enqueue (Run).
        Interlocked.Increment(ref _publishing);
        try
        {
            if (Volatile.Read(ref _completed) == 1)
            {
                return Enqueued.Stopping;
            }

            return _ingest.TryEnqueue(e) ? Enqueued.Yes : Enqueued.Full;
        }
        finally
        {
            Interlocked.Decrement(ref _publishing);
        }
    }

    // The task a producer waiting for room awaits: the current one, or a new one if none is out.
    private Task RoomTask()
    {
        var current = Volatile.Read(ref _room);
        if (current is not null)
        {
            return current.Task;
        }

        var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return (Interlocked.CompareExchange(ref _room, created, null) ?? created).Task;
    }

    // Dispatcher, after taking a batch: producers waiting for room try again.
    private void ReleaseRoomWaiters()
    {
        // A full fence between taking the batch (freeing slots) and reading the waiters: a producer
        // counts itself in, then tries again, so one of the two sides sees the other.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _roomWaiters) > 0 && Interlocked.Exchange(ref _room, null) is { } room)
        {
            room.TrySetResult();
        }
    }

    // No more events accepted; the dispatcher drains what was.
    private void Complete()
    {
        Interlocked.Exchange(ref _completed, 1);
        Interlocked.Exchange(ref _room, null)?.TrySetResult(); // waiting producers see the stop
        _wake.Set();
    }
}
