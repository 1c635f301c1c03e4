using System.Diagnostics;
using System.Globalization;
using ExecutionDistribution.Benchmarks.Support;

namespace ExecutionDistribution.Benchmarks.Workloads;

/// <summary>
/// <c>all [--quick] [--only w4-ws,w7-recovery] [--results docs/results] [--skip-report]</c>: every
/// workload of ../shared/BENCHMARKS.md in turn (and W4 over multiplexed connections, and the subscribe storm), each writing its JSON result, then the report (plots
/// and the results block of docs/benchmarks.md). <c>--quick</c> runs each for seconds (the smoke
/// sizes), for a check that the whole harness works; its results go to a temporary folder unless
/// <c>--results</c> is given. Each workload starts what it needs (the service and baselines as child
/// processes, the embedded Kafka broker, peers); PostgreSQL and Redis are the ones on loopback.
/// </summary>
public static class AllWorkloads
{
    /// <summary>
    /// Name (the workload's command, or a variant's name that <see cref="Command"/> maps to it), the
    /// arguments of a full run, the arguments of a quick one. The JSON file is added.
    /// </summary>
    private static readonly (string Name, string File, string[] Full, string[] Quick)[] Plan =
    [
        ("w1", "w1.json", [], ["--runs", "1", "--seconds", "1", "--warmup", "0", "--events", "20000", "--subscribers", "100"]),
        ("w2", "w2.json", [], ["--runs", "1", "--seconds", "1", "--warmup", "0", "--events", "20000", "--subscribers", "100"]),
        ("w3-ingest", "w3-ingest.json", [], ["--runs", "1", "--records", "2000", "--subscribers", "50"]),
        ("w3-grpc", "w3-grpc.json", ["--rates", "10,50,100,200,400", "--all-rates", "--peers"], ["--runs", "1", "--seconds", "1", "--streams", "20", "--rates", "20"]),
        ("w4-ws", "w4-ws.json", ["--rates", "10,50,100,200,400", "--all-rates", "--peers"], ["--runs", "1", "--seconds", "1", "--streams", "20", "--rates", "20", "--peers"]),
        ("w4-ws-multiplexed", "w4-ws-multiplexed.json", ["--per-connection", "100", "--rates", "10,50,100,200,400,800", "--all-rates"], ["--runs", "1", "--seconds", "1", "--streams", "20", "--rates", "20", "--per-connection", "10"]),
        ("w5-rest", "w5-wrk.json", ["--client", "wrk"], ["--runs", "1", "--seconds", "1", "--events", "2000", "--connections", "4"]),
        ("w6-audit", "w6.json", [], ["--runs", "1", "--rows", "5000", "--rate", "5000", "--seconds", "1", "--volume-events", "640"]),
        ("w7-recovery", "w7.json", [], ["--runs", "1", "--seconds", "4", "--subscribers", "20", "--rate", "500"]),
        ("w8-scale", "w8.json", ["--instances", "1,2,3", "--rate", "3000", "--seconds", "6", "--subscribers", "1000", "--resumers", "50"],
            ["--instances", "1,2", "--rate", "500", "--seconds", "1", "--subscribers", "20", "--resumers", "5"]),
        ("w8-gateway-ingest", "w8-gateway-ingest.json", ["--gateway", "--runs", "3"], ["--gateway", "--runs", "1", "--records", "2000", "--subscribers", "50"]),
        ("w10-soak", "w10.json", ["--minutes", "30"], ["--minutes", "1", "--rate", "500", "--subscribers", "10", "--interval", "5"]),
        ("subscribe", "subscribe.json", [], ["--runs", "1", "--counts", "300", "--rebuild-max", "300"]),
    ];

    // A variant runs its workload's command with its own arguments.
    private static string Command(string name) => name switch
    {
        "w4-ws-multiplexed" => "w4-ws",
        "w8-gateway-ingest" => "w3-ingest",
        _ => name,
    };

    public static int Run(string[] args, Func<string[], int> runWorkload)
    {
        var quick = args.Contains("--quick");
        var only = args.Option("--only")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var results = args.Option("--results") ?? (quick ? Directory.CreateTempSubdirectory("execdist-bench-").FullName : "docs/results");
        Directory.CreateDirectory(results);
        var plan = Plan.Where(p => only is null || only.Contains(p.Name)).ToList();
        Console.WriteLine($"# all workloads{(quick ? " (quick)" : string.Empty)}: {string.Join(", ", plan.Select(p => p.Name))}; results in {results}");
        var failures = new List<string>();
        var total = Stopwatch.StartNew();
        for (var i = 0; i < plan.Count; i++)
        {
            var (name, file, full, brief) = plan[i];
            var clock = Stopwatch.StartNew();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"## [{i + 1}/{plan.Count}] {name}, at {total.Elapsed:hh\\:mm\\:ss}"));
            int exit;
            try
            {
                exit = runWorkload([Command(name), .. quick ? brief : full, "--json", Path.Combine(results, file)]);
            }
            catch (Exception ex)
            {
                Console.WriteLine($"{name} failed: {ex}");
                exit = 1;
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"## {name}: exit {exit}, {clock.Elapsed.TotalSeconds:0} s"));
            if (exit != 0)
            {
                failures.Add(name);
            }
        }

        if (!args.Contains("--skip-report"))
        {
            Report.Run(["--results", results, "--out", quick ? Path.Combine(results, "plots") : "docs/plots", "--docs", quick ? Path.Combine(results, "benchmarks.md") : "docs/benchmarks.md"]);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# all workloads done in {total.Elapsed:hh\\:mm\\:ss}; {(failures.Count == 0 ? "every workload exited 0" : "failed: " + string.Join(", ", failures))}"));
        return failures.Count == 0 ? 0 : 1;
    }
}
