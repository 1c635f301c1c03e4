using System.Buffers.Text;
using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using ExecutionDistribution.Benchmarks.Support;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace ExecutionDistribution.Benchmarks.Workloads;

/// <summary>
/// W4, broadcast variant: N WebSocket streams (1,000 by default) each taking every event, in this
/// process; the service in a child process. Events of the standard stream are posted to
/// <c>POST /api/v1/executions</c> (or, with <c>--source kafka</c>, produced to a topic the service
/// consumes) every 5 ms at a fixed offered rate, each stamped (its <c>timestamp</c>, microseconds)
/// with <see cref="MonotonicUtcNow"/> just before it is sent; a client's latency is the same clock on
/// receipt minus that stamp (one process, one monotonic clock; the stamp is taken before the
/// service receives the event, so the figure is conservative). A rate ladder rises until p99 passes 10 ms
/// or the delivered rate falls below 95% of the offered one. In the same run the same ladder runs
/// against a bare Kestrel WebSocket broadcaster (child process) that receives the same posted bytes
/// and sends them, as one frame per post, to every connection: the delivery ceiling.
/// </summary>
public static partial class WebSocketWorkload
{
    /// <summary>Runs it: <c>w4-ws [--runs 3] [--streams 1000] [--seconds 5] [--rates 50,100,200,400] (events/s) [--all-rates] [--no-audit] [--audit-postgres] [--peers] [--transport ws|grpc] [--population broadcast|standard] [--per-connection K] [--set Key=Value] [--kinds ours,bare,nats,redis,signalr] [--source rest|kafka] [--kafka-leg] [--ws-client epoll|dotnet] [--grpc-client epoll|dotnet] [--load-threads N] [--auth] [--auth-entitled named|wildcard] [--json file]</c>; <c>--auth</c> runs ours a second time with authentication on (each stream a JWT entitled to the standard stream's 200 portfolios by name, or by <c>*</c> with <c>--auth-entitled wildcard</c>), beside ours without it; <c>--set</c> passes a setting to our service (repeatable); <c>--transport grpc</c> streams ours over gRPC (W3's delivery half); <c>--per-connection K</c> carries the streams as K subscriptions on each multiplexed WebSocket connection (ours only, read by the epoll client); <c>--peers</c> adds the NATS server (Debian's nats-server, NATS.Net clients), Redis pub/sub (Debian's redis-server, StackExchange.Redis) and ASP.NET Core SignalR on the same stream and streams; <c>--all-rates</c> climbs past a failed step; <c>--no-audit</c> runs the service with <c>Audit:Enabled=false</c>; <c>--audit-postgres</c> audits into PostgreSQL (W6 over this path) and counts the rows.</summary>
    public static int Run(string[] args)
    {
        var runs = args.Int("--runs", 3);
        var streams = args.Int("--streams", 1000);
        var seconds = args.Int("--seconds", 5);
        var climbAll = args.Contains("--all-rates");
        // W3's delivery half: ours streams over gRPC (StreamExecution) instead of WebSocket; the baselines stay the same.
        var grpc = args.Option("--transport") == "grpc";
        // Every event of the standard stream is audit_required: by default each delivery leaves an audit row (to the local file here).
        string[] oursSettings = args.Contains("--no-audit") ? ["--Audit:Enabled=false"] : [];

        // --set Key=Value (repeatable): a service setting for ours, e.g. --set WebSocket:SendLinger=00:00:00
        oursSettings = [.. oursSettings, .. args.Select((a, i) => (a, i)).Where(x => x.a == "--set" && x.i + 1 < args.Length).Select(x => $"--{args[x.i + 1]}")];
        // --kinds ours,bare,...: which of ours, the bare broadcaster and the peers (with --peers) to run; all by default.
        var kinds = args.Option("--kinds")?.Split(',') ?? Kinds;

        // --auth: ours again with authentication on (a JWT per stream, entitled to every portfolio of the
        // standard stream by name, so each filter is narrowed at subscribe time), beside ours without it.
        // --auth-entitled wildcard: the token is entitled to every portfolio by '*' (authentication alone, no narrowing).
        var auth = args.Contains("--auth") && kinds.Contains("ours")
            ? BenchAuth.Create(args.Option("--auth-entitled") == "wildcard" ? ["*"] : new SyntheticExecutionStream(42).Portfolios)
            : null;
        kinds = auth is null ? [.. kinds.Where(k => k != "ours-auth")] : [.. kinds.Append("ours-auth").Distinct()];

        // --source kafka: ours ingests from a 12-partition topic on an embedded broker in this process (W3/W4 of BENCHMARKS.md); rest (default): POST /api/v1/executions.
        var kafkaSource = args.Option("--source") == "kafka";

        // --kafka-leg (with --source kafka): a bare consumer of the same topic measured at the same moment as ours.
        var kafkaLeg = kafkaSource && args.Contains("--kafka-leg");
        var legRuns = new List<List<Step>>();

        // The load side's WebSocket client (ours and the bare broadcaster): --ws-client epoll|dotnet, --load-threads N epoll threads.
        var epollThreads = UseEpollClient(args) ? args.Int("--load-threads", 1) : 0;
        // Ours over gRPC: --grpc-client epoll (the same loops, HTTP/2) or dotnet (Grpc.Net.Client).
        var epollGrpc = grpc && UseEpollGrpcClient(args);
        // --per-connection K (WebSocket, ours only): K subscriptions on each multiplexed connection (multiplex=true
        // and K-1 subscribe messages), so the streams travel on streams/K connections, each event once per connection.
        var perConnection = grpc ? 1 : Math.Max(1, args.Int("--per-connection", 1));
        if (perConnection > 1)
        {
            kinds = [.. kinds.Where(k => k == "ours")];
            oursSettings = [.. oursSettings, $"--WebSocket:MaxSubscriptionsPerConnection={perConnection}"];
        }

        var rates = (args.Option("--rates") ?? "50,100,200,400,800").Split(',').Select(r => int.Parse(r, CultureInfo.InvariantCulture)).ToArray();
        var stream = new SyntheticExecutionStream(42);
        var parsed = Enumerable.Range(0, 65_536).Select(_ => stream.Next()).ToList();
        var events = parsed.Select(e => e.EnvelopeJson.ToArray()).ToArray();

        // The standard population (BENCHMARKS.md): stream i takes subscriber i's filter. Only ours can
        // filter, so the bare broadcaster and the peers are not run; the offered deliveries are the
        // offered events times the mean number of subscribers an event matches (counted on the stream).
        var standard = args.Option("--population") == "standard";
        var population = standard
            ? [.. StandardSubscribers.Standard(new SyntheticExecutionStream(42), 42).Take(streams)]
            : new List<SubscriberDefinition>();
        var fanout = standard ? parsed.Take(8_192).Average(e => population.Count(d => d.Filter.Matches(e))) : streams;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"# {(grpc ? "W3 grpc" : "W4 websocket")}, {(standard ? $"standard population ({fanout:0.00} deliveries per event)" : "broadcast: every event to every stream")}: {streams} streams{(perConnection > 1 ? $" as {perConnection} subscriptions on each of {streams / perConnection} multiplexed connections" : "")}, {seconds} s per rate, rates {string.Join(", ", rates)} events/s, {runs} runs"));

        var results = new List<Dictionary<string, List<Step>>>();
        var auditRuns = new List<AuditCheck>();
        // W6 over this path: the service audits every delivery into PostgreSQL (a schema per run).
        var postgres = args.Contains("--audit-postgres")
            ? args.Postgres()
            : null;
        for (var run = 1; run <= runs; run++)
        {
            var r = new Dictionary<string, List<Step>>();
            // Ours and (with --auth) ours with authentication on, the one first that went second in the run before.
            (string Kind, string? Bearer)[] order = [("ours", null), ("ours-auth", auth?.Token)];
            foreach (var (oursKind, bearer) in run % 2 == 1 ? order : order.Reverse())
            {
                if (!kinds.Contains(oursKind) || (oursKind == "ours-auth" && auth is null))
                {
                    continue;
                }

                var schema = $"w6_{Guid.NewGuid():N}";
                string[] audit = postgres is null ? [] : [$"--Postgres:ConnectionString={postgres}", $"--Postgres:Schema={schema}"];
                try
                {
                    using var kafka = kafkaSource ? new KafkaSource(parsed, events) : null;
                    using var ours = Child.Start("ours", [.. oursSettings, .. audit, .. kafka?.Settings ?? [], "--WebSocket:MaxStreams=10000", "--WebSocket:MaxStreamsPerClient=10000", "--Distribution:MaxSubscribers=10000",
                        .. bearer is null ? [] : auth!.Settings]);
                    kafka?.WaitUntilConsuming(ours.BaseAddress, events[^1]);
                    var clock = Stopwatch.StartNew();
                    using var leg = kafkaLeg ? kafka!.StartLeg() : null;
                    var plan = new LadderPlan(streams, seconds, rates, events, climbAll, fanout, epollThreads, leg, perConnection, bearer);
                    r[oursKind] = grpc
                        ? GrpcLadder(ours, plan, standard ? population : null, kafka is null ? null : kafka.Publish, epollGrpc)
                        : perConnection > 1
                            ? MultiplexedLadder(ours, plan, standard ? population : null, kafka is null ? null : kafka.Publish)
                            : Ladder(oursKind, ours.BaseAddress, i => standard ? $"/api/v1/execution/stream?{Query(population[i].Filter)}&delivery_guarantee=at_most_once" : "/api/v1/execution/stream?topics=%23&delivery_guarantee=at_most_once",
                                "/api/v1/executions", ours.Pid, plan, kafka is null ? null : kafka.Publish);
                    if (leg is not null)
                    {
                        legRuns.Add(plan.BesideSteps);
                    }

                    if (postgres is not null)
                    {
                        auditRuns.Add(CheckAudit(ours.BaseAddress, postgres, schema, clock));
                    }
                }
                finally
                {
                    if (postgres is not null)
                    {
                        ResultFiles.DropSchema(postgres, schema);
                    }
                }
            }

            if (!standard && kinds.Contains("bare"))
            {
                using var bare = Child.Start("bare-ws");
                r["bare"] = Ladder("bare", bare.BaseAddress, _ => "/ws", "/ingest", bare.Pid, new LadderPlan(streams, seconds, rates, events, climbAll, streams, epollThreads));
            }

            if (args.Contains("--peers") && !standard)
            {
                if (kinds.Contains("nats"))
                {
                    r["nats"] = NatsLadder(streams, seconds, rates, events, climbAll);
                }

                if (kinds.Contains("redis"))
                {
                    r["redis"] = RedisLadder(streams, seconds, rates, events, climbAll);
                }

                if (kinds.Contains("signalr"))
                {
                    r["signalr"] = SignalRLadder(streams, seconds, rates, events, climbAll);
                }
            }

            results.Add(r);
        }

        // Per rate: medians over runs.
        Console.WriteLine("median per offered rate (deliveries/s offered = events/s x deliveries per event):");
        var summary = new List<object>();
        foreach (var rate in rates)
        {
            var row = new Dictionary<string, object> { ["rate"] = rate, ["offered_deliveries"] = (long)Math.Round(rate * fanout) };
            foreach (var kind in Kinds)
            {
                var steps = results.Where(x => x.ContainsKey(kind)).Select(x => x[kind].FirstOrDefault(s => s.Rate == rate)).OfType<Step>().ToList();
                if (steps.Count == 0)
                {
                    continue;
                }

                double M(Func<Step, double> f) => steps.Select(f).Order().ElementAt(steps.Count / 2);
                row[kind] = new
                {
                    delivered = M(s => s.Delivered), p50_ms = M(s => s.P50Ms), p90_ms = M(s => s.P90Ms), p99_ms = M(s => s.P99Ms), p999_ms = M(s => s.P999Ms), max_ms = M(s => s.MaxMs),
                    cpu_us_per_delivery = M(s => double.IsNaN(s.CpuUsPerDelivery) ? -1 : s.CpuUsPerDelivery), peak_mib = M(s => double.IsNaN(s.PeakMiB) ? -1 : s.PeakMiB),
                };
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {rate,6} ev/s  {kind,-4}  delivered {M(s => s.Delivered),10:N0}/s  p50 {M(s => s.P50Ms),7:0.00} ms  p90 {M(s => s.P90Ms),7:0.00} ms  p99 {M(s => s.P99Ms),7:0.00} ms  p99.9 {M(s => s.P999Ms),7:0.00} ms"));
            }

            summary.Add(row);
        }

        // The highest rate that held (p99 under 10 ms, 95% delivered) per run, median over runs, and each beside ours.
        var held = new Dictionary<string, double>();
        foreach (var kind in Kinds)
        {
            var perRun = results.Where(x => x.ContainsKey(kind)).Select(x => HighestHeld(x[kind], fanout)).Order().ToList();
            if (perRun.Count > 0)
            {
                held[kind] = perRun[perRun.Count / 2];
            }
        }

        Console.WriteLine("highest offered rate that held (p99 <= 10 ms, >= 95% delivered), deliveries/s, median over runs:");
        foreach (var (kind, value) in held)
        {
            var ratio = held.TryGetValue("ours", out var ours) && value > 0 ? string.Create(CultureInfo.InvariantCulture, $"  (ours / {kind}: {ours / value:0.00})") : string.Empty;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {kind,-7} {value,12:N0}{(kind == "ours" ? string.Empty : ratio)}"));
        }

        foreach (var a in auditRuns)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"audit in PostgreSQL: {a.Recorded:N0} rows recorded, {a.Stored:N0} stored ({a.Recorded - a.Stored} lost), {a.RowsPerSecond:N0} rows/s over the run including the drain of {a.DrainSeconds:0.0} s"));
        }

        if (args.Option("--json") is { } path)
        {
            ResultFiles.Write(path, new
            {
                workload = (grpc ? "w3-grpc-" : "w4-ws-") + (standard ? "standard" : "broadcast") + (perConnection > 1 ? "-multiplexed" : string.Empty) + (postgres is null ? string.Empty : "+w6-audit"),
                population = standard ? "standard" : "broadcast",
                per_connection = perConnection,
                source = kafkaSource ? "kafka" : "rest",
                load_client = epollThreads > 0 ? $"epoll ({epollThreads} thread(s))" : "ClientWebSocket",
                grpc_client = grpc ? (epollGrpc ? $"epoll HTTP/2 ({Math.Max(1, epollThreads)} thread(s), 100 calls per connection)" : "Grpc.Net.Client") : null,
                deliveries_per_event = fanout,
                kafka_leg = legRuns.Count == 0 ? null : rates.Select(rate =>
                {
                    var legs = legRuns.Select(l => l.FirstOrDefault(x => x.Rate == rate)).OfType<Step>().ToList();
                    double M(Func<Step, double> f) => legs.Count == 0 ? double.NaN : legs.Select(f).Order().ElementAt(legs.Count / 2);
                    return new { rate, records_per_s = M(x => x.Delivered), p50_ms = M(x => x.P50Ms), p90_ms = M(x => x.P90Ms), p99_ms = M(x => x.P99Ms), max_ms = M(x => x.MaxMs) };
                }).ToList(),
                audit = auditRuns,
                streams,
                seconds,
                rates,
                seed = 42,
                machine = ResultFiles.Machine,
                runs = results,
                median = summary,
                held,
            });
        }

        return 0;
    }

    private static readonly string[] Kinds = ["ours", "ours-auth", "bare", "nats", "redis", "signalr"];

    /// <summary>The audit of one run: rows recorded by the service, rows in PostgreSQL, and the rate.</summary>
    public sealed record AuditCheck(long Recorded, long Stored, double RowsPerSecond, double DrainSeconds);

    // Waits until the service's audit queue is empty, then counts the rows in PostgreSQL.
    private static AuditCheck CheckAudit(Uri address, string postgres, string schema, Stopwatch clock)
    {
        var ladderDone = clock.Elapsed;
        using var http = new HttpClient { BaseAddress = address };
        long recorded = 0;
        while (clock.Elapsed - ladderDone < TimeSpan.FromMinutes(3))
        {
            var stats = JsonDocument.Parse(http.GetStringAsync(new Uri("/api/v1/audit/stats", UriKind.Relative)).GetAwaiter().GetResult()).RootElement;
            recorded = stats.GetProperty("recorded").GetInt64();
            if (stats.GetProperty("queued").GetInt64() == 0 && !stats.GetProperty("degraded").GetBoolean() && stats.GetProperty("written").GetInt64() >= recorded)
            {
                break;
            }

            Thread.Sleep(100);
        }

        var elapsed = clock.Elapsed;
        using var c = new Npgsql.NpgsqlConnection(postgres);
        c.Open();
        using var count = new Npgsql.NpgsqlCommand($"SELECT count(*) FROM \"{schema}\".distribution_audit", c);
        var stored = (long)count.ExecuteScalar()!;
        return new AuditCheck(recorded, stored, stored / elapsed.TotalSeconds, (elapsed - ladderDone).TotalSeconds);
    }

    /// <summary>One step of the ladder.</summary>
    /// <summary>
    /// One rung of a ladder: delivered/s, latency percentiles, and the server's CPU microseconds per
    /// delivery and peak resident memory (MiB) as of the end of the rung.
    /// </summary>
    public sealed record Step(int Rate, double Delivered, double P50Ms, double P90Ms, double P99Ms, double P999Ms, double MaxMs, double CpuUsPerDelivery = double.NaN, double PeakMiB = double.NaN)
    {
        /// <summary>The rung <paramref name="rate"/> as <paramref name="latencies"/> recorded it over <paramref name="seconds"/>.</summary>
        public static Step Of(int rate, LatencyHistogram latencies, double seconds, double cpuUsPerDelivery = double.NaN, double peakMiB = double.NaN) =>
            new(rate, latencies.Count / seconds, latencies.Percentile(50) / 1e6, latencies.Percentile(90) / 1e6, latencies.Percentile(99) / 1e6,
                latencies.Percentile(99.9) / 1e6, latencies.Max / 1e6, cpuUsPerDelivery, peakMiB);

        /// <summary>p99 under 10 ms and at least 95% of the offered deliveries (events/s times <paramref name="fanout"/>, the deliveries per event) delivered.</summary>
        public bool Held(double fanout) => P99Ms <= 10 && Delivered >= 0.95 * Rate * fanout;
    }

    /// <summary>What every ladder of a run climbs: the streams, the rungs, the events, and the deliveries per event (the streams, for broadcast).</summary>
    /// <param name="Beside">Measured over the same windows as the streams, its steps in <see cref="BesideSteps"/> (the Kafka leg alone).</param>
    private sealed record LadderPlan(int Streams, int Seconds, int[] Rates, byte[][] Events, bool ClimbAll, double Fanout, int EpollThreads = 0, Receiver? Beside = null, int PerConnection = 1, string? Bearer = null)
    {
        public List<Step> BesideSteps { get; } = [];
    }

    /// <summary>The highest offered rate (deliveries/s) of the ladder's unbroken run of held rungs from the bottom; 0 if none held.</summary>
    public static double HighestHeld(IEnumerable<Step> steps, double fanout)
    {
        double held = 0;
        foreach (var step in steps.OrderBy(s => s.Rate))
        {
            if (!step.Held(fanout))
            {
                break;
            }

            held = step.Rate * fanout;
        }

        return held;
    }

    // A subscriber's filter as stream query parameters (the standard population uses data types, routing key patterns and order ids).
    /// <summary>A gRPC stream request of <paramref name="filter"/> (every event when null) with <paramref name="guarantee"/>.</summary>
    internal static ExecutionDistribution.Grpc.V1.StreamRequest GrpcRequest(SubscriptionFilter? filter, string guarantee)
    {
        var request = new ExecutionDistribution.Grpc.V1.StreamRequest { DeliveryGuarantee = guarantee, Filter = new ExecutionDistribution.Grpc.V1.Filter() };
        if (filter is null)
        {
            request.Filter.Topics.Add("#");
        }
        else
        {
            request.Filter.DataTypes.AddRange(filter.DataTypes.Select(t => t.Name()));
            request.Filter.RoutingKeys.AddRange(filter.RoutingKeys.Select(p => p.Text));
            request.Filter.OrderIds.AddRange(filter.OrderIds);
        }

        return request;
    }

    internal static string Query(SubscriptionFilter f)
    {
        var parts = new List<string>();
        if (f.DataTypes.Count > 0)
        {
            parts.Add("data_types=" + string.Join(',', f.DataTypes.Select(t => t.Name())));
        }

        if (f.RoutingKeys.Count > 0)
        {
            parts.Add("routing_keys=" + Uri.EscapeDataString(string.Join(',', f.RoutingKeys.Select(p => p.Text))));
        }

        if (f.OrderIds.Count > 0)
        {
            parts.Add("order_ids=" + Uri.EscapeDataString(string.Join(',', f.OrderIds)));
        }

        return string.Join('&', parts);
    }

    // Ours over multiplexed WebSocket connections: connection c carries streams c*K .. c*K+K-1, the first opened
    // by the query and the others by subscribe messages sent after the upgrade (the epoll client only).
    private static List<Step> MultiplexedLadder(Child ours, LadderPlan plan, List<SubscriberDefinition>? population, Action<List<byte[]>>? publish)
    {
        using var http = BenchAuth.Http(ours.BaseAddress, plan.Bearer);
        using var epoll = new EpollClients(Math.Max(1, plan.EpollThreads)) { Bearer = plan.Bearer };
        const string Broadcast = "topics=%23";
        var k = plan.PerConnection;
        return Ladder(plan.Bearer is null ? "ours" : "ours-auth", c =>
        {
            var first = c * k;
            var query = population is null ? Broadcast : Query(population[first].Filter);
            var subscribes = Enumerable.Range(first + 1, k - 1).Select(i => SubscribeMessage($"r{i}", population?[i].Filter)).ToList();
            return epoll.ConnectAsync(new Uri($"ws://{ours.BaseAddress.Authority}/api/v1/execution/stream?multiplex=true&{query}&delivery_guarantee=at_most_once"), subscribes);
        }, publish ?? (batch => Post(http, "/api/v1/executions", batch)), ours.Pid, plan);
    }

    // A multiplexed connection's subscribe message for a filter (null: every event), at_most_once like the other streams.
    private static byte[] SubscribeMessage(string requestId, SubscriptionFilter? f)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("type", "subscribe");
            w.WriteString("request_id", requestId);
            w.WriteString("delivery_guarantee", "at_most_once");
            if (f is null)
            {
                w.WriteString("topics", "#");
            }
            else
            {
                WriteList(w, "data_types", f.DataTypes.Select(t => t.Name()));
                WriteList(w, "routing_keys", f.RoutingKeys.Select(p => p.Text));
                WriteList(w, "order_ids", f.OrderIds);
            }

            w.WriteEndObject();
        }

        return buffer.ToArray();

        static void WriteList(Utf8JsonWriter w, string name, IEnumerable<string> values)
        {
            var list = values.ToList();
            if (list.Count == 0)
            {
                return;
            }

            w.WriteStartArray(name);
            foreach (var v in list)
            {
                w.WriteStringValue(v);
            }

            w.WriteEndArray();
        }
    }

    private static List<Step> Ladder(string kind, Uri address, Func<int, string> streamPath, string ingestPath, int pid, LadderPlan plan, Action<List<byte[]>>? publish = null)
    {
        using var http = BenchAuth.Http(address, plan.Bearer);
        using var epoll = plan.EpollThreads > 0 ? new EpollClients(plan.EpollThreads) { Bearer = plan.Bearer } : null;
        Func<Uri, Task<Receiver>> connect = epoll is null ? uri => Client.ConnectAsync(uri, plan.Bearer) : epoll.ConnectAsync;
        return Ladder(kind, i => connect(new Uri($"ws://{address.Authority}{streamPath(i)}")), publish ?? (batch => Post(http, ingestPath, batch)), pid, plan);
    }

    private static List<Step> Ladder(string kind, Func<Task<Receiver>> connect, Action<List<byte[]>> publish, int pid, int streams, int seconds, int[] rates, byte[][] events, bool climbAll) =>
        Ladder(kind, _ => connect(), publish, pid, new LadderPlan(streams, seconds, rates, events, climbAll, streams));

    private static List<Step> Ladder(string kind, Func<int, Task<Receiver>> connect, Action<List<byte[]>> publish, int pid, LadderPlan plan)
    {
        var (seconds, rates, events, climbAll) = (plan.Seconds, plan.Rates, plan.Events, plan.ClimbAll);
        var connections = plan.Streams / plan.PerConnection;
        var clients = new List<Receiver>(connections);
        var connecting = Stopwatch.StartNew();
        for (var i = 0; i < connections; i += 100)
        {
            clients.AddRange(Task.WhenAll(Enumerable.Range(i, Math.Min(100, connections - i)).Select(connect)).GetAwaiter().GetResult());
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {kind,-4} {plan.Streams:N0} streams connected and subscribed in {connecting.Elapsed.TotalSeconds:0.00} s (100 at a time){(plan.PerConnection > 1 ? $", on {connections:N0} connections" : "")}"));

        var steps = new List<Step>();
        var next = 0;
        foreach (var rate in rates)
        {
            // 1 s to settle at the new rate, then the measure.
            Offer(publish, rate, TimeSpan.FromSeconds(1), events, ref next);
            foreach (var c in clients)
            {
                c.Reset();
            }

            plan.Beside?.Reset();

            var cpu = ProcessMeter.CpuSeconds(pid);
            var clientCpu = ProcessMeter.CpuSeconds(Environment.ProcessId);
            var clock = Stopwatch.StartNew();
            Offer(publish, rate, TimeSpan.FromSeconds(seconds), events, ref next, () => Progress(kind, rate, clients, clock));
            var elapsed = clock.Elapsed.TotalSeconds;
            cpu = ProcessMeter.CpuSeconds(pid) - cpu;
            clientCpu = ProcessMeter.CpuSeconds(Environment.ProcessId) - clientCpu;
            var all = LatencyHistogram.Merge(clients.Select(c => c.TakeHistogram()));
            var step = Step.Of(rate, all, elapsed, all.Count == 0 ? double.NaN : cpu * 1e6 / all.Count, ProcessMeter.PeakResidentMiB(pid));
            steps.Add(step);
            if (plan.Beside?.TakeHistogram() is { } beside)
            {
                var leg = Step.Of(rate, beside, elapsed);
                plan.BesideSteps.Add(leg);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  kafka leg alone, same window: {leg.Delivered,10:N0} records/s  p50 {leg.P50Ms:0.00} ms  p90 {leg.P90Ms:0.00} ms  p99 {leg.P99Ms:0.00} ms  max {leg.MaxMs:0.0} ms"));
            }

            var offered = rate * plan.Fanout;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {kind,-4} {rate,6} ev/s offered ({offered,10:N0} deliveries/s): delivered {step.Delivered,10:N0}/s  p50 {step.P50Ms:0.00} ms  p90 {step.P90Ms:0.00} ms  p99 {step.P99Ms:0.00} ms  p99.9 {step.P999Ms:0.00} ms  max {step.MaxMs:0.0} ms  cpu {step.CpuUsPerDelivery:0.00} us/delivery (load side {clientCpu * 1e6 / Math.Max(1, all.Count):0.00})  peak {step.PeakMiB:N0} MiB"));
            if (!climbAll && !step.Held(plan.Fanout))
            {
                break; // the highest rate that held is the previous one
            }
        }

        foreach (var c in clients)
        {
            c.Dispose();
        }

        return steps;
    }

    // One batch as one POST: a JSON array of the events.
    private static void Post(HttpClient http, string path, List<byte[]> batch)
    {
        using var body = new MemoryStream();
        body.WriteByte((byte)'[');
        for (var i = 0; i < batch.Count; i++)
        {
            if (i > 0)
            {
                body.WriteByte((byte)',');
            }

            body.Write(batch[i]);
        }

        body.WriteByte((byte)']');
        using var content = new ByteArrayContent(body.GetBuffer(), 0, (int)body.Length);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var response = http.PostAsync(new Uri(path, UriKind.Relative), content).GetAwaiter().GetResult();
    }

    // A line a second during a measure: the rate delivered so far and the p99 so far.
    private static void Progress(string kind, int rate, List<Receiver> clients, Stopwatch clock)
    {
        var sofar = new LatencyHistogram();
        foreach (var c in clients)
        {
            c.CopyTo(sofar);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"    … {kind} {rate} ev/s, {clock.Elapsed.TotalSeconds:0} s: {sofar.Count:N0} deliveries ({sofar.Count / Math.Max(0.001, clock.Elapsed.TotalSeconds):N0}/s), p99 so far {sofar.Percentile(99) / 1e6:0.00} ms"));
    }

    // Publishes the stream at `rate` events/s for `duration`, a batch every 5 ms, each event stamped just
    // before its publish; `progress`, if given, is called once a second. An event that fell due while the
    // previous publish call was still in progress carries its due time instead: a publish that blocks (a
    // POST the service is slow to answer) holds up the events behind it, and that wait is the service's
    // (no coordinated omission). The runner's own 5 ms pacing is not charged.
    internal static void Offer(Action<List<byte[]>> publish, int rate, TimeSpan duration, byte[][] events, ref int next, Action? progress = null)
    {
        var clock = Stopwatch.StartNew();
        var start = MonotonicUtcNow();
        var publishEnded = start;
        var report = TimeSpan.FromSeconds(1);
        long sent = 0;
        var batch = new List<byte[]>();
        while (clock.Elapsed < duration)
        {
            var owed = (long)(clock.Elapsed.TotalSeconds * rate) - sent;
            if (owed <= 0)
            {
                Thread.Sleep(1);
                continue;
            }

            batch.Clear();
            var now = MonotonicUtcNow();
            for (var i = 0; i < owed; i++)
            {
                var e = events[next++ % events.Length];
                var due = start + TimeSpan.FromTicks((long)((sent + i + 1) * (double)TimeSpan.TicksPerSecond / rate));
                Stamp(e, due < publishEnded ? due : now);
                batch.Add(e);
            }

            publish(batch);
            publishEnded = MonotonicUtcNow();
            sent += owed;
            if (progress is not null && clock.Elapsed >= report)
            {
                progress();
                report += TimeSpan.FromSeconds(1);
            }

            Thread.Sleep(5);
        }
    }

    private static readonly byte[] TimestampField = "\"timestamp\":\""u8.ToArray();

    private static readonly DateTime AnchorUtc = DateTime.UtcNow;
    private static readonly long AnchorTimestamp = Stopwatch.GetTimestamp();

    /// <summary>
    /// The wall clock at the start of this process moved on by the monotonic clock: the publisher stamps
    /// events with it and the clients (in this same process) read it on receipt, so every latency is a
    /// difference of two readings of one monotonic clock, while the stamps still read as UTC times.
    /// </summary>
    internal static DateTime MonotonicUtcNow() => AnchorUtc + Stopwatch.GetElapsedTime(AnchorTimestamp);

    // Overwrites the envelope's timestamp (fixed width: yyyy-MM-ddTHH:mm:ss.ffffffZ) with `now`.
    private static void Stamp(byte[] json, DateTime now)
    {
        var at = json.AsSpan().IndexOf(TimestampField);
        if (at >= 0)
        {
            Encoding.ASCII.GetBytes(now.ToString(Timestamps.WireFormat, CultureInfo.InvariantCulture), json.AsSpan(at + TimestampField.Length, 27));
        }
    }

    /// <summary>One WebSocket client: reads frames, finds each event's timestamp, records now minus it.</summary>
    private sealed class Client : Receiver
    {
        private readonly ClientWebSocket _socket;
        private readonly Task _reading;
        private readonly CancellationTokenSource _stop = new();

        private Client(ClientWebSocket socket)
        {
            _socket = socket;
            _reading = Task.Run(ReadAsync);
        }

        public static async Task<Receiver> ConnectAsync(Uri uri, string? bearer = null)
        {
            var socket = new ClientWebSocket();
            socket.Options.KeepAliveInterval = TimeSpan.Zero;
            if (bearer is not null)
            {
                socket.Options.SetRequestHeader("Authorization", $"Bearer {bearer}");
            }

            await socket.ConnectAsync(uri, CancellationToken.None).ConfigureAwait(false);
            return new Client(socket);
        }

        private Task ReadAsync() => WebSocketFrames.ReadAsync(_socket, Record, _stop.Token);


        // yyyy-MM-ddTHH:mm:ss.ffffffZ, digits at fixed places: a few ns instead of a general parse.
        internal static DateTime? ParseStamp(ReadOnlySpan<byte> v)
        {
            static int D(ReadOnlySpan<byte> s)
            {
                var n = 0;
                foreach (var c in s)
                {
                    if (c is < (byte)'0' or > (byte)'9')
                    {
                        return -1;
                    }

                    n = (n * 10) + (c - '0');
                }

                return n;
            }

            var (y, mo, d, h, mi, sec, us) = (D(v[..4]), D(v[5..7]), D(v[8..10]), D(v[11..13]), D(v[14..16]), D(v[17..19]), D(v[20..26]));
            if (y < 1 || mo < 1 || d < 1 || h < 0 || mi < 0 || sec < 0 || us < 0)
            {
                return null;
            }

            return new DateTime(y, mo, d, h, mi, sec, DateTimeKind.Utc).AddTicks(us * 10L);
        }

        public override void Dispose()
        {
            _stop.Cancel();
            try
            {
                _socket.Abort();
                _reading.Wait(TimeSpan.FromSeconds(5));
            }
            catch (AggregateException)
            {
            }

            _socket.Dispose();
        }
    }

    // Ours over gRPC, one StreamExecution per subscriber: read by the lean epoll HTTP/2 client (100 calls per
    // connection, Kestrel's limit), or by Grpc.Net.Client on one channel with several HTTP/2 connections (--grpc-client dotnet).
    private static List<Step> GrpcLadder(Child ours, LadderPlan plan, List<SubscriberDefinition>? population, Action<List<byte[]>>? publish, bool epollClient)
    {
        using var http = BenchAuth.Http(ours.BaseAddress, plan.Bearer);
        publish ??= batch => Post(http, "/api/v1/executions", batch);
        var kind = plan.Bearer is null ? "ours" : "ours-auth";
        if (epollClient)
        {
            using var epoll = new EpollClients(Math.Max(1, plan.EpollThreads)) { Bearer = plan.Bearer };
            return Ladder(kind, i => epoll.ConnectGrpcAsync(ours.GrpcAddress, "/execdist.v1.ExecutionStream/StreamExecution", Google.Protobuf.MessageExtensions.ToByteArray(GrpcReceiver.Request(population?[i].Filter)), 100), publish, ours.Pid, plan);
        }

        using var channel = global::Grpc.Net.Client.GrpcChannel.ForAddress(ours.GrpcAddress, new global::Grpc.Net.Client.GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
            MaxReceiveMessageSize = 64 * 1024 * 1024,
        });
        var client = new ExecutionDistribution.Grpc.V1.ExecutionStream.ExecutionStreamClient(channel);
        return Ladder(kind, i => GrpcReceiver.ConnectAsync(client, population?[i].Filter, plan.Bearer), publish, ours.Pid, plan);
    }

    /// <summary>One gRPC stream of every event.</summary>
    private sealed class GrpcReceiver : Receiver
    {
        private readonly global::Grpc.Core.AsyncServerStreamingCall<ExecutionDistribution.Grpc.V1.ExecutionMessage> _call;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _reading;

        private GrpcReceiver(global::Grpc.Core.AsyncServerStreamingCall<ExecutionDistribution.Grpc.V1.ExecutionMessage> call)
        {
            _call = call;
            _reading = Task.Run(ReadAsync);
        }

        public static async Task<Receiver> ConnectAsync(ExecutionDistribution.Grpc.V1.ExecutionStream.ExecutionStreamClient client, SubscriptionFilter? filter, string? bearer = null)
        {
            var call = client.StreamExecution(Request(filter), bearer is null ? null : new global::Grpc.Core.Metadata { { "Authorization", $"Bearer {bearer}" } });
            await call.ResponseHeadersAsync.ConfigureAwait(false); // attached
            return new GrpcReceiver(call);
        }

        /// <summary>An at_most_once ad hoc stream of <paramref name="filter"/>, or of every event.</summary>
        public static ExecutionDistribution.Grpc.V1.StreamRequest Request(SubscriptionFilter? filter) => GrpcRequest(filter, "at_most_once");

        private async Task ReadAsync()
        {
            try
            {
                while (await _call.ResponseStream.MoveNext(_stop.Token).ConfigureAwait(false))
                {
                    var m = _call.ResponseStream.Current;
                    if (m.BodyCase == ExecutionDistribution.Grpc.V1.ExecutionMessage.BodyOneofCase.Events)
                    {
                        foreach (var d in m.Events.Deliveries)
                        {
                            Record(d.EventJson.Span);
                        }
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or global::Grpc.Core.RpcException)
            {
            }
        }

        public override void Dispose()
        {
            _stop.Cancel();
            try
            {
                _reading.Wait(TimeSpan.FromSeconds(5));
            }
            catch (AggregateException)
            {
            }

            _call.Dispose();
        }
    }

    /// <summary>A subscriber of the load side: records the latency of what it receives.</summary>
    internal abstract class Receiver : IDisposable
    {
        private readonly Lock _gate = new();
        private LatencyHistogram _histogram = new();

        /// <summary>Starts a new measure.</summary>
        public void Reset()
        {
            lock (_gate)
            {
                _histogram = new LatencyHistogram();
            }
        }

        /// <summary>Adds the measure so far to <paramref name="into"/> (progress lines), leaving it running.</summary>
        public void CopyTo(LatencyHistogram into)
        {
            lock (_gate)
            {
                into.Add(_histogram);
            }
        }

        /// <summary>The measure so far; a new one starts.</summary>
        public LatencyHistogram TakeHistogram()
        {
            lock (_gate)
            {
                var h = _histogram;
                _histogram = new LatencyHistogram();
                return h;
            }
        }

        /// <summary>Records the latency of every event in <paramref name="bytes"/>.</summary>
        protected void Record(ReadOnlySpan<byte> bytes)
        {
            lock (_gate)
            {
                RecordStamps(_histogram, bytes);
            }
        }

        /// <summary>Records the latency of every delivery in a multiplexed frame (an event once per subscription it went to).</summary>
        protected void RecordMultiplexed(ReadOnlySpan<byte> bytes)
        {
            lock (_gate)
            {
                RecordMultiplexedStamps(_histogram, bytes);
            }
        }

        public abstract void Dispose();
    }

    private static readonly byte[] DeliveriesField = "{\"deliveries\":["u8.ToArray();
    private static readonly byte[] SubscriptionIdField = "\"subscription_id\""u8.ToArray();
    private static readonly byte[] EventField = "\"event\":"u8.ToArray();

    // A multiplexed frame: each event once, after the subscriptions it went to; records now minus its
    // timestamp once per subscription, so latencies and counts are per delivery as on the other streams.
    internal static void RecordMultiplexedStamps(LatencyHistogram histogram, ReadOnlySpan<byte> bytes)
    {
        var now = MonotonicUtcNow();
        var rest = bytes;
        while (rest.IndexOf(DeliveriesField) is var at and >= 0)
        {
            rest = rest[(at + DeliveriesField.Length)..];
            var eventAt = rest.IndexOf(EventField);
            if (eventAt < 0)
            {
                return;
            }

            var deliveries = rest[..eventAt].Count(SubscriptionIdField);
            rest = rest[(eventAt + EventField.Length)..];
            var next = rest.IndexOf(DeliveriesField);
            RecordStamps(histogram, next < 0 ? rest : rest[..next], now, deliveries);
            rest = next < 0 ? default : rest[next..];
        }
    }

    // Finds every envelope timestamp in `bytes` and records now minus it.
    internal static void RecordStamps(LatencyHistogram histogram, ReadOnlySpan<byte> bytes) => RecordStamps(histogram, bytes, MonotonicUtcNow(), 1);

    // The same, each stamp recorded `times` times (a multiplexed event, once per subscription it went to).
    private static void RecordStamps(LatencyHistogram histogram, ReadOnlySpan<byte> bytes, DateTime now, int times)
    {
        var rest = bytes;
        while (rest.IndexOf(TimestampField) is var at and >= 0)
        {
            if (Client.ParseStamp(rest.Slice(at + TimestampField.Length, 27)) is { } stamp)
            {
                for (var i = 0; i < times; i++)
                {
                    histogram.Record((long)((now - stamp).Ticks * 100));
                }
            }

            rest = rest[(at + TimestampField.Length + 27)..];
        }
    }

    /// <summary>
    /// The NATS peer: Debian's nats-server in a child process, each stream a NATS connection of its own
    /// subscribed to one subject, each event published as one message by one publishing connection.
    /// </summary>
    private static List<Step> NatsLadder(int streams, int seconds, int[] rates, byte[][] events, bool climbAll)
    {
        var port = Child.FreePort();
        using var server = PeerServer.Start("nats-server", "-a", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture));
        var url = $"nats://127.0.0.1:{port}";
        var publisher = ConnectNats(url).GetAwaiter().GetResult();
        try
        {
            return Ladder("nats", async () => await NatsReceiver.ConnectAsync(url).ConfigureAwait(false), batch =>
            {
                foreach (var e in batch)
                {
                    publisher.PublishAsync("executions", e).AsTask().GetAwaiter().GetResult();
                }
            }, server.Pid, streams, seconds, rates, events, climbAll);
        }
        finally
        {
            publisher.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static async Task<NATS.Client.Core.NatsConnection> ConnectNats(string url)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var connection = new NATS.Client.Core.NatsConnection(new NATS.Client.Core.NatsOpts { Url = url, SubPendingChannelCapacity = 65_536 });
            try
            {
                await connection.ConnectAsync().ConfigureAwait(false);
                return connection;
            }
            catch (NATS.Client.Core.NatsException) when (clock.Elapsed < TimeSpan.FromSeconds(30))
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                await Task.Delay(200).ConfigureAwait(false);
            }
        }
    }

    /// <summary>One NATS subscriber connection.</summary>
    private sealed class NatsReceiver : Receiver
    {
        private readonly NATS.Client.Core.NatsConnection _connection;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _reading;

        private NatsReceiver(NATS.Client.Core.NatsConnection connection)
        {
            _connection = connection;
            _reading = Task.Run(ReadAsync);
        }

        public static async Task<Receiver> ConnectAsync(string url)
        {
            var receiver = new NatsReceiver(await ConnectNats(url).ConfigureAwait(false));
            await receiver._subscribed.Task.ConfigureAwait(false);
            return receiver;
        }

        private readonly TaskCompletionSource _subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private async Task ReadAsync()
        {
            try
            {
                await using var subscription = await _connection.SubscribeCoreAsync<byte[]>("executions", cancellationToken: _stop.Token).ConfigureAwait(false);
                _subscribed.TrySetResult();
                await foreach (var message in subscription.Msgs.ReadAllAsync(_stop.Token).ConfigureAwait(false))
                {
                    if (message.Data is { } data)
                    {
                        Record(data);
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (Exception ex)
            {
                _subscribed.TrySetException(ex);
            }
        }

        public override void Dispose()
        {
            _stop.Cancel();
            try
            {
                _reading.Wait(TimeSpan.FromSeconds(5));
            }
            catch (AggregateException)
            {
            }

            _connection.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>The bare broadcaster (<c>serve bare-ws PORT</c>): every posted body goes, as one frame, to every connection.</summary>
    public static int ServeBare(string port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        app.UseWebSockets();
        var connections = new System.Collections.Concurrent.ConcurrentDictionary<Channel<byte[]>, byte>();
        app.MapGet("/api/v1/distribution/stats", () => Results.Ok());
        app.MapPost("/ingest", async (HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body).ConfigureAwait(false);
            var frame = body.ToArray(); // serialized once, shared by every connection
            foreach (var c in connections.Keys)
            {
                c.Writer.TryWrite(frame);
            }

            return Results.Accepted();
        });
        app.Map("/ws", async (HttpContext context) =>
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
            var queue = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(8192) { SingleReader = true, FullMode = BoundedChannelFullMode.DropOldest });
            connections[queue] = 0;
            try
            {
                await foreach (var frame in queue.Reader.ReadAllAsync(context.RequestAborted).ConfigureAwait(false))
                {
                    await socket.SendAsync(frame, WebSocketMessageType.Text, true, context.RequestAborted).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
            {
            }
            finally
            {
                connections.TryRemove(queue, out _);
            }
        });
        app.Run();
        return 0;
    }
}
