using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using ExecutionDistribution.Benchmarks.Support;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace ExecutionDistribution.Benchmarks.Workloads;

/// <summary>
/// W5: REST lookups of order status and of fills by trade id, for random known ids, over many
/// connections. The service runs in a child process (this program's <c>serve</c> mode) with the real
/// PostgreSQL and Redis, seeded through POST /api/v1/executions with the standard stream; the load
/// client runs here. Beside it, in the same run, a bare Kestrel server in its own child process
/// answering the same route with fixed bytes: the ceiling of HTTP with this client where the benchmark runs.
/// </summary>
public static class RestWorkload
{
    /// <summary>Runs it: <c>w5-rest [--runs 3] [--seconds 10] [--connections 64] [--events 60000] [--client dotnet|wrk] [--postgres CS] [--redis EP] [--json file]</c>.</summary>
    public static int Run(string[] args)
    {
        var runs = args.Int("--runs", 3);
        var seconds = args.Int("--seconds", 10);
        var connections = args.Int("--connections", 64);
        var eventCount = args.Int("--events", 60000);
        var postgres = args.Postgres();
        var redis = args.Redis();
        _client = args.Option("--client") ?? "dotnet";

        // The standard stream from its seed: its order and fill ids are the known ids asked for.
        var stream = new SyntheticExecutionStream(42);
        var events = Enumerable.Range(0, eventCount).Select(_ => stream.Next()).ToList();
        var orderIds = events.Where(e => e.Data is OrderUpdate or FillNotification).Select(e => e.OrderId!).Distinct().ToArray();
        var fillIds = events.Select(e => e.Data).OfType<FillNotification>().Where(f => f.ExecType != FillExecType.TradeCancel).Select(f => f.FillId).Distinct().ToArray();
        Console.WriteLine($"# W5 rest: {events.Count:N0} standard events posted ({orderIds.Length:N0} orders, {fillIds.Length:N0} fills), {connections} connections ({_client} client), {seconds} s per measure, {runs} runs");

        var results = new List<Dictionary<string, Measure>>();
        for (var run = 1; run <= runs; run++)
        {
            var schema = $"w5_{Guid.NewGuid():N}";
            var measures = new Dictionary<string, Measure>();
            try
            {
                using (var ours = Child.Start("ours", $"--Postgres:ConnectionString={postgres}", $"--Postgres:Schema={schema}", $"--Redis:Configuration={redis}", $"--Redis:KeyPrefix=w5:{schema}:"))
                {
                    Seed(ours.BaseAddress, events, orderIds[^1]);
                    // A first pass warms the JIT, the connection pools and Redis; measured, 20-30% slower, not reported.
                    Load(ours.BaseAddress, connections, seconds, orderIds, id => $"/api/v1/execution/{id}/status", run);
                    measures["status"] = Load(ours.BaseAddress, connections, seconds, orderIds, id => $"/api/v1/execution/{id}/status", run);
                    measures["fills"] = Load(ours.BaseAddress, connections, seconds, fillIds, id => $"/api/v1/execution/fills/{id}", run);
                }

                using (var bare = Child.Start("bare"))
                {
                    Load(bare.BaseAddress, connections, seconds, orderIds, id => $"/api/v1/execution/{id}/status", run); // warm, as ours
                    measures["bare"] = Load(bare.BaseAddress, connections, seconds, orderIds, id => $"/api/v1/execution/{id}/status", run);
                }
            }
            finally
            {
                // Leave nothing behind: the run's keys in Redis and its schema in PostgreSQL.
                using (var r = StackExchange.Redis.ConnectionMultiplexer.Connect(redis))
                {
                    foreach (var server in r.GetServers())
                    {
                        foreach (var key in server.Keys(pattern: $"w5:{schema}:*", pageSize: 1_000))
                        {
                            r.GetDatabase().KeyDelete(key, StackExchange.Redis.CommandFlags.FireAndForget);
                        }
                    }
                }

                ResultFiles.DropSchema(postgres, schema);
            }

            results.Add(measures);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"run {run}: status {measures["status"]}   fills {measures["fills"]}   bare Kestrel {measures["bare"]}   status/bare {measures["status"].Rate / measures["bare"].Rate:0.00}"));
        }

        double Median(string key, Func<Measure, double> f) => results.Select(r => f(r[key])).Order().ElementAt(results.Count / 2);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"median: status {Median("status", m => m.Rate):N0} req/s p50 {Median("status", m => m.P50Ms):0.00} ms p99 {Median("status", m => m.P99Ms):0.00} ms; fills {Median("fills", m => m.Rate):N0} req/s p99 {Median("fills", m => m.P99Ms):0.00} ms; bare Kestrel {Median("bare", m => m.Rate):N0} req/s p99 {Median("bare", m => m.P99Ms):0.00} ms"));
        if (args.Option("--json") is { } path)
        {
            ResultFiles.Write(path, new
            {
                workload = "w5-rest",
                events = events.Count,
                orders = orderIds.Length,
                fills = fillIds.Length,
                connections,
                client = _client,
                seconds,
                seed = 42,
                machine = ResultFiles.Machine,
                runs = results,
                median = new[] { "status", "fills", "bare" }.ToDictionary(k => k, k => new { rate = Median(k, m => m.Rate), p50_ms = Median(k, m => m.P50Ms), p99_ms = Median(k, m => m.P99Ms) }),
            });
        }

        return 0;
    }

    /// <summary>One load measure: requests/s, latency percentiles, errors.</summary>
    public sealed record Measure(double Rate, double P50Ms, double P99Ms, double MaxMs, long Errors)
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Rate,8:N0} req/s p50 {P50Ms:0.00} ms p99 {P99Ms:0.00} ms errors {Errors}");
    }

    private static void Seed(Uri address, List<ExecutionEvent> events, string lastOrder)
    {
        using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(2) };
        foreach (var chunk in events.Chunk(1_000))
        {
            using var body = new MemoryStream();
            body.WriteByte((byte)'[');
            for (var i = 0; i < chunk.Length; i++)
            {
                if (i > 0)
                {
                    body.WriteByte((byte)',');
                }

                body.Write(chunk[i].EnvelopeJson.Span);
            }

            body.WriteByte((byte)']');
            using var content = new ByteArrayContent(body.ToArray());
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using var response = client.PostAsync(new Uri("/api/v1/executions", UriKind.Relative), content).GetAwaiter().GetResult();
            response.EnsureSuccessStatusCode();
        }

        // Stored: the last order's status is served (its facts were written in order with the rest).
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromMinutes(3))
        {
            using var r = client.GetAsync(new Uri($"/api/v1/execution/{lastOrder}/status", UriKind.Relative)).GetAwaiter().GetResult();
            if (r.IsSuccessStatusCode)
            {
                return;
            }

            Thread.Sleep(200);
        }

        throw new TimeoutException("the seeded orders were not served within 3 minutes");
    }

    /// <summary>The load client: "dotnet" (HttpClient in this process) or "wrk" (Debian's wrk, one thread, a Lua script picking random ids).</summary>
    private static string _client = "dotnet";

    private static Measure Load(Uri address, int connections, int seconds, string[] ids, Func<string, string> path, int seed)
    {
        if (_client == "wrk")
        {
            return Wrk(address, connections, seconds, ids.Select(path).ToArray(), seed);
        }

        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = connections, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
        using var client = new HttpClient(handler) { BaseAddress = address };
        var uris = ids.Select(id => new Uri(path(id), UriKind.Relative)).ToArray();
        var histograms = new LatencyHistogram[connections];
        var errors = 0L;
        var warmup = TimeSpan.FromSeconds(2);
        var measuring = 0;
        var stop = 0;
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, connections).Select(w => Task.Run(async () =>
        {
            var h = histograms[w] = new LatencyHistogram();
            var random = new Random(seed * 1_000 + w);
            while (Volatile.Read(ref stop) == 0)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await client.GetAsync(uris[random.Next(uris.Length)], HttpCompletionOption.ResponseContentRead).ConfigureAwait(false);
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        Interlocked.Increment(ref errors);
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref errors);
                }

                if (Volatile.Read(ref measuring) == 1)
                {
                    h.Record((long)Stopwatch.GetElapsedTime(started).TotalNanoseconds);
                }
            }
        })).ToArray();

        Thread.Sleep(warmup);
        Volatile.Write(ref measuring, 1);
        var start = clock.Elapsed;
        Thread.Sleep(TimeSpan.FromSeconds(seconds));
        Volatile.Write(ref measuring, 0);
        var elapsed = clock.Elapsed - start;
        Volatile.Write(ref stop, 1);
        Task.WaitAll(workers);
        var all = LatencyHistogram.Merge(histograms);
        return new Measure(all.Count / elapsed.TotalSeconds, all.Percentile(50) / 1e6, all.Percentile(99) / 1e6, all.Max / 1e6, errors);
    }

    private static Measure Wrk(Uri address, int connections, int seconds, string[] paths, int seed)
    {
        var dir = Directory.CreateTempSubdirectory("w5-wrk-").FullName;
        File.WriteAllLines(Path.Combine(dir, "paths.txt"), paths);
        File.WriteAllText(Path.Combine(dir, "random.lua"), $$"""
            local paths = {}
            for line in io.lines("{{Path.Combine(dir, "paths.txt")}}") do paths[#paths + 1] = line end
            math.randomseed({{seed}})
            request = function() return wrk.format("GET", paths[math.random(#paths)]) end
            """);
        var start = new ProcessStartInfo("wrk") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "-t1", $"-c{connections}", $"-d{seconds}s", "--latency", "-s", Path.Combine(dir, "random.lua"), address.ToString().TrimEnd('/') })
        {
            start.ArgumentList.Add(a);
        }

        using var wrk = Process.Start(start)!;
        var output = wrk.StandardOutput.ReadToEnd();
        wrk.WaitForExit();
        Directory.Delete(dir, recursive: true);
        double Ms(string percentile)
        {
            var line = output.Split('\n').First(l => l.TrimStart().StartsWith(percentile, StringComparison.Ordinal)).Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
            var unit = line.TrimStart('0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '.');
            var value = double.Parse(line[..^unit.Length], CultureInfo.InvariantCulture);
            return unit switch { "us" => value / 1_000, "ms" => value, "s" => value * 1_000, _ => throw new FormatException(line) };
        }

        var rate = double.Parse(output.Split('\n').First(l => l.StartsWith("Requests/sec:", StringComparison.Ordinal))["Requests/sec:".Length..].Trim(), CultureInfo.InvariantCulture);
        var errors = output.Split('\n').FirstOrDefault(l => l.Contains("Non-2xx", StringComparison.Ordinal)) is { } non2xx
            ? long.Parse(non2xx.Split(':')[1].Trim(), CultureInfo.InvariantCulture) : 0;
        return new Measure(rate, Ms("50%"), Ms("99%"), 0, errors);
    }

    /// <summary>The child processes: <c>serve ours ARGS</c> runs the service; <c>serve bare PORT</c> the bare Kestrel server.</summary>
    public static int Serve(string[] args)
    {
        if (args[0] == "bare")
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Configuration.Sources.Clear(); // not the service's appsettings.json (its Kestrel endpoints)
            builder.Configuration.AddInMemoryCollection();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls($"http://127.0.0.1:{args[1]}");
            var app = builder.Build();
            var body = """{"order_id":"ORD-0000001","portfolio_id":"PF-001","instrument_id":"AAPL","side":"BUY","status":"PARTIALLY_FILLED","order_qty":1000,"cum_qty":400,"leaves_qty":600,"avg_px":150.25,"last_fill":{"fill_id":"F-1","quantity":200,"price":150.3,"venue":"NYSE","execution_time":"2025-06-21T10:00:00.000000Z","commission":1.5},"fill_count":2,"updated_at":"2025-06-21T10:00:00.000000Z"}"""u8.ToArray();
            app.MapGet("/api/v1/execution/{order_id}/status", (string order_id) => Results.Bytes(body, "application/json"));
            app.MapGet("/api/v1/distribution/stats", () => Results.Ok());
            app.Run();
            return 0;
        }

        // The workloads measure distribution without authentication unless they configure it.
        string[] auth = args.Any(a => a.StartsWith("--Auth:", StringComparison.Ordinal)) ? [] : ["--Auth:Mode=Off"];
        ExecDistApplication.Build([.. args[1..], "--Logging:LogLevel:Default=Warning", .. auth]).Run();
        return 0;
    }
}
