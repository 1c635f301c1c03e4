using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using Confluent.Kafka;
using ExecutionDistribution.Benchmarks.Support;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;
using ExecutionDistribution.Kafka;
using Grpc.Core;
using Grpc.Net.Client;

namespace ExecutionDistribution.Benchmarks.Workloads;

/// <summary>
/// W7 recovery: the standard stream is produced at a fixed rate into a 12-partition topic on the
/// embedded broker (hosted by this process, so it outlives the service); the service (a child
/// process, PostgreSQL for subscriptions and positions) ingests it for durable at_least_once
/// subscriptions drawn from the standard population, each streamed over gRPC by a client here that
/// acknowledges every 200 ms. Halfway the service is killed with SIGKILL and started again; the
/// clients reconnect with their subscription id only. Afterwards every subscriber's received event
/// ids are compared with what its filter takes of everything produced: events missing (must be 0),
/// duplicates (redelivered after the crash, allowed), and the time from the kill to each client's
/// first event of the new run.
/// </summary>
public static class RecoveryWorkload
{
    /// <summary>Runs it: <c>w7-recovery [--runs 3] [--subscribers 100] [--rate 2000] (events/s) [--seconds 10] [--seed 42] [--postgres cs] [--json file]</c>. Exits 1 if any event is missing.</summary>
    public static int Run(string[] args)
    {
        var runs = args.Int("--runs", 3);
        var count = args.Int("--subscribers", 100);
        var rate = args.Int("--rate", 2000);
        var seconds = args.Int("--seconds", 10);
        var seed = ulong.Parse(args.Option("--seed") ?? "42", CultureInfo.InvariantCulture);
        var postgres = args.Postgres();
        Console.WriteLine($"# W7 recovery: {count} durable subscriptions over gRPC, {rate} events/s for {seconds} s, SIGKILL at {seconds / 2.0:0.#} s, {runs} runs");

        var results = new List<RecoveryRun>();
        for (var run = 1; run <= runs; run++)
        {
            var r = RunOnce(postgres, count, rate, seconds, seed);
            results.Add(r);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"run {run}: {r.Produced:N0} events produced, {r.Expected:N0} deliveries expected, missing {r.Missing} (in {r.SubscribersMissing} subscribers), duplicates {r.Duplicates:N0}, restart {r.RestartSeconds:0.00} s, first event after the kill: median {r.ResumeMedianSeconds:0.00} s, max {r.ResumeMaxSeconds:0.00} s"));
        }

        var median = new
        {
            missing = results.Max(r => r.Missing),
            duplicates = Median(results.Select(r => (double)r.Duplicates)),
            restart_seconds = Median(results.Select(r => r.RestartSeconds)),
            resume_median_seconds = Median(results.Select(r => r.ResumeMedianSeconds)),
            resume_max_seconds = Median(results.Select(r => r.ResumeMaxSeconds)),
        };
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"median over runs: missing {median.missing} (worst run), duplicates {median.duplicates:N0}, restart {median.restart_seconds:0.00} s, first event after the kill {median.resume_median_seconds:0.00} s (median client), {median.resume_max_seconds:0.00} s (slowest)"));
        if (args.Option("--json") is { } path)
        {
            ResultFiles.Write(path, new
            {
                workload = "w7-recovery",
                subscribers = count,
                rate,
                seconds,
                seed,
                machine = ResultFiles.Machine,
                runs = results,
                median,
            });
        }

        return results.Any(r => r.Missing > 0) ? 1 : 0;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    private static RecoveryRun RunOnce(string postgres, int count, int rate, int seconds, ulong seed)
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        var suffix = Guid.NewGuid().ToString("N")[..12];
        var (topic, kafka) = ServiceInputTopic.Create(cluster, "w7");
        var schema = $"w7_{suffix}";
        string[] settings =
        [
            .. kafka,
            "--Kafka:SessionTimeout=00:00:03", "--Kafka:CommitInterval=00:00:00.100",
            $"--Postgres:ConnectionString={postgres}", $"--Postgres:Schema={schema}",
            "--Grpc:MaxStreams=10000", "--Grpc:MaxStreamsPerClient=10000",
        ];

        var stream = new SyntheticExecutionStream(seed);
        var standard = StandardSubscribers.Standard(stream, seed);
        var stride = Math.Max(1, (standard.Count - 10) / Math.Max(1, count - 10));
        var chosen = standard.Where((_, i) => i < 10 || (i - 10) % stride == 0).Take(count).ToList();
        var service = Child.Start("ours", settings);
        try
        {
            CreateSubscriptions(service, chosen, suffix);
            var target = new ServiceTarget(service.GrpcAddress);
            using var stop = new CancellationTokenSource();
            var clients = chosen.Select(d => new DurableClient($"{d.Id}-{suffix}")).ToList();
            var readers = clients.Select(c => Task.Run(() => c.RunAsync(target, stop.Token))).ToList();

            // Produce at the fixed rate; kill and restart the service halfway.
            var produced = new List<ExecutionEvent>(rate * seconds);
            using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers, LingerMs = 5, EnableIdempotence = true }).Build();
            var clock = Stopwatch.StartNew();
            var perTick = Math.Max(1, rate / 200);
            var killed = false;
            double restartSeconds = 0;
            long killedAt = 0;
            var nextReport = 1.0;
            while (produced.Count < rate * seconds)
            {
                var due = (long)(clock.Elapsed.TotalSeconds * rate);
                while (produced.Count < due && produced.Count < rate * seconds)
                {
                    for (var i = 0; i < perTick && produced.Count < due; i++)
                    {
                        var e = stream.Next();
                        produced.Add(e);
                        producer.Produce(topic, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(e.OrderId ?? e.EventId), Value = e.EnvelopeJson.ToArray() });
                    }
                }

                if (!killed && clock.Elapsed.TotalSeconds >= seconds / 2.0)
                {
                    killed = true;
                    killedAt = Stopwatch.GetTimestamp();
                    service.Dispose(); // SIGKILL
                    var restart = Stopwatch.StartNew();
                    service = Child.Start("ours", settings);
                    restartSeconds = restart.Elapsed.TotalSeconds;
                    target.Restarted(service.GrpcAddress);
                }

                if (clock.Elapsed.TotalSeconds >= nextReport)
                {
                    nextReport += 1;
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  {clock.Elapsed.TotalSeconds,5:0.0} s: {produced.Count:N0} produced, {clients.Sum(c => c.Received):N0} received{(killed ? " (after the kill)" : string.Empty)}"));
                }

                Thread.Sleep(5);
            }

            producer.Flush(TimeSpan.FromSeconds(30));

            // Every subscriber's share of what was produced, by its filter.
            var expected = chosen.Select(d => produced.Where(d.Filter.Matches).Select(e => e.EventId).ToList()).ToList();
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < TimeSpan.FromSeconds(120) && clients.Select((c, i) => c.MissingOf(expected[i])).Sum() > 0)
            {
                Thread.Sleep(250);
            }

            stop.Cancel();
            Task.WaitAll([.. readers], TimeSpan.FromSeconds(10));
            var missing = clients.Select((c, i) => c.MissingOf(expected[i])).ToList();
            var resumes = clients.Select(c => c.FirstAfterKill).Where(t => t > 0).Select(t => Stopwatch.GetElapsedTime(killedAt, t).TotalSeconds).Order().ToList();
            return new RecoveryRun(
                produced.Count,
                expected.Sum(e => e.Count),
                missing.Sum(),
                missing.Count(m => m > 0),
                clients.Sum(c => c.Duplicates),
                restartSeconds,
                resumes.Count == 0 ? -1 : resumes[resumes.Count / 2],
                resumes.Count == 0 ? -1 : resumes[^1],
                clients.Count(c => c.FirstAfterKill > 0));
        }
        finally
        {
            service.Dispose();
            ResultFiles.DropSchema(postgres, schema);
        }
    }

    private static void CreateSubscriptions(Child service, List<SubscriberDefinition> chosen, string suffix)
    {
        using var http = new HttpClient { BaseAddress = service.BaseAddress };
        foreach (var d in chosen)
        {
            var f = d.Filter;
            var body = new
            {
                subscription_id = $"{d.Id}-{suffix}",
                topic_name = "#",
                subscriber_workflow = "w7",
                delivery_guarantee = "at_least_once",
                filter = new
                {
                    data_types = f.DataTypes.Select(t => t.Name()).ToArray(),
                    routing_keys = f.RoutingKeys.Select(p => p.Text).ToArray(),
                    order_ids = f.OrderIds.ToArray(),
                },
            };
            using var response = http.PostAsJsonAsync(new Uri("/api/v1/subscriptions", UriKind.Relative), body).GetAwaiter().GetResult();
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"creating {d.Id}: {(int)response.StatusCode} {response.Content.ReadAsStringAsync().GetAwaiter().GetResult()}");
            }
        }
    }

    /// <summary>Where the clients connect: the running service, replaced after the kill.</summary>
    private sealed class ServiceTarget(Uri address)
    {
        private volatile GrpcChannel _channel = GrpcChannel.ForAddress(address);
        private int _generation;

        public GrpcChannel Channel => _channel;

        /// <summary>0 before the kill, 1 once the restarted service is up.</summary>
        public int Generation => Volatile.Read(ref _generation);

        public void Restarted(Uri address)
        {
            _channel = GrpcChannel.ForAddress(address);
            Volatile.Write(ref _generation, 1);
        }
    }

    /// <summary>One durable subscription's client: streams it, acknowledges every 200 ms, reconnects on failure.</summary>
    private sealed class DurableClient(string id)
    {
        private readonly ConcurrentDictionary<string, byte> _seen = new(StringComparer.Ordinal);
        private long _received;
        private long _firstAfterKill;

        public long Received => Interlocked.Read(ref _received);

        public long Duplicates => Received - _seen.Count;

        public long FirstAfterKill => Interlocked.Read(ref _firstAfterKill);

        public int MissingOf(List<string> expected) => expected.Count(e => !_seen.ContainsKey(e));

        public async Task RunAsync(ServiceTarget target, CancellationToken stop)
        {
            while (!stop.IsCancellationRequested)
            {
                var generation = target.Generation;
                var channel = target.Channel;
                var client = new ExecutionStream.ExecutionStreamClient(channel);
                using var streamEnded = CancellationTokenSource.CreateLinkedTokenSource(stop);
                Task acks = Task.CompletedTask;
                try
                {
                    using var call = client.StreamExecution(new StreamRequest { SubscriptionId = id }, cancellationToken: stop);
                    string? token = null;
                    acks = AcknowledgeAsync(client, id, () => Volatile.Read(ref token), streamEnded.Token);
                    while (await call.ResponseStream.MoveNext(stop).ConfigureAwait(false))
                    {
                        var m = call.ResponseStream.Current;
                        if (m.BodyCase != ExecutionMessage.BodyOneofCase.Events)
                        {
                            continue;
                        }

                        foreach (var d in m.Events.Deliveries)
                        {
                            _seen.TryAdd(d.EventId, 0);
                        }

                        Interlocked.Add(ref _received, m.Events.Deliveries.Count);
                        if (generation > 0 && FirstAfterKill == 0)
                        {
                            Interlocked.CompareExchange(ref _firstAfterKill, Stopwatch.GetTimestamp(), 0);
                        }

                        Volatile.Write(ref token, m.ResumeToken);
                    }
                }
                catch (RpcException)
                {
                    // The service was killed, or is not up yet, or still holds the old stream: try again.
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                finally
                {
                    await streamEnded.CancelAsync().ConfigureAwait(false);
                    await acks.ConfigureAwait(false);
                }

                try
                {
                    await Task.Delay(100, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    // Every 200 ms, the newest token not yet acknowledged (a client acknowledges on a timer, not per message).
    private static async Task AcknowledgeAsync(ExecutionStream.ExecutionStreamClient client, string id, Func<string?> latest, CancellationToken stop)
    {
        string? acked = null;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(200, stop).ConfigureAwait(false);
                if (latest() is { } token && token != acked)
                {
                    await client.AcknowledgeAsync(new AckRequest { SubscriptionId = id, ResumeToken = token }, cancellationToken: stop).ConfigureAwait(false);
                    acked = token;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or RpcException)
        {
            // The stream ended; the next one acknowledges from its own tokens.
        }
    }

    private sealed record RecoveryRun(
        long Produced,
        long Expected,
        long Missing,
        int SubscribersMissing,
        long Duplicates,
        double RestartSeconds,
        double ResumeMedianSeconds,
        double ResumeMaxSeconds,
        int ClientsResumed);
}
