using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using ExecutionDistribution.Benchmarks.Support;
using ExecutionDistribution.Ingest.Demo;

namespace ExecutionDistribution.Benchmarks.Workloads;

/// <summary>
/// W10, soak: the service (a child process, server GC as deployed) runs the demo feed's standard
/// stream at a fixed rate for a fixed time with the first standard subscribers attached over
/// WebSocket (at_least_once). Every interval it records the process's memory and each store's
/// (<c>/api/v1/memory</c>) and the audit's rows and bytes; each subscriber checks its sequence numbers.
/// After the warm-up (the first third) the working set must stay within ±10% of its median, and no
/// subscriber may miss an event.
/// </summary>
public static class SoakWorkload
{
    /// <summary>
    /// Runs it: <c>w10-soak [--minutes 30 | --seconds N] [--rate 3000] [--subscribers 100] [--interval 30] [--audit-when-full DropOldest] [--with-postgres [--postgres CS]] [--json file]</c>.
    /// Without PostgreSQL the audit's local store reaches its cap within minutes at these rates; a soak
    /// measures the service running on, so the store drops its oldest segments (the default here) rather
    /// than holding the streams back. With <c>--with-postgres</c> the service keeps orders, subscriptions
    /// and the audit in PostgreSQL (a schema of its own per run, dropped after).
    /// </summary>
    public static int Run(string[] args)
    {
        var minutes = args.Int("--minutes", 30);
        var rate = args.Int("--rate", 3000);
        var count = args.Int("--subscribers", 100);
        var interval = TimeSpan.FromSeconds(args.Int("--interval", 30));
        if (Environment.GetEnvironmentVariable("EXECDIST_SERVICE_GC") is null)
        {
            Environment.SetEnvironmentVariable("EXECDIST_SERVICE_GC", "server"); // as the service is deployed (its own runtimeconfig)
        }

        Console.WriteLine($"# W10 soak: {rate:N0} events/s for {minutes} min, {count} standard subscribers over WebSocket, a sample every {interval.TotalSeconds:0} s");
        var whenFull = args.Option("--audit-when-full") ?? "DropOldest";
        var schema = $"soak_{Guid.NewGuid():N}"[..20];
        string[] postgres = args.Contains("--with-postgres") ? [$"--Postgres:ConnectionString={args.Postgres()}", $"--Postgres:Schema={schema}"] : [];
        using var ours = Child.Start("ours", ["--DemoFeed:Enabled=true", $"--DemoFeed:EventsPerSecond={rate}", $"--Audit:Local:WhenFull={whenFull}", .. postgres]);
        using var http = new HttpClient { BaseAddress = ours.BaseAddress };
        var population = StandardSubscribers.Standard(new SyntheticExecutionStream(42), 42).Take(count).ToList();
        var subscribers = population.Select(s => Subscriber.Connect(new Uri($"ws://{ours.BaseAddress.Authority}/api/v1/execution/stream?{WebSocketWorkload.Query(s.Filter)}"))).ToList();

        var samples = new List<Sample>();
        var clock = Stopwatch.StartNew();
        var end = args.Option("--seconds") is { } seconds ? TimeSpan.FromSeconds(int.Parse(seconds, CultureInfo.InvariantCulture)) : TimeSpan.FromMinutes(minutes);
        while (clock.Elapsed < end)
        {
            Thread.Sleep(interval - TimeSpan.FromTicks(clock.Elapsed.Ticks % interval.Ticks));
            var memory = http.GetFromJsonAsync<JsonObject>("/api/v1/memory").GetAwaiter().GetResult()!;
            var audit = http.GetFromJsonAsync<JsonObject>("/api/v1/audit/stats").GetAwaiter().GetResult()!;
            var core = http.GetFromJsonAsync<JsonObject>("/api/v1/distribution/stats").GetAwaiter().GetResult()!;
            var stores = memory["stores"]!;
            var sample = new Sample(
                Math.Round(clock.Elapsed.TotalSeconds),
                (long)memory["process"]!["working_set_bytes"]! / 1048576.0,
                (long)memory["process"]!["managed_heap_bytes"]! / 1048576.0,
                (long)stores["orders"]!["items"]!,
                (long)stores["orders"]!["estimated_bytes"]! / 1048576.0,
                (long)stores["retained_log"]!["estimated_bytes"]! / 1048576.0,
                (long)core["ingested"]!,
                (long)audit["written"]!,
                (long)audit["local"]!["bytes"]! + (long)audit["local"]!["dropped_bytes"]!, // all it wrote, also what it dropped at its cap
                subscribers.Sum(s => s.Received));
            samples.Add(sample);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{sample.Seconds,6:0} s: working set {sample.WorkingSetMib,7:N0} MiB, heap {sample.HeapMib,7:N0} MiB, orders {sample.Orders,9:N0} ({sample.OrdersMib:N0} MiB), retained log {sample.LogMib:N0} MiB, audit {sample.AuditBytes / (double)Math.Max(1, sample.Ingested):N0} bytes per event, {sample.Delivered:N0} delivered"));
        }

        var missing = subscribers.Sum(s => s.Missing);
        var closed = subscribers.Count(s => s.Closed);
        foreach (var s in subscribers)
        {
            s.Dispose();
        }

        var after = samples.Skip(samples.Count / 3).Select(s => s.WorkingSetMib).Order().ToList();
        var median = after[after.Count / 2];
        var spread = Math.Max(after[^1] - median, median - after[0]) / median;
        var last = samples[^1];
        if (postgres.Length > 0)
        {
            // The audit went to PostgreSQL: its tables' bytes (with their indexes), then the schema goes.
            last = last with { AuditBytes = PostgresAuditBytes(args.Postgres(), schema, drop: true) };
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"after warm-up: working set median {median:N0} MiB, from {after[0]:N0} to {after[^1]:N0} (±{spread:P1}); audit {last.AuditBytes / (double)last.Ingested:N0} bytes and {last.AuditRows / (double)last.Ingested:0.00} rows per event; events missing {missing}; subscribers disconnected {closed}"));
        if (args.Option("--json") is { } path)
        {
            ResultFiles.Write(path, new
            {
                workload = "w10-soak",
                minutes,
                postgres = postgres.Length > 0,
                audit_when_full = whenFull,
                rate,
                subscribers = count,
                machine = ResultFiles.Machine,
                samples,
                working_set_median_mib = median,
                working_set_spread = spread,
                audit_bytes_per_event = last.AuditBytes / (double)last.Ingested,
                audit_rows_per_event = last.AuditRows / (double)last.Ingested,
                events_missing = missing,
                subscribers_disconnected = closed,
            });
        }

        return missing == 0 && closed == 0 ? 0 : 1;
    }

    private static long PostgresAuditBytes(string connectionString, string schema, bool drop)
    {
        using var connection = new Npgsql.NpgsqlConnection(connectionString);
        connection.Open();
        using var size = new Npgsql.NpgsqlCommand(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = @schema AND c.relkind = 'r' AND c.relname IN ('distribution_audit', 'audit_streams', 'delivery_ranges')", connection);
        size.Parameters.AddWithValue("schema", schema);
        var bytes = (long)size.ExecuteScalar()!;
        if (drop)
        {
            using var dropSchema = new Npgsql.NpgsqlCommand($"DROP SCHEMA IF EXISTS \"{schema}\" CASCADE", connection);
            dropSchema.ExecuteNonQuery();
        }

        return bytes;
    }

    private sealed record Sample(double Seconds, double WorkingSetMib, double HeapMib, long Orders, double OrdersMib, double LogMib, long Ingested, long AuditRows, long AuditBytes, long Delivered);

    /// <summary>One at_least_once WebSocket subscriber: counts events and any gap in its sequence numbers.</summary>
    private sealed class Subscriber : IDisposable
    {
        private readonly ClientWebSocket _socket = new();
        private readonly CancellationTokenSource _stop = new();
        private long _received;
        private long _missing;
        private long _last;
        private Task _reading = Task.CompletedTask;

        public long Received => Interlocked.Read(ref _received);

        /// <summary>Sequence numbers skipped, and positions announced as lost or dropped.</summary>
        public long Missing => Interlocked.Read(ref _missing);

        public bool Closed { get; private set; }

        public static Subscriber Connect(Uri uri)
        {
            var s = new Subscriber();
            s._socket.Options.KeepAliveInterval = TimeSpan.Zero;
            s._socket.ConnectAsync(uri, CancellationToken.None).GetAwaiter().GetResult();
            s._reading = Task.Run(s.ReadAsync);
            return s;
        }

        private async Task ReadAsync() => Closed = await WebSocketFrames.ReadAsync(_socket, Count, _stop.Token).ConfigureAwait(false);

        private void Count(ReadOnlySpan<byte> frame)
        {
            var reader = new Utf8JsonReader(frame);
            var depth = 0;
            while (reader.Read())
            {
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    depth++;
                }
                else if (reader.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray)
                {
                    depth--;
                }
                else if (reader.TokenType == JsonTokenType.PropertyName && depth == 1 && (reader.ValueTextEquals("dropped"u8) || reader.ValueTextEquals("lost_positions"u8)))
                {
                    reader.Read();
                    Interlocked.Add(ref _missing, reader.GetInt64());
                }
                else if (reader.TokenType == JsonTokenType.PropertyName && depth == 3 && reader.ValueTextEquals("sequence"u8))
                {
                    reader.Read();
                    var sequence = reader.GetInt64();
                    if (sequence != _last + 1)
                    {
                        Interlocked.Add(ref _missing, Math.Abs(sequence - (_last + 1)));
                    }

                    _last = sequence;
                    Interlocked.Increment(ref _received);
                }
                else if (reader.TokenType == JsonTokenType.PropertyName && depth == 3 && reader.ValueTextEquals("event"u8))
                {
                    reader.Skip();
                }
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            try
            {
                _reading.Wait(TimeSpan.FromSeconds(5));
            }
            catch (AggregateException)
            {
                // Cancelled.
            }

            _socket.Dispose();
            _stop.Dispose();
        }
    }
}
