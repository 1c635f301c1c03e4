using System.Runtime.CompilerServices;
using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Core;

/// <summary>An at_least_once subscriber behind the retained log re-reads from Kafka (<see cref="IEventReplay"/>) instead of announcing a loss.</summary>
public sealed partial class Subscriber
{
    // at_least_once behind the retained log, with Kafka to re-read from: re-read instead of announcing a loss.
    private bool StartReread(out bool refused)
    {
        refused = false;
        var cursor = _catchUpCursor;
        if (!CanReread || (cursor >= _log.Tail && !(_log.TryGet(cursor, out var next) && _log.IsExpired(next))))
        {
            return false;
        }

        var replay = _dispatcher.Replay!;
        if (cursor < _dispatcher.Sources.Oldest)
        {
            DistributionLog.RereadRefused(_dispatcher.Logger, Id, cursor, $"position {cursor} is older than the source index holds (Distribution:SourceIndexCapacity)");
            refused = true;
            return false;
        }

        var from = _dispatcher.TokenAt(cursor, _sequence, Floor);
        if (replay.CannotReplay(from) is { } reason)
        {
            DistributionLog.RereadRefused(_dispatcher.Logger, Id, cursor, reason);
            refused = true;
            return false;
        }

        var reread = new Reread(replay.Open(Filter, from), _dispatcher.Time, () =>
        {
            Volatile.Write(ref _rereadResting, 0);
            Signal();
        });
        _rereadToken = from;
        Interlocked.Exchange(ref _reread, reread);
        Volatile.Write(ref _rereads, _rereads + 1);
        DistributionLog.RereadStarted(_dispatcher.Logger, Id, cursor, _log.Tail);

        // Closed meanwhile: Close may have looked before the re-read was there.
        if (IsClosed)
        {
            EndReread();
            return false;
        }

        return true;
    }

    // One batch re-read from Kafka, numbered after the sequence so far; null when it cannot be re-read
    // after all (the positions are then announced as lost, as without Kafka).
    private bool? TryReadFromKafka(DeliveryBatch batch, long lost)
    {
        // Close may end the re-read at any moment (it nulls the field): keep this read's own reference.
        if (Volatile.Read(ref _reread) is not { } reread)
        {
            batch.Reset();
            return IsClosed ? false : null;
        }

        ReplayProgress progress;
        ResumeToken token;
        try
        {
            progress = reread.Fill(batch, out token);
        }
        catch (ReplayException ex)
        {
            DistributionLog.RereadFailed(_dispatcher.Logger, Id, ex.Message);
            EndReread();
            batch.Reset();
            return null;
        }

        if (IsClosed)
        {
            EndReread();
            batch.Reset();
            return false;
        }

        var n = batch.Count;
        _sequence = token.Sequence;
        _rereadToken = token;
        if (progress == ReplayProgress.Done && _dispatcher.Locate(token) is { Check: ResumeCheck.Available } point)
        {
            // The retained log takes over from here (the scan of the next read, then the live path).
            _resumePosition = point.Position;
            Volatile.Write(ref _catchUpCursor, point.Position);
            Floor = point.Floor;
            var result = Finish(batch, n, lost);
            batch.Token = token;
            EndReread();
            return result;
        }
        else if (progress == ReplayProgress.Waiting && n == 0)
        {
            // Kafka is fetching: nothing to read until the timer wakes the reader.
            Volatile.Write(ref _rereadResting, 1);
            reread.WakeLater();
        }

        return Finish(batch, n, lost);
    }

    // The place of the last batch re-read (reader-owned).
    private ResumeToken _rereadToken;

    private void EndReread()
    {
        Interlocked.Exchange(ref _reread, null)?.Dispose();
        Volatile.Write(ref _rereadResting, 0);
    }
}
