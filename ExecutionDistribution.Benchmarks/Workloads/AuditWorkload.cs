using System.Diagnostics;
using System.Globalization;
using Dapper;
using ExecutionDistribution.Audit;
using ExecutionDistribution.Benchmarks.Support;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;
using ExecutionDistribution.Persistence;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace ExecutionDistribution.Benchmarks.Workloads;

/// <summary>
/// W6, the audit half: the service's audit trail and writer (the same classes the host runs) against
/// the real PostgreSQL, beside a bare binary COPY of the same rows into the same table (the ceiling of
/// PostgreSQL's ingest where the benchmark runs), in the same run. Two measures per run:
/// saturation (rows recorded as fast as one producer can; rows/s until every row is in PostgreSQL),
/// and a fixed offered rate (rows/s held for the duration, the queue's peak, and the time to drain
/// after the producer stops). Every run counts the rows in PostgreSQL: rows lost must be 0.
/// </summary>
public static class AuditWorkload
{
    /// <summary>Runs it: <c>w6-audit [--runs 3] [--rows 1000000] [--rate 100000] [--seconds 10] [--postgres CS] [--json file]</c>.</summary>
    public static int Run(string[] args)
    {
        var runs = args.Int("--runs", 3);
        var rows = args.Int("--rows", 1000000);
        var rate = args.Int("--rate", 100000);
        var seconds = args.Int("--seconds", 10);
        var cs = args.Postgres();

        var stream = new SyntheticExecutionStream(42);
        var events = Enumerable.Range(0, 4096).Select(_ => stream.Next()).ToArray();
        Console.WriteLine($"# W6 audit half: PostgreSQL {new NpgsqlConnectionStringBuilder(cs).Host}, {rows:N0} rows at saturation, {rate:N0} rows/s offered for {seconds} s, {runs} runs");
        var results = new List<RunResult>();
        for (var run = 1; run <= runs; run++)
        {
            var schema = $"w6_{Guid.NewGuid():N}";
            var db = new PostgresDatabase(Options.Create(new PostgresOptions { ConnectionString = cs, Schema = schema }));
            try
            {
                db.MigrateAsync(CancellationToken.None).GetAwaiter().GetResult();
                var copy = BareCopy(db, events, rows);
                var (saturation, lostSat) = Writer(db, events, rows, offeredRate: 0, seconds: 0);
                var (held, lostHeld) = Writer(db, events, rate * seconds, offeredRate: rate, seconds: seconds);
                var r = new RunResult(copy, saturation.Rate, saturation.PeakQueued, held.Rate, held.PeakQueued, held.DrainMs, lostSat + lostHeld);
                results.Add(r);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"run {run}: bare COPY {copy,10:N0} rows/s   our writer at saturation {saturation.Rate,10:N0} rows/s ({saturation.Rate / copy:0.00} of COPY)   at {rate:N0}/s offered: held {held.Rate:N0} rows/s, queue peak {held.PeakQueued:N0}, drained {held.DrainMs:N0} ms after the producer stopped   rows lost {r.Lost}"));
            }
            finally
            {
                using var c = new NpgsqlConnection(cs);
                c.Open();
                c.Execute($"DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                db.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }

        double Median(Func<RunResult, double> f) => results.Select(f).Order().ElementAt(results.Count / 2);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"median: bare COPY {Median(r => r.Copy):N0} rows/s, our writer {Median(r => r.Saturation):N0} rows/s ({Median(r => r.Saturation / r.Copy):0.00} of COPY), held at {rate:N0}/s offered: {Median(r => r.Held):N0} rows/s, queue peak {Median(r => r.HeldPeak):N0}; rows lost in all runs: {results.Sum(r => r.Lost)}"));
        if (args.Option("--json") is { } path)
        {
            ResultFiles.Write(path, new
            {
                workload = "w6-audit",
                rows,
                offered_rate = rate,
                seconds,
                machine = ResultFiles.Machine,
                runs = results,
                median_copy = Median(r => r.Copy),
                median_saturation = Median(r => r.Saturation),
                median_held = Median(r => r.Held),
                rows_lost = results.Sum(r => r.Lost),
            });
        }

        return results.Sum(r => r.Lost) == 0 ? 0 : 1;
    }

    private sealed record RunResult(double Copy, double Saturation, long SaturationPeak, double Held, long HeldPeak, double HeldDrainMs, long Lost);

    private sealed record WriterResult(double Rate, long PeakQueued, double DrainMs);

    // The ceiling: the same rows, binary COPY into a copy of distribution_audit, one stream.
    private static double BareCopy(PostgresDatabase db, ExecutionEvent[] events, int rows)
    {
        using var c = db.OpenAsync().AsTask().GetAwaiter().GetResult();
        c.Execute("CREATE TABLE copy_target (LIKE distribution_audit INCLUDING ALL)");
        var now = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        using (var import = c.BeginBinaryImport("COPY copy_target (id, event_id, topic_name, routing_key, delivery_status, delivery_time_ms, retry_count, created_at, order_id, subscription_id) FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = 0; i < rows; i++)
            {
                var e = events[i % events.Length];
                import.StartRow();
                import.Write(Guid.CreateVersion7(), NpgsqlDbType.Uuid);
                import.Write(e.EventId, NpgsqlDbType.Varchar);
                import.Write(e.Routing.Topic, NpgsqlDbType.Varchar);
                import.Write(e.Routing.RoutingKey, NpgsqlDbType.Varchar);
                import.Write(DeliveryStatuses.Delivered, NpgsqlDbType.Varchar);
                import.Write(0.5, NpgsqlDbType.Double);
                import.Write(0, NpgsqlDbType.Integer);
                import.Write(now, NpgsqlDbType.TimestampTz);
                if (e.OrderId is null)
                {
                    import.WriteNull();
                }
                else
                {
                    import.Write(e.OrderId, NpgsqlDbType.Varchar);
                }

                import.Write("w6-subscriber", NpgsqlDbType.Varchar);
            }

            import.Complete();
        }

        return rows / clock.Elapsed.TotalSeconds;
    }

    // Our path: AuditTrail.Record from one producer thread, AuditWriter in the background, unnest inserts.
    private static (WriterResult Result, long Lost) Writer(PostgresDatabase db, ExecutionEvent[] events, int rows, int offeredRate, int seconds)
    {
        using (var c = db.OpenAsync().AsTask().GetAwaiter().GetResult())
        {
            c.Execute("TRUNCATE distribution_audit");
        }

        var options = Options.Create(new AuditOptions { AllEvents = true });
        var trail = new AuditTrail(options, TimeProvider.System);
        var spill = new AuditSpillFile(Path.Combine(Path.GetTempPath(), $"w6-{Guid.NewGuid():N}", "pending.jsonl"));
        var writer = new AuditWriter(trail, new PostgresAuditStore(db), spill, options, TimeProvider.System, NullLogger<AuditWriter>.Instance);
        writer.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        var peak = 0L;
        var clock = Stopwatch.StartNew();
        var produced = 0;
        while (produced < rows)
        {
            if (offeredRate > 0)
            {
                // Paced: never ahead of the offered rate (checked every 1,000 rows).
                var due = (long)(clock.Elapsed.TotalSeconds * offeredRate);
                if (produced >= due)
                {
                    Thread.Sleep(1);
                    continue;
                }
            }

            var until = Math.Min(rows, produced + 1_000);
            for (; produced < until; produced++)
            {
                trail.Record(events[produced % events.Length], "w6-subscriber", DeliveryStatuses.Delivered);
            }

            peak = Math.Max(peak, trail.Queued);
        }

        var producedAt = clock.Elapsed;
        while (writer.Written < rows && clock.Elapsed < TimeSpan.FromMinutes(5))
        {
            peak = Math.Max(peak, trail.Queued);
            Thread.Sleep(1);
        }

        var elapsed = clock.Elapsed;
        writer.StopAsync(CancellationToken.None).GetAwaiter().GetResult();
        long stored;
        using (var c = db.OpenAsync().AsTask().GetAwaiter().GetResult())
        {
            stored = c.ExecuteScalar<long>("SELECT count(*) FROM distribution_audit");
        }

        var rate = offeredRate > 0 ? rows / elapsed.TotalSeconds : rows / elapsed.TotalSeconds;
        return (new WriterResult(rate, peak, (elapsed - producedAt).TotalMilliseconds), rows - stored);
    }
}
