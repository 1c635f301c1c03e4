using ExecutionDistribution.Persistence;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Audit;

/// <summary>
/// Writes the audit trail in the background, never on the dispatch path: it drains up to
/// <c>Audit:BatchSize</c> rows at a time and stores them with one statement. When PostgreSQL fails,
/// the batch is appended to the local spill segments (flushed to disk) and so is every later batch,
/// until PostgreSQL takes them all again (tried every <c>Audit:RetryInterval</c>); then they are
/// deleted. Rows carry their own ids and the replay skips ids already stored, so a batch written
/// twice (stored, then the acknowledgement lost, then spilled) is stored once. A batch that the
/// local store cannot take (full under back-pressure) stays in memory and is tried again: the queue
/// then fills and the streams wait. On stop, every queued row is written.
/// </summary>
internal sealed partial class AuditWriter(
    AuditTrail trail, IAuditStore store, [FromKeyedServices("spill")] AuditSegments spill, IOptions<AuditOptions> options, TimeProvider time, ILogger<AuditWriter> logger)
    : BackgroundService
{
    private long _written;
    private long _spilled;
    private long _nextRetry;
    private readonly SemaphoreSlim _spillGate = new(1, 1);

    /// <summary>Rows stored in their final place (PostgreSQL, or the file without it).</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Rows appended to the spill file while PostgreSQL was unreachable.</summary>
    public long Spilled => Interlocked.Read(ref _spilled);

    private volatile bool _degraded;

    /// <summary>True while rows wait in the spill segments for PostgreSQL.</summary>
    public bool Degraded { get => _degraded; private set => _degraded = value; }

    /// <summary>True while the local store is full and holds rows back (<c>Audit:Local:WhenFull</c> BackPressure).</summary>
    public bool Full => spill.Full;

    /// <summary>The local segments (the audit without PostgreSQL, the spill with it).</summary>
    public AuditSegments Local => spill;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        Degraded = store.IsDatabase && spill.HasRows; // rows left by an earlier run go first

        // With PostgreSQL, Audit:Writers loops each drain and COPY their own batches (PostgreSQL spends
        // one core per connection); the local file takes one writer. The spill file is used by one at a time.
        var writers = store.IsDatabase ? o.Writers : 1;
        await Task.WhenAll(Enumerable.Range(0, writers).Select(_ => Task.Run(() => WriteLoopAsync(o, stoppingToken), CancellationToken.None))).ConfigureAwait(false);
    }

    private async Task WriteLoopAsync(AuditOptions o, CancellationToken stoppingToken)
    {
        var batch = new List<AuditRow>(o.BatchSize);
        var retentionDue = 0L;
        while (true)
        {
            // Retention is of the audit itself (no PostgreSQL); spilled rows wait for PostgreSQL however old.
            if (!store.IsDatabase && time.GetTimestamp() >= retentionDue)
            {
                spill.ApplyRetention();
                retentionDue = time.GetTimestamp() + (60 * time.TimestampFrequency);
            }

            // A batch that could be written nowhere (no database and no disk) is kept and tried again: never dropped.
            if (batch.Count == 0)
            {
                trail.Drain(batch, o.BatchSize);
            }

            if (batch.Count > 0)
            {
                if (await WriteAsync(batch).ConfigureAwait(false))
                {
                    batch.Clear();
                    continue;
                }

                if (stoppingToken.IsCancellationRequested)
                {
                    // Stopping while the rows can be written nowhere (the local store full, or its disk failing).
                    LogUnwrittenAtStop(logger, batch.Count + trail.Queued, spill.Directory);
                    return;
                }

                try
                {
                    await Task.Delay(o.RetryInterval, time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // Stopping: one more attempt, then give up as above.
                }

                continue;
            }

            if (Degraded && time.GetTimestamp() >= Interlocked.Read(ref _nextRetry))
            {
                await _spillGate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                try
                {
                    if (Degraded && time.GetTimestamp() >= Interlocked.Read(ref _nextRetry))
                    {
                        await ReplayAsync(o).ConfigureAwait(false);
                    }
                }
                finally
                {
                    _spillGate.Release();
                }
            }

            if (stoppingToken.IsCancellationRequested)
            {
                return; // queue drained
            }

            try
            {
                await Task.Delay(o.FlushInterval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopping: one more pass drains what is queued.
            }
        }
    }

    // True when the batch is stored (in its final place or the spill segments); false to keep it and try again.
    private async Task<bool> WriteAsync(List<AuditRow> batch)
    {
        if (!Degraded)
        {
            try
            {
                if (!await store.WriteAsync(batch, mayRepeat: false, CancellationToken.None).ConfigureAwait(false))
                {
                    NoteFull(true);
                    return false;
                }

                NoteFull(false);
                Interlocked.Add(ref _written, batch.Count);
                return true;
            }
            catch (Exception ex) when (store.IsDatabase)
            {
                LogSpilling(logger, batch.Count, ex.Message);
                Degraded = true;
                Interlocked.Exchange(ref _nextRetry, time.GetTimestamp() + (long)(options.Value.RetryInterval.TotalSeconds * time.TimestampFrequency));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                LogFileFailed(logger, batch.Count, spill.Directory, ex.Message);
                return false;
            }
        }

        await _spillGate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        if (!Degraded)
        {
            // A replay finished (and removed the file) while this batch waited: store it directly instead.
            _spillGate.Release();
            return await WriteAsync(batch).ConfigureAwait(false);
        }

        try
        {
            if (!spill.TryAppend(batch))
            {
                NoteFull(true);
                return false;
            }

            NoteFull(false);
            Interlocked.Add(ref _spilled, batch.Count);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogFileFailed(logger, batch.Count, spill.Directory, ex.Message);
            return false;
        }
        finally
        {
            _spillGate.Release();
        }
    }

    // Logs when the local store fills and when it takes rows again, not at every retry.
    private void NoteFull(bool full)
    {
        if (full != _fullLogged)
        {
            _fullLogged = full;
            if (full)
            {
                LogFull(logger, spill.Directory);
            }
            else
            {
                LogRoomAgain(logger, spill.Directory);
            }
        }
    }

    private volatile bool _fullLogged;

    private async Task ReplayAsync(AuditOptions o)
    {
        var replayed = 0L;
        try
        {
            foreach (var chunk in spill.Read(o.BatchSize))
            {
                await store.WriteAsync(chunk, mayRepeat: true, CancellationToken.None).ConfigureAwait(false);
                replayed += chunk.Count;
            }

            spill.Delete();
            Interlocked.Add(ref _written, replayed);
            Degraded = false;
            LogRecovered(logger, replayed);
        }
        catch (Exception ex)
        {
            // Rows replayed so far are stored; replaying them again is harmless (ids).
            Interlocked.Exchange(ref _nextRetry, time.GetTimestamp() + (long)(o.RetryInterval.TotalSeconds * time.TimestampFrequency));
            LogStillDown(logger, ex.Message);
        }
    }

    [LoggerMessage(EventId = 6000, Level = LogLevel.Warning, Message = "PostgreSQL did not take {Count} audit rows; spilling to the local file: {Reason}")]
    private static partial void LogSpilling(ILogger logger, int count, string reason);

    [LoggerMessage(EventId = 6001, Level = LogLevel.Error, Message = "Could not append {Count} audit rows to {Directory}; they are kept in memory and tried again: {Reason}")]
    private static partial void LogFileFailed(ILogger logger, int count, string directory, string reason);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Information, Message = "PostgreSQL is back; {Count} spilled audit rows written and the spill file removed")]
    private static partial void LogRecovered(ILogger logger, long count);

    [LoggerMessage(EventId = 6003, Level = LogLevel.Debug, Message = "PostgreSQL still refuses the spilled audit rows: {Reason}")]
    private static partial void LogStillDown(ILogger logger, string reason);

    [LoggerMessage(EventId = 6004, Level = LogLevel.Warning, Message = "The local audit store in {Directory} is full (Audit:Local:MaxBytes); audit rows wait in memory and streams wait for room")]
    private static partial void LogFull(ILogger logger, string directory);

    [LoggerMessage(EventId = 6006, Level = LogLevel.Error, Message = "Stopping with {Count} audit rows that could not be written (the local store in {Directory} is full or failing)")]
    private static partial void LogUnwrittenAtStop(ILogger logger, long count, string directory);

    [LoggerMessage(EventId = 6005, Level = LogLevel.Information, Message = "The local audit store in {Directory} takes rows again")]
    private static partial void LogRoomAgain(ILogger logger, string directory);
}
