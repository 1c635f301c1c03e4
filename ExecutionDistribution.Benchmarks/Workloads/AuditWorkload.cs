using System.Diagnostics;
using System.Globalization;
using Dapper;
using ExecutionDistribution.Audit;
using ExecutionDistribution.Benchmarks.Support;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
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
/// the real PostgreSQL, in the same run as the baselines. Three measures per run:
/// <list type="bullet">
/// <item>saturation: event rows (one per audited event) recorded as fast as one producer can, rows/s
/// until every row is in PostgreSQL, beside a bare binary COPY of the same rows into the same table
/// (the ceiling of PostgreSQL's ingest where the benchmark runs);</item>
/// <item>a fixed offered rate: rows/s held, the queue's peak, the time to drain after the producer stops;</item>
/// <item>volume: rows and bytes (tables and indexes) per event when 1, 100 and 1,000 subscriptions each
/// receive every event in messages of 64, beside the per-delivery model (one distribution_audit row per
/// event and subscriber, its bytes measured by copying such rows).</item>
/// </list>
/// Every run counts the rows in PostgreSQL: rows lost must be 0.
/// </summary>
public static class AuditWorkload
{
    private static readonly int[] SubscriberCounts = [1, 100, 1000];

    /// <summary>Runs it: <c>w6-audit [--runs 3] [--rows 1000000] [--rate 100000] [--seconds 10] [--volume-events 20000] [--postgres CS] [--json file]</c>.</summary>
    public static int Run(string[] args)
    {
        var runs = args.Int("--runs", 3);
        var rows = args.Int("--rows", 1000000);
        var rate = args.Int("--rate", 100000);
        var seconds = args.Int("--seconds", 10);
        var volumeEvents = args.Int("--volume-events", 20000);
        var cs = args.Postgres();

        var stream = new SyntheticExecutionStream(42);
        var events = Enumerable.Range(0, 4096).Select(_ => stream.Next()).ToArray();
        Console.WriteLine($"# W6 audit half: PostgreSQL {new NpgsqlConnectionStringBuilder(cs).Host}, {rows:N0} event rows at saturation, {rate:N0} rows/s offered for {seconds} s, volume over {volumeEvents:N0} events, {runs} runs");
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
                var perDeliveryRowBytes = PerDeliveryRowBytes(db, events);
                var volume = SubscriberCounts.Select(n => Volume(db, events, volumeEvents, n, perDeliveryRowBytes)).ToArray();
                var r = new RunResult(copy, saturation.Rate, saturation.PeakQueued, held.Rate, held.PeakQueued, held.DrainMs, lostSat + lostHeld + volume.Sum(v => v.Lost), volume);
                results.Add(r);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"run {run}: bare COPY {copy,10:N0} rows/s   our writer at saturation {saturation.Rate,10:N0} rows/s ({saturation.Rate / copy:0.00} of COPY)   at {rate:N0}/s offered: held {held.Rate:N0} rows/s, queue peak {held.PeakQueued:N0}, drained {held.DrainMs:N0} ms after the producer stopped   rows lost {r.Lost}"));
                foreach (var v in volume)
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  {v.Subscribers,5} subscribers: {v.RowsPerEvent,8:0.00} rows and {v.BytesPerEvent,10:N0} bytes per event; one row per delivery: {v.Subscribers,5} rows and {v.PerDeliveryBytesPerEvent,10:N0} bytes"));
                }
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
        var medianVolume = SubscriberCounts.Select((n, i) => new
        {
            subscribers = n,
            rows_per_event = Median(r => r.Volume[i].RowsPerEvent),
            bytes_per_event = Median(r => r.Volume[i].BytesPerEvent),
            per_delivery_rows_per_event = n,
            per_delivery_bytes_per_event = Median(r => r.Volume[i].PerDeliveryBytesPerEvent),
        }).ToArray();
        foreach (var v in medianVolume)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"median volume, {v.subscribers} subscribers: {v.rows_per_event:0.00} rows, {v.bytes_per_event:N0} bytes per event (one row per delivery: {v.per_delivery_rows_per_event} rows, {v.per_delivery_bytes_per_event:N0} bytes)"));
        }

        if (args.Option("--json") is { } path)
        {
            ResultFiles.Write(path, new
            {
                workload = "w6-audit",
                rows,
                offered_rate = rate,
                seconds,
                volume_events = volumeEvents,
                machine = ResultFiles.Machine,
                runs = results,
                median_copy = Median(r => r.Copy),
                median_saturation = Median(r => r.Saturation),
                median_held = Median(r => r.Held),
                volume = medianVolume,
                rows_lost = results.Sum(r => r.Lost),
            });
        }

        return results.Sum(r => r.Lost) == 0 ? 0 : 1;
    }

    private sealed record RunResult(double Copy, double Saturation, long SaturationPeak, double Held, long HeldPeak, double HeldDrainMs, long Lost, VolumeResult[] Volume);

    private sealed record WriterResult(double Rate, long PeakQueued, double DrainMs);

    private sealed record VolumeResult(int Subscribers, double RowsPerEvent, double BytesPerEvent, double PerDeliveryBytesPerEvent, long Lost);

    // The ceiling: the same event rows, binary COPY into a copy of distribution_audit, one stream.
    private static double BareCopy(PostgresDatabase db, ExecutionEvent[] events, int rows)
    {
        using var c = db.OpenAsync().AsTask().GetAwaiter().GetResult();
        c.Execute("CREATE TABLE copy_target (LIKE distribution_audit INCLUDING ALL)");
        var now = DateTime.UtcNow;
        var epoch = Guid.NewGuid();
        var texts = events.Select(e => System.Text.Encoding.UTF8.GetString(e.EnvelopeJson.Span)).ToArray();
        var clock = Stopwatch.StartNew();
        using (var import = c.BeginBinaryImport("COPY copy_target (id, event_id, topic_name, routing_key, delivery_status, delivery_time_ms, retry_count, created_at, order_id, log_epoch, log_position, ingested_at, event_json) FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = 0; i < rows; i++)
            {
                var e = events[i % events.Length];
                import.StartRow();
                import.Write(Guid.CreateVersion7(), NpgsqlDbType.Uuid);
                import.Write(e.EventId, NpgsqlDbType.Varchar);
                import.Write(e.Routing.Topic, NpgsqlDbType.Varchar);
                import.Write(e.Routing.RoutingKey, NpgsqlDbType.Varchar);
                import.Write(DeliveryStatuses.Distributed, NpgsqlDbType.Varchar);
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

                import.Write(epoch, NpgsqlDbType.Uuid);
                import.Write((long)i, NpgsqlDbType.Bigint);
                import.Write(now, NpgsqlDbType.TimestampTz);
                import.Write(texts[i % texts.Length], NpgsqlDbType.Json);
            }

            import.Complete();
        }

        return rows / clock.Elapsed.TotalSeconds;
    }

    // Our path: AuditTrail.RecordEvent from one producer thread, AuditWriter in the background.
    private static (WriterResult Result, long Lost) Writer(PostgresDatabase db, ExecutionEvent[] events, int rows, int offeredRate, int seconds)
    {
        Truncate(db);
        var options = Options.Create(new AuditOptions { AllEvents = true });
        var trail = new AuditTrail(options, TimeProvider.System) { LogEpoch = Guid.NewGuid() };
        var writer = StartWriter(db, trail, options);
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
                trail.RecordEvent(events[produced % events.Length]);
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

        return (new WriterResult(rows / elapsed.TotalSeconds, peak, (elapsed - producedAt).TotalMilliseconds), rows - stored);
    }

    // `subscribers` streams each deliver every one of `count` events in messages of 64: the rows and bytes it leaves per event.
    private static VolumeResult Volume(PostgresDatabase db, ExecutionEvent[] events, int count, int subscribers, double perDeliveryRowBytes)
    {
        Truncate(db);
        var options = Options.Create(new AuditOptions { AllEvents = true, QueueCapacity = 1 << 20 });
        var trail = new AuditTrail(options, TimeProvider.System) { LogEpoch = Guid.NewGuid() };
        var writer = StartWriter(db, trail, options);
        var streams = Enumerable.Range(0, subscribers).Select(i => new StreamAudit(trail, $"w6-subscriber-{i}", null, DeliveryGuarantee.AtLeastOnce, SubscriptionFilter.All)).ToArray();
        var frame = new Delivery[64];
        var expected = 0L;
        for (var first = 0; first < count; first += frame.Length)
        {
            var n = Math.Min(frame.Length, count - first);
            for (var i = 0; i < n; i++)
            {
                var e = events[(first + i) % events.Length];
                e.Position = first + i;
                trail.RecordEvent(e);
                frame[i] = new Delivery(e, first + i + 1);
            }

            foreach (var s in streams)
            {
                s.Delivered(frame.AsSpan(0, n));
                trail.WaitForRoomAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
            }

            expected += n + subscribers + (first == 0 ? subscribers : 0); // event rows, a range per stream, each stream's row once
        }

        var clock = Stopwatch.StartNew();
        while (writer.Written < expected && clock.Elapsed < TimeSpan.FromMinutes(5))
        {
            Thread.Sleep(5);
        }

        writer.StopAsync(CancellationToken.None).GetAwaiter().GetResult();
        using var c = db.OpenAsync().AsTask().GetAwaiter().GetResult();
        foreach (var table in new[] { "distribution_audit", "delivery_ranges", "audit_streams" })
        {
            c.Execute($"VACUUM ANALYZE {table}");
        }
        var rows = c.ExecuteScalar<long>("SELECT (SELECT count(*) FROM distribution_audit) + (SELECT count(*) FROM delivery_ranges) + (SELECT count(*) FROM audit_streams)");
        var bytes = c.ExecuteScalar<long>("SELECT pg_total_relation_size('distribution_audit') + pg_total_relation_size('delivery_ranges') + pg_total_relation_size('audit_streams')");
        return new VolumeResult(subscribers, rows / (double)count, bytes / (double)count, perDeliveryRowBytes * subscribers, expected - rows);
    }

    // Bytes (table and indexes) of one row of the per-delivery model: the first migration's distribution_audit, filled with one row per delivery.
    private static double PerDeliveryRowBytes(PostgresDatabase db, ExecutionEvent[] events)
    {
        const int rows = 200_000;
        using var c = db.OpenAsync().AsTask().GetAwaiter().GetResult();
        c.Execute("""
            CREATE TABLE per_delivery (id uuid PRIMARY KEY, event_id varchar(100) NOT NULL, topic_name varchar(200) NOT NULL, routing_key varchar(200) NOT NULL,
                delivery_status varchar(20) NOT NULL, delivery_time_ms double precision, retry_count integer DEFAULT 0, created_at timestamptz DEFAULT now(),
                order_id varchar(100), subscription_id varchar(200));
            CREATE INDEX ON per_delivery (event_id); CREATE INDEX ON per_delivery (order_id) WHERE order_id IS NOT NULL; CREATE INDEX ON per_delivery (created_at);
            """);
        var now = DateTime.UtcNow;
        using (var import = c.BeginBinaryImport("COPY per_delivery (id, event_id, topic_name, routing_key, delivery_status, delivery_time_ms, retry_count, created_at, order_id, subscription_id) FROM STDIN (FORMAT BINARY)"))
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
                import.Write(now.AddTicks(i), NpgsqlDbType.TimestampTz);
                if (e.OrderId is null)
                {
                    import.WriteNull();
                }
                else
                {
                    import.Write(e.OrderId, NpgsqlDbType.Varchar);
                }

                import.Write($"w6-subscriber-{i % 1000}", NpgsqlDbType.Varchar);
            }

            import.Complete();
        }

        c.Execute("VACUUM ANALYZE per_delivery");
        return c.ExecuteScalar<long>("SELECT pg_total_relation_size('per_delivery')") / (double)rows;
    }

    private static AuditWriter StartWriter(PostgresDatabase db, AuditTrail trail, IOptions<AuditOptions> options)
    {
        var local = Path.Combine(Path.GetTempPath(), $"w6-{Guid.NewGuid():N}");
        var spill = new AuditSegments(local, "pending", 64L << 20, 1L << 30, TimeSpan.FromDays(1), AuditFullPolicy.BackPressure, TimeProvider.System);
        var writer = new AuditWriter(trail, new PostgresAuditStore(db), spill, options, TimeProvider.System, NullLogger<AuditWriter>.Instance);
        writer.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        return writer;
    }

    private static void Truncate(PostgresDatabase db)
    {
        using var c = db.OpenAsync().AsTask().GetAwaiter().GetResult();
        c.Execute("TRUNCATE distribution_audit, delivery_ranges, audit_streams");
    }
}
