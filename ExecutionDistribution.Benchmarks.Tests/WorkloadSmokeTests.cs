using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace ExecutionDistribution.Benchmarks.Tests;

/// <summary>
/// A seconds-long run of each workload of the benchmark program, as a separate process: it starts,
/// delivers and stops with exit code 0. The figures are not looked at (speed is measured in
/// ExecutionDistribution.Benchmarks, never asserted in a test).
/// </summary>
[Category("Harness")]
public sealed class WorkloadSmokeTests
{
    private static (int ExitCode, string Output) RunBenchmarks(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ExecutionDistribution.Benchmarks.dll"));
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{string.Join(' ', args)} did not finish within 3 minutes:\n{output}");
        }

        return (process.ExitCode, output + stderr.GetAwaiter().GetResult());
    }

    [TestCase("w1", "--runs", "1", "--seconds", "1", "--warmup", "0", "--events", "20000", "--subscribers", "100")]
    [TestCase("w2", "--runs", "1", "--seconds", "1", "--warmup", "0", "--events", "20000", "--subscribers", "100")]
    [TestCase("w3-ingest", "--runs", "1", "--records", "2000", "--subscribers", "50")]
    [TestCase("w4-ws", "--runs", "1", "--seconds", "1", "--streams", "20", "--rates", "20", "--peers")]
    [TestCase("w4-ws", "--runs", "1", "--seconds", "1", "--streams", "50", "--rates", "200", "--population", "standard")]
    [TestCase("w4-ws", "--runs", "1", "--seconds", "1", "--streams", "50", "--rates", "200", "--population", "standard", "--source", "kafka", "--kafka-leg")]
    [TestCase("w4-ws", "--runs", "1", "--seconds", "1", "--streams", "20", "--rates", "20", "--per-connection", "10")]
    [TestCase("w4-ws", "--runs", "1", "--seconds", "1", "--streams", "50", "--rates", "200", "--population", "standard", "--per-connection", "10")]
    [TestCase("w3-grpc", "--runs", "1", "--seconds", "1", "--streams", "20", "--rates", "20")]
    [TestCase("w5-rest", "--runs", "1", "--seconds", "1", "--events", "2000", "--connections", "4")]
    [TestCase("w7-recovery", "--runs", "1", "--seconds", "4", "--subscribers", "20", "--rate", "500")]
    [TestCase("w6-audit", "--runs", "1", "--rows", "5000", "--rate", "5000", "--seconds", "1")]
    [TestCase("subscribe", "--runs", "1", "--counts", "300", "--rebuild-max", "300")]
    [TestCase("w3-ingest", "--gateway", "--runs", "1", "--records", "2000", "--subscribers", "50")]
    [TestCase("w8-scale", "--instances", "1,2", "--rate", "500", "--seconds", "1", "--subscribers", "20", "--resumers", "5")]
    public void A_short_run_of_the_workload_starts_delivers_and_stops(string workload, params string[] args)
    {
        var (exit, output) = RunBenchmarks([workload, .. args]);

        Assert.That(exit, Is.Zero, output);
        if (workload == "w8-scale")
        {
            // Each size measured its instances, and the streams of the killed gateway moved with no gap.
            Assert.That(Regex.Matches(output, @"processor\(s\) \+ \d gateway\(s\): [\d,]+ events"), Has.Count.EqualTo(2), output);
            Assert.That(output, Does.Contain("sequence gaps across the move 0 (must be 0)"), output);
            return;
        }

        Assert.That(output, Does.Contain("median"), output);
        Assert.That(output, Does.Not.Contain("Unhandled exception"), output);
        if (workload is "w4-ws" or "w3-grpc")
        {
            // Every rung of every ladder (ours, the bare broadcaster, each peer) had events reach its clients.
            var delivered = Regex.Matches(output, @"delivered\s+([\d,]+)/s").Select(m => long.Parse(m.Groups[1].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture)).ToList();
            Assert.That(delivered, Is.Not.Empty.And.All.GreaterThan(0), output);
        }

        if (args.Contains("--per-connection"))
        {
            // Counted per subscription an event went to, not per event on the connection: what was offered arrives.
            var rung = Regex.Match(output, @"offered \(\s*([\d,]+) deliveries/s\): delivered\s+([\d,]+)/s");
            Assert.That(rung.Success, output);
            var offered = long.Parse(rung.Groups[1].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
            var arrived = long.Parse(rung.Groups[2].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
            Assert.That(arrived, Is.InRange(offered * 0.8, offered * 1.2), output);
        }

        if (args.Contains("--kafka-leg"))
        {
            // The bare consumer beside ours read the same topic over the same window.
            var leg = Regex.Matches(output, @"kafka leg alone, same window:\s+([\d,]+) records/s").Select(m => long.Parse(m.Groups[1].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture)).ToList();
            Assert.That(leg, Is.Not.Empty.And.All.GreaterThan(0), output);
        }
    }

    [Test]
    public void The_report_draws_the_plots_of_the_recorded_results()
    {
        var results = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "docs", "results"));
        var output = Directory.CreateTempSubdirectory("report-smoke-").FullName;
        try
        {
            var docs = Path.Combine(output, "benchmarks.md");
            var (exit, text) = RunBenchmarks("report", "--results", results, "--out", output, "--docs", docs);
            Assert.That(exit, Is.Zero, text);
            Assert.That(File.ReadAllText(docs), Does.Contain("### W4 over WebSocket").And.Contain("<!-- results:end -->"), "the results block is written from the recorded JSON");
            Assert.That(Directory.GetFiles(output, "*.svg").Select(Path.GetFileName), Is.SupersetOf(new[] { "w4-latency.svg", "w4-throughput.svg", "w5-requests.svg", "core-throughput.svg" }));
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    [Test]
    public void The_soak_samples_memory_and_the_audit_and_finds_no_event_missing()
    {
        var output = Path.Combine(Path.GetTempPath(), $"w10-{Guid.NewGuid():N}.json");
        try
        {
            var (exit, text) = RunBenchmarks("w10-soak", "--seconds", "12", "--interval", "4", "--rate", "300", "--subscribers", "5", "--json", output);

            Assert.That(exit, Is.Zero, text);
            using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(output));
            var root = json.RootElement;
            Assert.That(root.GetProperty("samples").GetArrayLength(), Is.GreaterThanOrEqualTo(2), text);
            Assert.That(root.GetProperty("samples")[0].GetProperty("working_set_mib").GetDouble(), Is.GreaterThan(0), text);
            Assert.That(root.GetProperty("events_missing").GetInt64(), Is.Zero, text);
            Assert.That(root.GetProperty("audit_rows_per_event").GetDouble(), Is.GreaterThan(0), text);
        }
        finally
        {
            File.Delete(output);
        }
    }

    [Test]
    public void All_runs_the_chosen_workloads_writes_their_results_and_the_report()
    {
        var results = Directory.CreateTempSubdirectory("all-smoke-").FullName;
        try
        {
            var (exit, text) = RunBenchmarks("all", "--quick", "--only", "w6-audit,w3-ingest,w4-ws-multiplexed", "--results", results);

            Assert.That(exit, Is.Zero, text);
            Assert.That(text, Does.Contain("[1/3] w3-ingest").And.Contain("[2/3] w4-ws-multiplexed").And.Contain("[3/3] w6-audit").And.Contain("every workload exited 0"));
            Assert.That(Directory.GetFiles(results, "*.json").Select(Path.GetFileName), Is.EquivalentTo(new[] { "w3-ingest.json", "w4-ws-multiplexed.json", "w6.json" }));
            Assert.That(File.ReadAllText(Path.Combine(results, "benchmarks.md")), Does.Contain("### W6, audit half").And.Contain("### W3, ingest half").And.Contain("### W4 over multiplexed WebSocket connections"));
        }
        finally
        {
            Directory.Delete(results, recursive: true);
        }
    }
}
