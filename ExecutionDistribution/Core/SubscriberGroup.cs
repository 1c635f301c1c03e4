using System.Threading.Tasks.Sources;

namespace ExecutionDistribution.Core;

/// <summary>
/// One reader for several pull-mode subscribers: a connection that carries several subscriptions
/// waits on its group instead of on each subscriber. A member's dispatcher-side wake-up becomes the
/// group's (two interlocked operations, never a lock, at most one thread-pool wake per wait), and the
/// reader then reads every member, so an event several members take can travel once.
/// </summary>
/// <remarks>
/// Membership changes are rare and made under a lock by the connection's own loops; the dispatcher
/// only ever touches <see cref="Signal"/>. A closed member counts as work until the reader removes it.
/// </remarks>
public sealed class SubscriberGroup : IValueTaskSource<bool>, IThreadPoolWorkItem
{
    private readonly Lock _membership = new();
    private Subscriber[] _members = [];
    private ManualResetValueTaskSourceCore<bool> _signal;
    private int _waiting;
    private volatile bool _closed;

    /// <summary>The members now (a snapshot: copy-on-write).</summary>
    public Subscriber[] Members => Volatile.Read(ref _members);

    /// <summary>True once <see cref="Close"/> was called.</summary>
    public bool IsClosed => _closed;

    /// <summary>Adds a subscriber (already subscribed); its wake-ups go to the group from now on.</summary>
    public void Add(Subscriber subscriber)
    {
        subscriber.JoinGroup(this);
        lock (_membership)
        {
            Volatile.Write(ref _members, [.. _members, subscriber]);
        }

        // Anything it took before joining signalled nobody: look again.
        Signal();
    }

    /// <summary>Removes a member (the reader does this once a closed member is drained).</summary>
    public void Remove(Subscriber subscriber)
    {
        lock (_membership)
        {
            Volatile.Write(ref _members, Array.FindAll(_members, m => !ReferenceEquals(m, subscriber)));
        }
    }

    /// <summary>Ends the group: a pending wait completes with false. Members are closed by their owner.</summary>
    public void Close()
    {
        _closed = true;
        Signal();
    }

    /// <summary>Waits until a member has something to read or was closed (true), or the group is closed and drained (false). One waiter.</summary>
    public ValueTask<bool> WaitToReadAsync()
    {
        // Closed members count as work (the reader removes them), so a closed group still drains.
        if (HasWork())
        {
            return new ValueTask<bool>(true);
        }

        if (_closed)
        {
            return new ValueTask<bool>(false);
        }

        _signal.Reset();
        Interlocked.Exchange(ref _waiting, 1);

        // Re-check after announcing: a member that signalled before seeing _waiting == 1 woke nobody.
        if ((HasWork() || _closed) && Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            return new ValueTask<bool>(HasWork() || !_closed);
        }

        return new ValueTask<bool>(this, _signal.Version);
    }

    /// <summary>A member has work (dispatcher thread or any other): wake the reader if it waits.</summary>
    internal void Signal()
    {
        if (Volatile.Read(ref _waiting) == 1 && Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    private bool HasWork()
    {
        foreach (var member in Volatile.Read(ref _members))
        {
            if (member.HasWork() || member.IsClosed)
            {
                return true;
            }
        }

        return false;
    }

    void IThreadPoolWorkItem.Execute() => _signal.SetResult(true);

    bool IValueTaskSource<bool>.GetResult(short token)
    {
        _signal.GetResult(token);
        return HasWork() || !_closed;
    }

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _signal.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _signal.OnCompleted(continuation, state, token, flags);
}
