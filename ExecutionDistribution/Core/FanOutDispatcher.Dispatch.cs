using ExecutionDistribution.Contract;
using Microsoft.Extensions.Logging;

namespace ExecutionDistribution.Core;

/// <summary>The dispatcher thread: batches from the ingest queue into the log and the subscribers' rings, and what it does between batches.</summary>
public sealed partial class FanOutDispatcher
{
    /// <summary>Dispatcher thread: a matching subscriber takes the position (or applies its overflow policy).</summary>
    internal void Deliver(Subscriber s, long position)
    {
        if (!s.Offer(position))
        {
            return;
        }

        _routed++;
        if (s.TouchedStamp != _batchStamp)
        {
            s.TouchedStamp = _batchStamp;
            if (_touchedCount == _touched.Length)
            {
                Array.Resize(ref _touched, _touched.Length * 2);
            }

            _touched[_touchedCount++] = s;
        }
    }

    /// <summary>Subscribers in the dispatcher's routing index (registrations it has applied).</summary>
    internal int IndexedSubscribers => Volatile.Read(ref _indexed);

    /// <summary>A live subscriber's reader found a position of its ring gone from the log (see <see cref="Subscriber.FallBehind"/>).</summary>
    internal void RequestCatchUp(Subscriber s, long position)
    {
        _fellBehind.Enqueue((s, position));
        WakeDispatcher();
    }

    /// <summary>A catching-up (or new) subscriber asks to be put on the live path.</summary>
    internal void RequestRejoin(Subscriber s)
    {
        _rejoins.Enqueue(s);
        WakeDispatcher();
    }

    private void Stamp(ExecutionEvent e)
    {
        if (e.IngestTimestamp == 0)
        {
            e.IngestTimestamp = _time.GetTimestamp();
        }
    }

    /// <inheritdoc />
    public void WakeDispatcher()
    {
        if (Volatile.Read(ref _sleeping) == 1 && Interlocked.Exchange(ref _sleeping, 0) == 1)
        {
            _wake.Set();
        }
    }

    private void Run()
    {
        var batch = new ExecutionEvent[Math.Max(1, _options.DispatchBatchSize)];
        try
        {
            while (true)
            {
                var n = 0;
                while (n < batch.Length && _ingest.TryDequeue(out var e))
                {
                    batch[n++] = e;
                }

                // Rejoins first, then the index: see Attach for why this order matters.
                ProcessRejoins();
                ApplyRegistrations();
                if (n == 0)
                {
                    if (Drained())
                    {
                        return;
                    }

                    Sleep();
                    if (_grownRings.Count > 0)
                    {
                        // Idle too: quiet rings go back (and closed subscribers' growth to the budget).
                        ShrinkQuietRings();
                    }

                    continue;
                }

                ReleaseRoomWaiters();

                var index = _index;
                var sink = new DispatchSink(this);
                _batchStamp++;
                for (var i = 0; i < n; i++)
                {
                    var e = batch[i];
                    batch[i] = null!;
                    Portfolios.Resolve(e);
                    _log.Append(e);
                    Sources.Record(e.Position, e.Source);
                    index.Route(e, ref sink);
                }

                Volatile.Write(ref _ingested, _ingested + n);
                Volatile.Write(ref _routedHead, _log.Head);
                for (var i = 0; i < _touchedCount; i++)
                {
                    _touched[i].Signal();
                    _touched[i] = null!;
                }

                _touchedCount = 0;
                _log.TrimExpired(n + 16);
                if (_grownRings.Count > 0)
                {
                    ShrinkQuietRings();
                }
            }
        }
        catch (Exception ex)
        {
            // A bug here would silently stop all distribution: make it loud.
            DistributionLog.DispatcherFailed(_logger, ex);
            throw;
        }
    }

    /// <summary>
    /// A grown ring is given back once it is empty and has not grown for this long: long enough that a
    /// subscriber behind again and again (bursts, a saturated core) keeps its ring instead of
    /// allocating it anew each time (a second here was 0.1-0.3 bytes per event in W1).
    /// </summary>
    private static readonly TimeSpan RingQuiet = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Dispatcher thread: takes <paramref name="bytes"/> of the subscribers' buffer budget for a ring
    /// about to grow; false (counted) when that would exceed <see cref="DistributionOptions.SubscriberBufferBudgetBytes"/>.
    /// </summary>
    internal bool TryReserveRingGrowth(long bytes)
    {
        if (_ringGrowthBytes + bytes > _options.SubscriberBufferBudgetBytes)
        {
            Volatile.Write(ref _ringGrowthsRefused, _ringGrowthsRefused + 1);
            return false;
        }

        Volatile.Write(ref _ringGrowthBytes, _ringGrowthBytes + bytes);
        return true;
    }

    /// <summary>Dispatcher thread: a grown ring was given back (or its subscriber closed).</summary>
    internal void ReleaseRingGrowth(long bytes) => Volatile.Write(ref _ringGrowthBytes, _ringGrowthBytes - bytes);

    /// <summary>Dispatcher thread: <paramref name="s"/>'s ring grew past its initial size.</summary>
    internal void RingGrown(Subscriber s) => _grownRings.Add(s);

    /// <summary>The clock rings' growth is timed by (the core's <see cref="TimeProvider"/> timestamp).</summary>
    internal long RingClock() => _time.GetTimestamp();

    // A few times a second: rings that grew while their subscriber was behind go back to their
    // initial size once drained and quiet, so memory follows the backlog, not its high-water mark.
    private void ShrinkQuietRings()
    {
        var now = _time.GetTimestamp();
        if (now < _nextRingSweep)
        {
            return;
        }

        var quiet = (long)(RingQuiet.TotalSeconds * _time.TimestampFrequency);
        _nextRingSweep = now + (_time.TimestampFrequency / 4);
        for (var i = _grownRings.Count - 1; i >= 0; i--)
        {
            if (_grownRings[i].TryShrink(now, quiet))
            {
                _grownRings.RemoveAt(i);
            }
        }
    }

    /// <summary>Fewest registrations between two builds of the index (see <see cref="ApplyRegistrations"/>).</summary>
    private const int MinChangesBeforeRebuild = 64;

    // Changed piece by piece, the index's buckets end up scattered over the heap. Once the changes
    // reach its size, a fresh index of the same members is built in one go on the thread pool (a few
    // ms per 1,000 subscribers, which the dispatcher does not wait for); the changes made meanwhile are
    // applied to it too, and it takes over at the next pass here. Amortised constant time per change.
    private void ApplyRegistrations()
    {
        if (_registrations.IsEmpty && _rebuild is null)
        {
            return;
        }

        while (_registrations.TryDequeue(out var change))
        {
            Apply(_index, change);
            _sinceSnapshot?.Add(change);
            _changesSinceBuild++;
        }

        if (_rebuild is { IsCompleted: true } built)
        {
            if (built.IsCompletedSuccessfully)
            {
                var fresh = built.Result;
                foreach (var change in _sinceSnapshot!)
                {
                    Apply(fresh, change);
                }

                _index = fresh;
            }
            else
            {
                DistributionLog.IndexBuildFailed(_logger, built.Exception!.GetBaseException());
            }

            (_rebuild, _sinceSnapshot) = (null, null);
        }
        else if (_rebuild is null && _changesSinceBuild >= Math.Max(MinChangesBeforeRebuild, _index.Count))
        {
            var members = _index.Members.ToArray();
            (_sinceSnapshot, _changesSinceBuild) = ([], 0);
            _rebuild = Task.Run(() => new RoutingIndex(members));

            // Woken once it has completed, so the dispatcher does not sleep with a finished build (see Sleep).
            _rebuild.ContinueWith(static (_, core) => ((FanOutDispatcher)core!).WakeDispatcher(), this, CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        Volatile.Write(ref _indexed, _index.Count);
    }

    private static void Apply(RoutingIndex index, (Subscriber Subscriber, bool Attach) change)
    {
        if (change.Attach)
        {
            index.Add(change.Subscriber);
        }
        else
        {
            index.Remove(change.Subscriber);
        }
    }

    private void ProcessRejoins()
    {
        if (_rejoins.IsEmpty && _fellBehind.IsEmpty)
        {
            return;
        }

        while (_fellBehind.TryDequeue(out var behind))
        {
            behind.Subscriber.FallBehind(behind.Position);
        }

        var head = _log.Head;
        while (_rejoins.TryDequeue(out var s))
        {
            s.CompleteRejoin(head);
        }
    }

    // Stopped, no publisher between its stop check and its enqueue, and nothing left: every accepted
    // event has been dispatched. (A publisher counts itself in before it reads the stop flag, and
    // out after its enqueue, so one this misses saw the stop and accepted nothing.)
    private bool Drained() =>
        Volatile.Read(ref _completed) == 1 && Volatile.Read(ref _publishing) == 0 && _ingest.Count == 0;

    private void Sleep()
    {
        _wake.Reset();
        Interlocked.Exchange(ref _sleeping, 1);
        if (_ingest.Count > 0 || !_rejoins.IsEmpty || !_fellBehind.IsEmpty || !_registrations.IsEmpty || _rebuild is { IsCompleted: true }
            || Volatile.Read(ref _completed) == 1)
        {
            Volatile.Write(ref _sleeping, 0);
            return;
        }

        // Wake at least once a second to trim events past the retention age while idle.
        _wake.Wait(TimeSpan.FromSeconds(1));
        Volatile.Write(ref _sleeping, 0);
        _log.TrimExpired(4096);
    }
}
