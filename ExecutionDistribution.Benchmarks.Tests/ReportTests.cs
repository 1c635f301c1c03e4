using System.Xml.Linq;
using ExecutionDistribution.Benchmarks.Workloads;

namespace ExecutionDistribution.Benchmarks.Tests;

/// <summary>The report draws its plots from recorded JSON results alone.</summary>
[Category("Unit")]
public sealed class ReportTests
{
    private const string W4 = """
        {"workload":"w4-ws-broadcast","streams":1000,"median":[
          {"rate":10,"offered_deliveries":10000,"ours":{"delivered":9788,"p50_ms":24,"p99_ms":55,"p999_ms":60,"max_ms":70},"bare":{"delivered":9749,"p50_ms":16,"p99_ms":31,"p999_ms":35,"max_ms":40}},
          {"rate":400,"offered_deliveries":400000,"ours":{"delivered":287589,"p50_ms":608,"p99_ms":1317,"p999_ms":1500,"max_ms":1600},"bare":{"delivered":397517,"p50_ms":17,"p99_ms":40,"p999_ms":47,"max_ms":50}}]}
        """;

    private const string W5 = """
        {"workload":"w5-rest","median":{"status":{"rate":34391,"p50_ms":1.18,"p99_ms":3.52},"fills":{"rate":17457,"p50_ms":2.94,"p99_ms":7.99},"bare":{"rate":35878,"p50_ms":1.19,"p99_ms":3.16}}}
        """;

    [Test]
    public void Plots_are_drawn_from_recorded_results_as_valid_svg_with_a_line_or_bar_per_value()
    {
        var dir = Directory.CreateTempSubdirectory("report-test-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "w4-ws.json"), W4);
            File.WriteAllText(Path.Combine(dir, "w5-wrk.json"), W5);

            var written = Report.Write(dir, Path.Combine(dir, "plots"));

            Assert.That(written.Select(Path.GetFileName), Is.EquivalentTo(new[] { "w4-latency.svg", "w4-throughput.svg", "w5-requests.svg" }));
            XNamespace svg = "http://www.w3.org/2000/svg";
            var latency = XDocument.Load(Path.Combine(dir, "plots", "w4-latency.svg"));
            var lines = latency.Descendants(svg + "polyline").ToList();
            Assert.That(lines.Select(l => (string?)l.Attribute("data-name")), Is.EquivalentTo(new[] { "ours p99", "bare p99", "ours p50", "bare p50" }));
            Assert.That(lines.All(l => ((string)l.Attribute("points")!).Split(' ').Length == 2), Is.True, "one point per offered rate");
            var throughput = XDocument.Load(Path.Combine(dir, "plots", "w4-throughput.svg"));
            Assert.That(throughput.Descendants(svg + "rect").Count(r => (string?)r.Attribute("class") == "bar"), Is.EqualTo(4));
            Assert.That(throughput.ToString(), Does.Contain("287.6k").And.Contain("397.5k"), "bar values are labelled");
            var rest = XDocument.Load(Path.Combine(dir, "plots", "w5-requests.svg"));
            Assert.That(rest.Descendants(svg + "rect").Count(r => (string?)r.Attribute("class") == "bar"), Is.EqualTo(3));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void The_results_block_of_the_docs_is_regenerated_from_the_json_and_the_text_around_it_is_kept()
    {
        var dir = Directory.CreateTempSubdirectory("summary-test-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "w4-ws.json"), W4.Replace("\"bare\":{\"delivered\":397517", "\"nats\":{\"delivered\":143794,\"p50_ms\":1,\"p99_ms\":2,\"p999_ms\":3,\"max_ms\":4},\"bare\":{\"delivered\":397517", StringComparison.Ordinal));
            File.WriteAllText(Path.Combine(dir, "w7.json"), """
                {"workload":"w7-recovery","subscribers":100,"rate":2000,"median":{"missing":0,"duplicates":6665,"restart_seconds":1.65,"resume_median_seconds":4.03,"resume_max_seconds":5.46}}
                """);
            File.WriteAllText(Path.Combine(dir, "subscribe.json"), """
                {"workload":"subscribe","threads":4,"runs":3,"rows":[
                  {"subscribers":1000,"in_place_subscribe_ms":19.2,"in_place_unsubscribe_ms":6.1,"rebuild_per_change_subscribe_ms":1292.6},
                  {"subscribers":10000,"in_place_subscribe_ms":594.1,"in_place_unsubscribe_ms":14.7,"rebuild_per_change_subscribe_ms":null}]}
                """);
            var docs = $"# Benchmarks\nintro\n\n{Summary.Begin}\nstale figures\n{Summary.End}\n\n## Analysis\nkept\n";

            var updated = Summary.Splice(docs, Summary.Markdown(dir));

            Assert.That(updated, Does.StartWith("# Benchmarks\nintro\n"));
            Assert.That(updated, Does.EndWith("## Analysis\nkept\n"));
            Assert.That(updated, Does.Not.Contain("stale figures"));
            Assert.That(updated, Does.Contain("| 400,000 | 287,589 | 1317.0 | 397,517 | 40.0 | 143,794 | 2.0 |"), "ours, then the bare broadcaster, then each peer");
            Assert.That(updated, Does.Contain("ours as a ratio of each: bare 0.72, nats 2.00"));
            Assert.That(updated, Does.Contain("| 0 | 6,665 | 1.65 | 4.03 | 5.46 |"), "W7");
            Assert.That(updated, Does.Contain("| 1,000 | 19 | 6 | 1,293 | 67.3x |"), "the storm beside the old design");
            Assert.That(updated, Does.Contain("| 10,000 | 594 | 15 | not run | - |"), "a count the old design was not run at");
            Assert.That(Summary.Splice(updated, "again"), Does.Contain($"{Summary.Begin}\nagain\n{Summary.End}"), "the block is replaced, not appended, the second time");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void A_missed_websocket_target_gives_the_recorded_cpu_per_frame_and_the_peer_above_the_ceiling()
    {
        var dir = Directory.CreateTempSubdirectory("targets-reasons-test-").FullName;
        try
        {
            // The 10,000 rung with CPU figures; a NATS server that delivered more than the bare broadcaster at the top rung.
            var w4 = W4
                .Replace("\"ours\":{\"delivered\":9788,", "\"ours\":{\"cpu_us_per_delivery\":12.1,\"delivered\":9788,", StringComparison.Ordinal)
                .Replace("\"bare\":{\"delivered\":9749,", "\"bare\":{\"cpu_us_per_delivery\":9.7,\"delivered\":9749,", StringComparison.Ordinal)
                .Replace("\"bare\":{\"delivered\":397517", "\"nats\":{\"delivered\":420000,\"p50_ms\":1,\"p99_ms\":2,\"p999_ms\":3,\"max_ms\":4},\"bare\":{\"delivered\":397517", StringComparison.Ordinal);
            File.WriteAllText(Path.Combine(dir, "w4-ws.json"), w4);

            var targets = Summary.CheckTargets(dir).ToDictionary(t => $"{t.Workload}: {t.Goal}");

            Assert.That(targets["W4 WebSocket: p99 < 10 ms at 100,000 deliveries/s over 1,000 streams"].WhereTheTimeGoes, Does.StartWith("CPU per unbatched frame, ours 12.1 µs and the bare broadcaster 9.7 (p99 31.0 ms)"));
            Assert.That(targets["W4 WebSocket: ≥ the NATS server at saturation"].WhereTheTimeGoes, Does.StartWith("nats's 420,000/s is more than the bare broadcaster's 397,517/s").And.Contain("ours is at 0.72 of that"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void A_multiplexed_recording_gets_its_own_table_and_target_row_and_the_websocket_row_points_to_it()
    {
        var dir = Directory.CreateTempSubdirectory("targets-multiplexed-test-").FullName;
        try
        {
            var w4 = W4
                .Replace("\"ours\":{\"delivered\":9788,", "\"ours\":{\"cpu_us_per_delivery\":12.1,\"delivered\":9788,", StringComparison.Ordinal)
                .Replace("\"bare\":{\"delivered\":9749,", "\"bare\":{\"cpu_us_per_delivery\":9.7,\"delivered\":9749,", StringComparison.Ordinal);
            File.WriteAllText(Path.Combine(dir, "w4-ws.json"), w4);
            File.WriteAllText(Path.Combine(dir, "w4-ws-multiplexed.json"), """
                {"workload":"w4-ws-broadcast-multiplexed","population":"broadcast","per_connection":100,"streams":1000,"median":[
                  {"rate":100,"offered_deliveries":100000,"ours":{"delivered":99747,"p50_ms":1.7,"p99_ms":6.32,"p999_ms":7,"max_ms":8}},
                  {"rate":800,"offered_deliveries":800000,"ours":{"delivered":798672,"p50_ms":2.8,"p99_ms":14.75,"p999_ms":18,"max_ms":19}}]}
                """);

            var targets = Summary.CheckTargets(dir).ToDictionary(t => $"{t.Workload}: {t.Goal}");
            var markdown = Summary.Markdown(dir);

            var multiplexed = targets["W4 WebSocket, multiplexed: p99 < 10 ms at 100,000 deliveries/s over 1,000 streams"];
            Assert.That(multiplexed.Met, Is.True);
            Assert.That(multiplexed.Measured, Is.EqualTo("6.3 ms at 100,000/s (100 subscriptions per connection)"));
            Assert.That(targets["W4 WebSocket: p99 < 10 ms at 100,000 deliveries/s over 1,000 streams"].WhereTheTimeGoes, Does.EndWith("the same streams as 100 subscriptions per connection: p99 6.3 ms (the multiplexed row)"));
            Assert.That(markdown, Does.Contain("(1,000 streams as 100 subscriptions on each of 10 connections, broadcast)").And.Contain("| 100,000 | 99,747 | 6.3 |"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void Every_target_is_checked_against_the_recorded_results_and_a_missed_one_says_so()
    {
        var dir = Directory.CreateTempSubdirectory("targets-test-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "w4-ws.json"), W4.Replace("\"bare\":{\"delivered\":397517", "\"nats\":{\"delivered\":143794,\"p50_ms\":1,\"p99_ms\":2,\"p999_ms\":3,\"max_ms\":4},\"bare\":{\"delivered\":397517", StringComparison.Ordinal));
            File.WriteAllText(Path.Combine(dir, "w3-ingest.json"), """{"median_bare":400000,"median_ours":380000}""");
            File.WriteAllText(Path.Combine(dir, "w7.json"), """
                {"workload":"w7-recovery","subscribers":100,"rate":2000,"median":{"missing":3,"duplicates":1,"restart_seconds":1,"resume_median_seconds":1,"resume_max_seconds":1}}
                """);
            var withW1 = Summary.CheckTargets(dir).Count;
            File.WriteAllText(Path.Combine(dir, "w1.json"), """
                {"workload":"w1","medians":[
                  {"variant":"channels (median)","events_per_second":500000,"deliveries_per_second":3400000,"allocated_bytes_per_event":40,"p99_micros":2900,"wake_p99_micros":1100},
                  {"variant":"ring + delivery loops (median)","events_per_second":2100000,"deliveries_per_second":14280000,"allocated_bytes_per_event":0,"p99_micros":3300,"wake_p99_micros":1234}]}
                """);

            var targets = Summary.CheckTargets(dir).ToDictionary(t => $"{t.Workload}: {t.Goal}");
            var markdown = Summary.Markdown(dir);

            Assert.That(targets["W3 ingest: ≥ 0.9 of a bare Confluent.Kafka consumer"].Met, Is.True, "0.95");
            // The rung nearest 100,000 offered is the 10,000 one here: p99 55 ms.
            Assert.That(targets["W4 WebSocket: p99 < 10 ms at 100,000 deliveries/s over 1,000 streams"], Has.Property("Met").False.And.Property("Measured").EqualTo("55.0 ms at 10,000/s"));
            Assert.That(targets["W4 WebSocket: ≥ 0.8 of the bare broadcaster at saturation"], Has.Property("Met").False.And.Property("Measured").StartsWith("0.72×"));
            Assert.That(targets["W4 WebSocket: ≥ the NATS server at saturation"], Has.Property("Met").True.And.Property("Measured").StartsWith("2.00×"));
            Assert.That(targets["W7: 0 events missing after SIGKILL and restart"].Met, Is.False);
            Assert.That(withW1, Is.EqualTo(targets.Count - 3), "no W1 target without its result file");
            Assert.That(targets["W1: ≥ 2,000,000 events/s, 1,000 standard subscribers"].Met, Is.True, "the fastest design, not the baseline");
            Assert.That(targets["W1: p99 hand-off to subscriber read < 1 ms at half the rate"], Has.Property("Met").False.And.Property("Measured").EqualTo("3.30 ms (machine wake-up p99 1,234 µs)"));
            Assert.That(markdown, Does.Contain("| ring + delivery loops | 2,100,000 | 14,280,000 | 4.20 | 3,300 | 1,234 | 0.00 |"), "the wake-up floor beside each design");
            Assert.That(markdown, Does.Contain("4 of 8 targets met"));
            Assert.That(markdown, Does.Contain("| W7 | 0 events missing after SIGKILL and restart | 3 missing (worst run) | **missed** |"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
