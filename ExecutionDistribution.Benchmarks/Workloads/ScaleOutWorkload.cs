using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Confluent.Kafka;
using ExecutionDistribution.Benchmarks.Support;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Ingest.Demo;
using ExecutionDistribution.Kafka;
using Grpc.Net.Client;

namespace ExecutionDistribution.Benchmarks.Workloads;

/// <summary>
/// W8 scale-out: the standard stream produced at a fixed rate to a 12-partition topic on the embedded
/// broker (in this process), read by n processors (the consumer group) and n gateways (each every
/// partition), n = 1, 2, 3, with the standard subscribers' filters spread over the gateways as gRPC
/// streams opened from this process. Per instance: CPU per event over the window in which the events
/// are produced and ingested. Then, with two or more gateways, one is killed (SIGKILL) and its streams
/// resume on another with their tokens: time from the kill to each stream attached again, and events
/// missing (each resumed stream must receive every event after its token).
/// </summary>
public static class ScaleOutWorkload
{
    /// <summary>Runs it: <c>w8-scale [--instances 1,2,3] [--rate 3000] [--seconds 8] [--subscribers 1000] [--resumers 50] [--json file]</c>.</summary>
    public static int Run(string[] args)
    {
        var instances = (args.Option("--instances") ?? "1,2,3").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList();
        var rate = args.Int("--rate", 3000);
        var seconds = args.Int("--seconds", 8);
        var subscriberCount = args.Int("--subscribers", 1000);
        var resumers = args.Int("--resumers", 50);
        using var cluster = EmbeddedKafkaCluster.Start();
        var results = new List<object>();
        Console.WriteLine($"# W8 scale-out: {rate} events/s for {seconds} s into 12 partitions; {subscriberCount} standard subscribers spread over the gateways");
        foreach (var n in instances)
        {
            results.Add(RunOnce(cluster, n, rate, seconds, subscriberCount, resumers));
        }

        if (args.Option("--json") is { } path)
        {
            ResultFiles.Write(path, new { workload = "w8-scale", rate, seconds, subscribers = subscriberCount, runs = results });
        }

        return 0;
    }

    private static object RunOnce(EmbeddedKafkaCluster cluster, int n, int rate, int seconds, int subscriberCount, int resumers)
    {
        var id = $"w8-{n}-{Guid.NewGuid():N}"[..20];
        var topic = $"{id}-in";
        cluster.CreateTopic(topic, 12);
        cluster.CreateTopic($"{id}-dlq", 1);
        string[] settings =
        [
            "--Kafka:Enabled=true", $"--Kafka:BootstrapServers={cluster.BootstrapServers}", $"--Kafka:InputTopics:0={topic}",
            $"--Kafka:DeadLetterTopic={id}-dlq", $"--Kafka:OutputTopicTemplate={id}-out.{{workflow}}", $"--Kafka:UnroutedOutputTopic={id}-out.unrouted",
            $"--Kafka:ConsumerGroup={id}", "--Kafka:SessionTimeout=00:00:06", $"--Cluster:ControlTopic={id}-control",
            "--Grpc:MaxStreams=10000", "--Grpc:MaxStreamsPerClient=10000", "--Logging:LogLevel:Default=Error", "--Logging:LogLevel:Microsoft.Extensions.Diagnostics.HealthChecks=None",
        ];
        var processors = Enumerable.Range(0, n).Select(_ => StartChild([.. settings, "--Cluster:Role=processor"])).ToList();
        var gateways = Enumerable.Range(0, n).Select(_ => StartChild([.. settings, "--Cluster:Role=gateway"])).ToList();
        try
        {
            WaitReady([.. processors, .. gateways]);
            var stream = new SyntheticExecutionStream(42);
            var population = StandardSubscribers.Standard(stream, 42).Take(subscriberCount).ToList();
            var channels = gateways.Select(g => GrpcChannel.ForAddress(g.GrpcAddress)).ToList();
            var streams = population.Select((s, i) => new Stream(channels[i % n], WebSocketWorkload.GrpcRequest(s.Filter, "at_least_once"))).ToList();
            Task.WhenAll(streams.Select(s => s.Started)).GetAwaiter().GetResult();

            // The standard stream at a fixed rate; CPU of every instance over the window.
            var before = processors.Concat(gateways).Select(c => ProcessMeter.CpuSeconds(c.Pid)).ToList();
            var clock = Stopwatch.StartNew();
            var produced = Produce(cluster.BootstrapServers, topic, stream, rate, seconds);
            WaitUntil(() => gateways.All(g => Ingested(g) >= produced) && processors.Sum(Ingested) >= produced, TimeSpan.FromSeconds(120), "every instance ingested the events");
            var elapsed = clock.Elapsed.TotalSeconds;
            var cpu = processors.Concat(gateways).Select((c, i) => ProcessMeter.CpuSeconds(c.Pid) - before[i]).ToList();
            var processorUs = cpu.Take(n).Sum() * 1e6 / produced;
            var gatewayUs = cpu.Skip(n).Select(c => c * 1e6 / produced).ToList();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {n} processor(s) + {n} gateway(s): {produced:N0} events in {elapsed:0.0} s; processors {processorUs:0.0} us CPU per event in all ({string.Join(", ", cpu.Take(n).Select(c => (c * 1e6 / produced).ToString("0.0", CultureInfo.InvariantCulture)))}); " +
                $"each gateway {string.Join(", ", gatewayUs.Select(u => u.ToString("0.0", CultureInfo.InvariantCulture)))} us per event; deliveries {streams.Sum(s => s.Delivered):N0}"));

            object? resume = null;
            if (n >= 2)
            {
                resume = KillAndResume(gateways, channels, streams.Take(Math.Min(resumers * n, streams.Count)).Where((_, i) => i % n == 0).ToList(), cluster.BootstrapServers, topic, stream);
            }

            foreach (var s in streams)
            {
                s.Dispose();
            }

            foreach (var c in channels)
            {
                c.Dispose();
            }

            return new { instances = n, events = produced, seconds = elapsed, processor_us_per_event = processorUs, gateway_us_per_event = gatewayUs, resume };
        }
        finally
        {
            foreach (var c in processors.Concat(gateways))
            {
                c.Dispose();
            }
        }
    }

    // The streams of the first gateway lose it: each reconnects to the next gateway with its last token.
    private static object KillAndResume(List<Child> gateways, List<GrpcChannel> channels, List<Stream> onFirst, string bootstrap, string topic, SyntheticExecutionStream stream)
    {
        var killed = Stopwatch.StartNew();
        gateways[0].Dispose();
        Task.WaitAll([.. onFirst.Select(s => s.Ended)], TimeSpan.FromSeconds(30)); // each stream sees its gateway gone, with its last token
        var resumed = onFirst.Select(s =>
        {
            var request = s.Request.Clone();
            request.ResumeToken = s.LastToken;
            return new Stream(channels[1], request, s.LastSequence);
        }).ToList();
        var times = resumed.Select(r => r.Started.ContinueWith(_ => killed.Elapsed.TotalMilliseconds, TaskScheduler.Default)).ToArray();
        Task.WaitAll(times);
        var produced = Produce(bootstrap, topic, stream, 1000, 2);
        WaitUntil(() => resumed.All(r => r.Quiet(TimeSpan.FromMilliseconds(500))), TimeSpan.FromSeconds(60), "the resumed streams are quiet");
        var ms = times.Select(t => t.Result).Order().ToList();
        var p50 = ms[ms.Count / 2];
        var p99 = ms[Math.Min(ms.Count - 1, (int)Math.Ceiling(ms.Count * 0.99) - 1)];
        var gaps = resumed.Sum(r => r.SequenceGaps);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  SIGKILL of a gateway: {resumed.Count} streams resumed on another in p50 {p50:0} ms, p99 {p99:0} ms (kill to attached again); " +
            $"sequence gaps across the move {gaps} (must be 0); {produced} events produced after"));
        foreach (var r in resumed)
        {
            r.Dispose();
        }

        return new { streams = resumed.Count, p50_ms = p50, p99_ms = p99, sequence_gaps = gaps };
    }

    // A free port can be taken by another process's outgoing connection before the child binds it: try again.
    private static Child StartChild(string[] settings)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return Child.Start("ours", settings);
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                Console.WriteLine("  (a child could not bind its port; starting it again)");
            }
        }
    }

    private static int Produce(string bootstrap, string topic, SyntheticExecutionStream stream, int rate, int seconds)
    {
        using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = bootstrap, LingerMs = 5 }).Build();
        var total = rate * seconds;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < total; i++)
        {
            var e = stream.Next();
            producer.Produce(topic, new Message<byte[], byte[]> { Key = System.Text.Encoding.UTF8.GetBytes(e.OrderId ?? e.EventId), Value = e.EnvelopeJson.ToArray() });
            var due = TimeSpan.FromSeconds((double)(i + 1) / rate);
            if (clock.Elapsed < due && i % 100 == 99)
            {
                Thread.Sleep(due - clock.Elapsed);
            }
        }

        producer.Flush(TimeSpan.FromSeconds(30));
        return total;
    }

    private static long Ingested(Child c)
    {
        using var http = new HttpClient { BaseAddress = c.BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var stats = JsonNode.Parse(http.GetStringAsync(new Uri("/api/v1/distribution/stats", UriKind.Relative)).GetAwaiter().GetResult())!;
        return (long?)stats["ingested"] ?? 0;
    }

    private static void WaitReady(IEnumerable<Child> children)
    {
        foreach (var c in children)
        {
            using var http = new HttpClient { BaseAddress = c.BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
            WaitUntil(() =>
            {
                try
                {
                    using var r = http.GetAsync(new Uri("/health/ready", UriKind.Relative)).GetAwaiter().GetResult();
                    return r.IsSuccessStatusCode;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(90), $"{c.BaseAddress} ready");
        }
    }

    private static void WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > timeout)
            {
                throw new TimeoutException($"W8: {what} did not happen within {timeout.TotalSeconds:0} s");
            }

            Thread.Sleep(50);
        }
    }

    /// <summary>One gRPC stream read on its own task: deliveries, the last token, gaps in its sequence.</summary>
    private sealed class Stream : IDisposable
    {
        private readonly global::Grpc.Core.AsyncServerStreamingCall<ExecutionMessage> _call;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _reading;
        private long _delivered;
        private long _lastSequence = -1;
        private long _gaps;
        private long _lastMessage = Stopwatch.GetTimestamp();

        public Stream(GrpcChannel channel, StreamRequest request, long after = -1)
        {
            Request = request;
            _lastSequence = after;
            _call = new ExecutionStream.ExecutionStreamClient(channel).StreamExecution(request);
            Started = _call.ResponseHeadersAsync.ContinueWith(t => LastToken = t.Result.GetValue("x-resume-token") ?? string.Empty, TaskScheduler.Default);
            _reading = Task.Run(ReadAsync);
        }

        public StreamRequest Request { get; }

        /// <summary>Completes when the stream has ended (its gateway went away, or the run is over).</summary>
        public Task Ended => _reading;

        /// <summary>The sequence of the last delivery (-1 before any).</summary>
        public long LastSequence => Interlocked.Read(ref _lastSequence);

        public Task Started { get; }

        public string LastToken { get; private set; } = string.Empty;

        public long Delivered => Interlocked.Read(ref _delivered);

        public long SequenceGaps => Interlocked.Read(ref _gaps);

        public bool Quiet(TimeSpan span) => Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastMessage)) > span;

        private async Task ReadAsync()
        {
            try
            {
                while (await _call.ResponseStream.MoveNext(_stop.Token).ConfigureAwait(false))
                {
                    var m = _call.ResponseStream.Current;
                    Interlocked.Exchange(ref _lastMessage, Stopwatch.GetTimestamp());
                    LastToken = m.ResumeToken;
                    if (m.BodyCase != ExecutionMessage.BodyOneofCase.Events)
                    {
                        continue;
                    }

                    foreach (var d in m.Events.Deliveries)
                    {
                        if (_lastSequence >= 0 && d.Sequence != _lastSequence + 1)
                        {
                            Interlocked.Increment(ref _gaps);
                        }

                        Interlocked.Exchange(ref _lastSequence, d.Sequence);
                    }

                    Interlocked.Add(ref _delivered, m.Events.Deliveries.Count);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or global::Grpc.Core.RpcException)
            {
                // Ended: the gateway went away, or the run is over.
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _reading.Wait(TimeSpan.FromSeconds(5));
            _call.Dispose();
            _stop.Dispose();
        }
    }
}
