namespace ExecutionDistribution.Core;

/// <summary>
/// An at_least_once subscriber's re-read from Kafka of the positions the retained log no longer holds
/// (it fell further behind than the log reaches): an <see cref="IReplayCursor"/> over the subscriber's
/// filter from where it stands, with its sequence numbers going on, until the log takes over again.
/// </summary>
/// <remarks>
/// The subscriber's reader fills from it; the subscriber's close disposes it from another thread, so
/// both take its lock (never the dispatcher, which does not know it exists). While Kafka is fetching,
/// the reader has nothing to do: a timer wakes it again.
/// </remarks>
internal sealed class Reread : IDisposable
{
    /// <summary>How long the reader rests while Kafka fetches the next record.</summary>
    public static readonly TimeSpan FetchPause = TimeSpan.FromMilliseconds(5);

    private readonly Lock _gate = new();
    private readonly IReplayCursor _cursor;
    private readonly ITimer _wake;
    private bool _closed;

    public Reread(IReplayCursor cursor, TimeProvider time, Action wake)
    {
        _cursor = cursor;
        _wake = time.CreateTimer(static state => ((Action)state!)(), wake, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>
    /// The next matching events into <paramref name="batch"/>, numbered after the subscriber's sequence,
    /// and where the subscriber then stands (<paramref name="token"/>). Closed: nothing, and Done.
    /// </summary>
    /// <exception cref="ReplayException">A position cannot be re-read.</exception>
    public ReplayProgress Fill(DeliveryBatch batch, out ResumeToken token)
    {
        lock (_gate)
        {
            if (_closed)
            {
                batch.Reset();
                token = default;
                return ReplayProgress.Done;
            }

            var progress = _cursor.Fill(batch, CancellationToken.None);
            token = _cursor.Token;
            return progress;
        }
    }

    /// <summary>Wakes the reader after <see cref="FetchPause"/>.</summary>
    public void WakeLater()
    {
        lock (_gate)
        {
            if (!_closed)
            {
                _wake.Change(FetchPause, Timeout.InfiniteTimeSpan);
            }
        }
    }

    /// <summary>Ends the re-read (idempotent; any thread).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            _wake.Dispose();
            _cursor.Dispose();
        }
    }
}
