using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using ExecutionDistribution.Benchmarks.Support;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;
using ExecutionDistribution.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Benchmarks.Workloads;

/// <summary>
/// The ingest half of W3: the standard stream in a 12-partition topic on the embedded broker, read
/// (a) by a bare Confluent.Kafka consumer that does nothing with the records (the ingest ceiling),
/// and (b) by our Kafka ingest (parse, validate, dispatch) with the 1,000 standard subscribers
/// attached and reading. Reports records/s of each and the ratio, per run and as medians.
/// </summary>
public static class KafkaIngestWorkload
{
    /// <summary>
    /// Runs it: <c>w3-ingest [--runs 3] [--records 60000] [--seed 42] [--parse-threads N] [--subscribers N] [--skip-bare] [--gateway] [--json file]</c>.
    /// <c>--gateway</c> reads as a cluster's gateway does (every partition by assignment, no group, no
    /// commits, no dead letters: W8's gateway ingest), from the topic's beginning.
    /// </summary>
    public static int Run(string[] args)
    {
        var runs = args.Int("--runs", 3);
        // The mock broker keeps about 5 MiB per partition: 60,000 records of ~650 B over 12 partitions stay under it.
        var records = args.Int("--records", 60000);
        var seed = ulong.Parse(args.Option("--seed") ?? "42", CultureInfo.InvariantCulture);
        var gateway = args.Contains("--gateway");
        var parseThreads = int.Parse(args.Option("--parse-threads") ?? Math.Max(1, Math.Min(Environment.ProcessorCount, 4)).ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

        using var cluster = EmbeddedKafkaCluster.Start();
        const string topic = "w3-input";
        cluster.CreateTopic(topic, 12);
        var stream = new SyntheticExecutionStream(seed);
        var subscribers = StandardSubscribers.Standard(stream, seed);
        subscribers = [.. subscribers.Take(args.Int("--subscribers", 1000))];
        var values = new List<byte[]>(records);
        using (var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers, LingerMs = 5 }).Build())
        {
            for (var i = 0; i < records; i++)
            {
                var e = stream.Next();
                values.Add(e.EnvelopeJson.ToArray());
                producer.Produce(topic, new Message<byte[], byte[]> { Key = System.Text.Encoding.UTF8.GetBytes(e.OrderId ?? e.EventId), Value = values[^1] });
            }

            producer.Flush();
        }

        // Diagnostic: the same records parsed on one thread, nothing else running.
        for (var pass = 0; pass < 2; pass++)
        {
            var parseClock = Stopwatch.StartNew();
            foreach (var v in values)
            {
                ExecutionEventParser.Parse(v);
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# parse alone, pass {pass + 1}: {records / parseClock.Elapsed.TotalSeconds:N0} records/s"));
        }

        Console.WriteLine($"# W3 ingest half{(gateway ? ", as a gateway" : string.Empty)}: {records} records in 12 partitions on the embedded broker, {subscribers.Count} subscribers, {runs} runs");
        var bare = new List<double>();
        var ours = new List<double>();
        for (var run = 1; run <= runs; run++)
        {
            // --skip-bare: ours alone, to profile the ingest path without the ceiling's run in the trace.
            var b = args.Contains("--skip-bare") ? double.NaN : BareConsumer(cluster.BootstrapServers, topic, records);
            var o = OurIngest(cluster.BootstrapServers, topic, records, subscribers, parseThreads, gateway);
            bare.Add(b);
            ours.Add(o);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"run {run}: bare consumer {b,10:N0} records/s   our ingest + subscribers {o,10:N0} records/s   ratio {o / b:0.00}"));
        }

        double Median(List<double> v) => v.Order().ElementAt(v.Count / 2);
        var (mb, mo) = (Median(bare), Median(ours));
        var ratios = bare.Zip(ours, (b, o) => o / b).Order().ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"median: bare {mb:N0} records/s, ours {mo:N0} records/s, ratio of medians {mo / mb:0.00}, median ratio {ratios[ratios.Count / 2]:0.00}"));
        if (args.Option("--json") is { } path)
        {
            ResultFiles.Write(path, new { workload = gateway ? "w8-gateway-ingest" : "w3-ingest", records, seed, runs = bare.Zip(ours, (b, o) => new { bare = b, ours = o, ratio = o / b }), median_bare = mb, median_ours = mo });
        }

        return 0;
    }

    private static double BareConsumer(string bootstrap, string topic, int records)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(Config(bootstrap)).Build();
        consumer.Subscribe(topic);
        var count = 0;
        Stopwatch? clock = null;
        double cpu = 0;
        while (count < records)
        {
            var r = consumer.Consume(TimeSpan.FromSeconds(10));
            if (r is null || r.IsPartitionEOF)
            {
                continue;
            }

            if (clock is null)
            {
                clock = Stopwatch.StartNew(); // from the first record: group join is not ingest
                cpu = ProcessMeter.CpuSeconds(Environment.ProcessId);
            }

            count++;
        }

        var rate = records / clock!.Elapsed.TotalSeconds;
        cpu = ProcessMeter.CpuSeconds(Environment.ProcessId) - cpu;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  bare: {cpu / clock.Elapsed.TotalSeconds:0.00} cores busy in this process, {cpu * 1e6 / records:0.0} us of CPU per record"));
        consumer.Close();
        return rate;
    }

    private static double OurIngest(string bootstrap, string topic, int records, List<SubscriberDefinition> subscribers, int parseThreads, bool gateway)
    {
        using var core = new FanOutDispatcher(new DistributionOptions { RetainedLogCapacity = 131_072 }, TimeProvider.System);
        core.Start();
        long delivered = 0;
        foreach (var d in subscribers)
        {
            LoopReader.Subscribe(core, d.Id, d.Filter, batch => Interlocked.Add(ref delivered, batch.Count));
        }

        var options = Options.Create(new KafkaOptions
        {
            BootstrapServers = bootstrap,
            InputTopics = [topic],
            ConsumerGroup = $"w3-ours-{Guid.NewGuid():N}",
            OutputEnabled = false,
            ParseThreads = parseThreads,
        });
        using var connection = new KafkaConnection(options, NullLogger<KafkaConnection>.Instance);
        connection.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        var cluster = Options.Create(new Hosting.ClusterOptions { Role = gateway ? Hosting.ClusterRole.Gateway : Hosting.ClusterRole.All, GatewayStart = Hosting.GatewayStart.Beginning });
        using var ingest = new KafkaIngestService(options, connection, core, TimeProvider.System, NullLogger<KafkaIngestService>.Instance, cluster: cluster);
        ingest.StartAsync(CancellationToken.None).GetAwaiter().GetResult();

        // From the first record in the core to the last one: group join is not ingest.
        while (core.GetStats().Ingested == 0)
        {
            Thread.Sleep(1);
        }

        var clock = Stopwatch.StartNew();
        var cpu = ProcessMeter.CpuSeconds(Environment.ProcessId);
        while (core.GetStats().Ingested < records)
        {
            Thread.Sleep(1);
        }

        var rate = (records - 1) / clock.Elapsed.TotalSeconds;
        cpu = ProcessMeter.CpuSeconds(Environment.ProcessId) - cpu;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  ours: {cpu / clock.Elapsed.TotalSeconds:0.00} cores busy in this process (of {Environment.ProcessorCount}; the embedded broker serving the fetches included), {cpu * 1e6 / records:0.0} us of CPU per record"));
        ingest.StopAsync(CancellationToken.None).GetAwaiter().GetResult();
        return rate;
    }

    private static ConsumerConfig Config(string bootstrap) => new()
    {
        BootstrapServers = bootstrap,
        GroupId = $"w3-bare-{Guid.NewGuid():N}",
        AutoOffsetReset = AutoOffsetReset.Earliest,
        EnableAutoCommit = false,
        PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
    };
}
