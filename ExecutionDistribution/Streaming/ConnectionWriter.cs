using System.Collections.Concurrent;

namespace ExecutionDistribution.Streaming;

/// <summary>
/// Who writes to a connection: one writer at a time, and the delivery loop never waits for it. The
/// loop takes it if it is free, or asks for it (<see cref="TryTakeOrWant"/>) and returns; writers off
/// the loop (replies, heartbeats, the opening) wait their turn in order and are handed it still taken.
/// Whoever frees it while the loop asked for it resumes the connection.
/// </summary>
/// <param name="resumeLoop">Schedules the connection on its loop again.</param>
internal sealed class ConnectionWriter(Action resumeLoop)
{
    private const int Free = 0;
    private const int Taken = 1;

    // Writers off the loop waiting for their turn.
    private readonly ConcurrentQueue<TaskCompletionSource> _waiters = new();
    private int _writer = Free;
    private int _wantedByLoop;
    private int _takenForGood;

    /// <summary>Takes the writer if it is free.</summary>
    public bool TryTake() => Volatile.Read(ref _writer) == Free && Interlocked.CompareExchange(ref _writer, Taken, Free) == Free;

    /// <summary>
    /// The loop, after a failed <see cref="TryTake"/>: takes the writer, or leaves word that it wants it.
    /// Both sides use full fences (want, then try; free, then look), so one of them sees the other.
    /// </summary>
    public bool TryTakeOrWant()
    {
        Interlocked.Exchange(ref _wantedByLoop, 1);
        if (TryTake())
        {
            Volatile.Write(ref _wantedByLoop, 0);
            return true;
        }

        return false;
    }

    /// <summary>Off the loop: the writer, now or when it is handed over; cancelled once it is taken for good.</summary>
    public Task TakeAsync()
    {
        if (TryTake())
        {
            return Task.CompletedTask;
        }

        var turn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiters.Enqueue(turn);

        // Freed since: take it and pass it on (to the first waiter, perhaps this one).
        if (TryTake())
        {
            PassOn();
        }
        else if (Volatile.Read(ref _takenForGood) == 1)
        {
            CancelWaiters();
        }

        return turn.Task;
    }

    /// <summary>Takes the writer and keeps it: nothing writes once this returns; waiters are told the connection ended.</summary>
    public async Task TakeForGoodAsync()
    {
        await TakeAsync().ConfigureAwait(false);
        Interlocked.Exchange(ref _takenForGood, 1);
        CancelWaiters();
    }

    /// <summary>Holding the writer: to the next waiter, or free (then the loop, if it asked for it, goes on).</summary>
    public void PassOn()
    {
        while (true)
        {
            if (_waiters.TryDequeue(out var next))
            {
                next.SetResult();
                return;
            }

            Interlocked.Exchange(ref _writer, Free);
            if (Interlocked.Exchange(ref _wantedByLoop, 0) == 1)
            {
                resumeLoop();
            }

            if (_waiters.IsEmpty || !TryTake())
            {
                return;
            }
        }
    }

    private void CancelWaiters()
    {
        while (_waiters.TryDequeue(out var waiter))
        {
            waiter.TrySetCanceled();
        }
    }
}
