using Microsoft.Extensions.Time.Testing;

namespace ExecutionDistribution.Tests.Support;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that also tells which timers were armed: code often marks a state
/// (paused, resting) before it arms the timer that ends it, and advancing the clock between the two
/// would fire nothing. A test waits for <see cref="WasArmed"/> before it advances.
/// </summary>
internal sealed class ArmingFakeTime(DateTimeOffset start) : FakeTimeProvider(start)
{
    private readonly List<TimeSpan> _armed = [];

    /// <summary>True once a timer was set to fire <paramref name="due"/> after the time it was set.</summary>
    public bool WasArmed(TimeSpan due)
    {
        lock (_armed)
        {
            return _armed.Contains(due);
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        Record(dueTime);
        return new Recording(this, base.CreateTimer(callback, state, dueTime, period));
    }

    private void Record(TimeSpan due)
    {
        if (due != Timeout.InfiniteTimeSpan)
        {
            lock (_armed)
            {
                _armed.Add(due);
            }
        }
    }

    private sealed class Recording(ArmingFakeTime owner, ITimer inner) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            var changed = inner.Change(dueTime, period);
            owner.Record(dueTime);
            return changed;
        }

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
