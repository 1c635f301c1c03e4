using System.Globalization;
using System.Text.Json;
using ExecutionDistribution.Benchmarks.Support;

namespace ExecutionDistribution.Benchmarks.Workloads;

/// <summary>
/// <c>report [--results docs/results] [--out docs/plots] [--docs docs/benchmarks.md|none]</c>: draws the
/// SVG plots linked from docs/benchmarks.md from the recorded JSON results (no run needed): W3 and W4
/// latency against offered rate and delivered/s, ours beside the bare broadcaster and the peers; W5
/// requests/s; W1/W2 events/s per design; then regenerates the results block of docs/benchmarks.md.
/// </summary>
public static class Report
{
    /// <summary>Writes every plot it has results for; returns the files written.</summary>
    public static IReadOnlyList<string> Write(string results, string output)
    {
        Directory.CreateDirectory(output);
        var written = new List<string>();
        void Save(string name, string svg)
        {
            var path = Path.Combine(output, name);
            File.WriteAllText(path, svg);
            written.Add(path);
        }

        foreach (var (file, prefix, title) in new[] { ("w4-ws.json", "w4", "W4 WebSocket"), ("w3-grpc.json", "w3", "W3 gRPC"), ("w4-ws-standard.json", "w4-standard", "W4 WebSocket, standard population") })
        {
            if (ResultFiles.Read(results, file) is not { } w)
            {
                continue;
            }

            var rows = w.GetProperty("median").EnumerateArray().ToList();
            var streams = w.GetProperty("streams").GetInt32();
            List<(double, double)> Points(string kind, string field) => [.. rows.Where(r => r.TryGetProperty(kind, out _))
                .Select(r => ((double)r.GetProperty("offered_deliveries").GetInt64(), r.GetProperty(kind).GetProperty(field).GetDouble()))];
            // Ours, the bare broadcaster (ceiling) and any peer measured in the same run.
            var kinds = new[] { ("ours", "ours"), ("bare", "bare"), ("nats", "NATS"), ("redis", "Redis"), ("signalr", "SignalR") }.Where(k => Points(k.Item1, "p99_ms").Count > 0).ToList();
            Save($"{prefix}-latency.svg", SvgChart.Lines($"{title}, {streams:N0} streams: latency against offered rate", "offered deliveries/s", "latency (ms, log scale)",
                [.. kinds.SelectMany((k, i) => new[]
                {
                    new SvgChart.Series($"{k.Item2} p99", Points(k.Item1, "p99_ms"), ColorIndex: i),
                    new SvgChart.Series($"{k.Item2} p50", Points(k.Item1, "p50_ms"), Dashed: true, ColorIndex: i),
                })], logY: true));
            Save($"{prefix}-throughput.svg", SvgChart.Bars($"{title}, {streams:N0} streams: delivered/s per offered rate", "offered deliveries/s", "deliveries/s",
                [.. rows.Select(r => r.GetProperty("offered_deliveries").GetInt64().ToString("N0", CultureInfo.InvariantCulture))],
                [.. kinds.Select(k => (k.Item2, (IReadOnlyList<double>)[.. rows.Select(r => r.TryGetProperty(k.Item1, out var v) ? v.GetProperty("delivered").GetDouble() : 0)]))]));
        }

        if (ResultFiles.Read(results, "w5-wrk.json") is { } w5)
        {
            var m = w5.GetProperty("median");
            string[] kinds = ["status", "fills", "bare"];
            Save("w5-requests.svg", SvgChart.Bars("W5 REST lookups (wrk, 64 connections): requests/s", string.Empty, "requests/s",
                ["order status", "fill by trade id", "bare Kestrel"],
                [("requests/s", [.. kinds.Select(k => m.GetProperty(k).GetProperty("rate").GetDouble())])]));
        }

        var core = new List<(string Name, IReadOnlyList<double> Values)>();
        var designs = new List<string>();
        foreach (var name in new[] { "w1.json", "w2.json" })
        {
            if (ResultFiles.Read(results, name) is { } w && w.TryGetProperty("medians", out var medians) && medians.ValueKind == JsonValueKind.Array)
            {
                var values = new List<double>();
                foreach (var d in medians.EnumerateArray())
                {
                    var design = d.GetProperty("variant").GetString()!.Replace(" (median)", string.Empty, StringComparison.Ordinal);
                    if (!designs.Contains(design))
                    {
                        designs.Add(design);
                    }

                    values.Add(d.GetProperty("events_per_second").GetDouble());
                }

                core.Add((name[..2].ToUpperInvariant(), values));
            }
        }

        if (core.Count > 0)
        {
            Save("core-throughput.svg", SvgChart.Bars("W1 and W2, the dispatch core: events/s per design", "design", "events/s", designs, core));
        }

        return written;
    }

    /// <summary>Runs the command: the plots, then the results block of <c>--docs</c> (docs/benchmarks.md; <c>--docs none</c> skips it).</summary>
    public static int Run(string[] args)
    {
        var results = args.Option("--results") ?? "docs/results";
        foreach (var file in Write(results, args.Option("--out") ?? "docs/plots"))
        {
            Console.WriteLine($"wrote {file}");
        }

        var docs = args.Option("--docs") ?? "docs/benchmarks.md";
        if (docs != "none")
        {
            var markdown = File.Exists(docs) ? File.ReadAllText(docs) : "# Benchmarks\n";
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(docs))!);
            File.WriteAllText(docs, Summary.Splice(markdown, Summary.Markdown(results)));
            Console.WriteLine($"updated the results block of {docs}");
        }

        return 0;
    }
}
