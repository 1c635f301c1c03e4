using BenchmarkDotNet.Running;
using ExecutionDistribution.Benchmarks.Workloads;
using ExecutionDistribution.Ingest.Demo;

// Workload runners by name (w1 ... w7, or all of them with `all`), the report, the serve modes of the
// child processes; anything else goes to BenchmarkDotNet (e.g. --filter *RoutingIndex* or --list flat).
return Dispatch(args);

static int Dispatch(string[] args) => args.FirstOrDefault() switch
{
    "all" => AllWorkloads.Run(args[1..], Dispatch),
    "w1" or "w2" => CoreWorkload.Run(CoreWorkloadSettings.Parse(args[0], args[1..])),
    "w3-ingest" => KafkaIngestWorkload.Run(args[1..]),
    "w5-rest" => RestWorkload.Run(args[1..]),
    "w6-audit" => AuditWorkload.Run(args[1..]),
    "w4-ws" => WebSocketWorkload.Run(args[1..]),
    "w3-grpc" => WebSocketWorkload.Run([.. args[1..], "--transport", "grpc"]),
    "w7-recovery" => RecoveryWorkload.Run(args[1..]),
    "w8-scale" => ScaleOutWorkload.Run(args[1..]),
    "w10-soak" => SoakWorkload.Run(args[1..]),
    "subscribe" => SubscribeWorkload.Run(args[1..]),
    "report" => Report.Run(args[1..]),
    "sample" => Sample(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 5),
    "serve" when args.Length > 2 && args[1] == "bare-ws" => WebSocketWorkload.ServeBare(args[2]),
    "serve" when args.Length > 2 && args[1] == "signalr" => WebSocketWorkload.ServeSignalR(args[2]),
    "serve" => RestWorkload.Serve(args[1..]),
    _ => RunBenchmarkDotNet(args),
};

// The first events of the standard stream (seed 42), one JSON envelope per line: what every workload sends.
static int Sample(int count)
{
    var stream = new ExecutionDistribution.Ingest.Demo.SyntheticExecutionStream(42);
    for (var i = 0; i < count; i++)
    {
        Console.WriteLine(System.Text.Encoding.UTF8.GetString(stream.Next().EnvelopeJson.Span));
    }

    return 0;
}

static int RunBenchmarkDotNet(string[] args)
{
    BenchmarkSwitcher.FromAssembly(typeof(CoreWorkload).Assembly).Run(args);
    return 0;
}
