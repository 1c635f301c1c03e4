using ExecutionDistribution.Benchmarks.Support;
using ExecutionDistribution.Benchmarks.Workloads;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;

namespace ExecutionDistribution.Benchmarks.Tests;

/// <summary>The benchmark harness's own logic: its histogram, its seeded stream and its subscriber population.</summary>
[Category("Unit")]
public sealed class HarnessLogicTests
{
    [Test]
    public void Histogram_percentiles_are_within_the_stated_relative_error()
    {
        var h = new LatencyHistogram();
        for (var us = 1; us <= 10_000; us++)
        {
            h.Record(us * 1_000L);
        }

        Assert.That(h.Count, Is.EqualTo(10_000));
        Assert.That(h.Max, Is.EqualTo(10_000_000));
        Assert.That(h.Percentile(50), Is.EqualTo(5_000_000).Within(1.6).Percent);
        Assert.That(h.Percentile(99), Is.EqualTo(9_900_000).Within(1.6).Percent);
        Assert.That(h.Percentile(99.9), Is.EqualTo(9_990_000).Within(1.6).Percent);
        Assert.That(h.Percentile(100), Is.EqualTo(10_000_000));
    }

    [Test]
    public void A_publish_that_blocks_is_charged_to_the_events_that_fell_due_behind_it()
    {
        // 1,000 events/s; the fifth publish blocks 200 ms, as a POST to a paused service would. The batch
        // after it carries the events that fell due meanwhile, stamped when they were due.
        var stream = new SyntheticExecutionStream(3);
        var events = Enumerable.Range(0, 4_096).Select(_ => stream.Next().EnvelopeJson.ToArray()).ToArray();
        var calls = 0;
        var afterBlock = new LatencyHistogram();
        var others = new LatencyHistogram();
        var next = 0;
        WebSocketWorkload.Offer(batch =>
        {
            calls++;
            if (calls == 5)
            {
                Thread.Sleep(200);
            }

            foreach (var e in batch)
            {
                WebSocketWorkload.RecordStamps(calls == 6 ? afterBlock : others, e);
            }
        }, 1_000, TimeSpan.FromMilliseconds(600), events, ref next);

        Assert.That(calls, Is.GreaterThan(6));
        Assert.That(afterBlock.Count, Is.GreaterThanOrEqualTo(150), "about 200 events fell due during the blocked publish");
        Assert.That(afterBlock.Percentile(50), Is.GreaterThanOrEqualTo(50_000_000L), "they carry their due times, so half of them waited 50 ms or more");
        Assert.That(others.Percentile(50), Is.LessThan(afterBlock.Percentile(50)), "events that were not held up carry the time they were sent");
    }

    [Test]
    public void The_service_caps_its_gen0_budget_and_the_harness_runs_ours_with_the_same_cap()
    {
        var runtimeConfig = Path.Combine(AppContext.BaseDirectory, "ExecutionDistribution.runtimeconfig.json");
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(runtimeConfig));
        var budget = json.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties").GetProperty("System.GC.Gen0MaxBudget").GetInt64();

        Assert.That(budget, Is.EqualTo(4 * 1024 * 1024), "the service's runtime configuration caps gen0 at 4 MB");
        Assert.That(Child.ServiceGen0Budget(), Is.EqualTo(budget), "what the harness passes to ours");
    }

    [Test]
    public void Histograms_recorded_on_several_threads_merge_into_the_same_percentiles()
    {
        var whole = new LatencyHistogram();
        var parts = new[] { new LatencyHistogram(), new LatencyHistogram(), new LatencyHistogram() };
        var random = new Random(7);
        for (var i = 0; i < 30_000; i++)
        {
            var v = (long)random.Next(100, 50_000_000);
            whole.Record(v);
            parts[i % 3].Record(v);
        }

        var merged = LatencyHistogram.Merge(parts);
        Assert.That(merged.Count, Is.EqualTo(whole.Count));
        Assert.That(merged.Max, Is.EqualTo(whole.Max));
        foreach (var p in new[] { 50.0, 90, 99, 99.9 })
        {
            Assert.That(merged.Percentile(p), Is.EqualTo(whole.Percentile(p)), $"p{p}");
        }
    }

    [Test]
    public void Small_values_are_exact_and_an_empty_histogram_answers_zero()
    {
        var h = new LatencyHistogram();
        Assert.That(h.Percentile(99), Is.Zero);
        h.Record(42);
        h.Record(-5);
        Assert.That(h.Percentile(100), Is.EqualTo(42));
        Assert.That(h.Percentile(1), Is.Zero, "a negative value counts as 0");
    }

    [Test]
    public void The_same_seed_gives_the_same_stream_and_another_seed_another()
    {
        var a = new SyntheticExecutionStream(42);
        var b = new SyntheticExecutionStream(42);
        var c = new SyntheticExecutionStream(43);
        var differs = false;
        for (var i = 0; i < 2_000; i++)
        {
            var (x, y, z) = (a.Next(), b.Next(), c.Next());
            Assert.That(x.EnvelopeJson.ToArray(), Is.EqualTo(y.EnvelopeJson.ToArray()), $"event {i}");
            differs |= !x.EnvelopeJson.Span.SequenceEqual(z.EnvelopeJson.Span);
        }

        Assert.That(differs, Is.True);
    }

    [Test]
    public void The_stream_has_the_standard_mix_of_data_types()
    {
        var stream = new SyntheticExecutionStream(42);
        var counts = new int[WireNames.DataTypes.Length];
        const int n = 50_000;
        for (var i = 0; i < n; i++)
        {
            counts[(int)stream.Next().DataType]++;
        }

        double Share(ExecutionDataType t) => 100.0 * counts[(int)t] / n;
        Assert.That(Share(ExecutionDataType.OrderUpdate), Is.EqualTo(40).Within(2));
        Assert.That(Share(ExecutionDataType.FillNotification), Is.EqualTo(40).Within(2));
        Assert.That(Share(ExecutionDataType.ExecutionReport), Is.EqualTo(10).Within(1.5));
        Assert.That(Share(ExecutionDataType.SettlementUpdate), Is.EqualTo(5).Within(1));
        Assert.That(Share(ExecutionDataType.TcaResult), Is.EqualTo(3).Within(1));
        Assert.That(Share(ExecutionDataType.VenueStatus), Is.EqualTo(2).Within(1));
    }

    [Test]
    public void The_standard_population_is_ten_workflows_490_instrument_patterns_and_500_order_watches()
    {
        var stream = new SyntheticExecutionStream(42);
        var subscribers = StandardSubscribers.Standard(stream, 42);
        Assert.That(subscribers, Has.Count.EqualTo(1_000));
        Assert.That(subscribers.Count(s => s.Filter.OrderIds.Count == 20), Is.EqualTo(500));
        Assert.That(subscribers.Count(s => s.Filter.TargetWorkflows.Count > 0 || (s.Filter.DataTypes.Count > 0 && s.Filter.OrderIds.Count == 0 && s.Filter.RoutingKeys.Count == 0 && s.Filter.Topics.Count == 0)), Is.EqualTo(10));
        Assert.That(StandardSubscribers.Standard(new SyntheticExecutionStream(42), 42).Select(s => s.Id), Is.EqualTo(subscribers.Select(s => s.Id)), "deterministic");
    }

    [Test]
    public void The_highest_rate_that_held_is_the_top_of_the_unbroken_run_of_held_rungs_from_the_bottom()
    {
        static WebSocketWorkload.Step Rung(int rate, double p99, double deliveredShare) => new(rate, rate * 1_000 * deliveredShare, 1, 1, p99, p99, p99);

        var ladder = new[] { Rung(200, 12, 1), Rung(50, 4, 1), Rung(100, 9.5, 0.96), Rung(400, 3, 1) };

        Assert.That(WebSocketWorkload.HighestHeld(ladder, 1_000), Is.EqualTo(100_000), "200 broke the run (p99 12 ms): 400 holding again does not count");
        Assert.That(WebSocketWorkload.HighestHeld([Rung(50, 4, 0.9)], 1_000), Is.Zero, "under 95% delivered is not held");
        Assert.That(WebSocketWorkload.HighestHeld([], 1_000), Is.Zero);
    }

    [Test]
    public void The_process_meter_reads_cpu_time_and_peak_memory_from_proc()
    {
        // Work until the kernel's CPU clock for this process ticks over (bounded in iterations, not time).
        var before = ProcessMeter.CpuSeconds(Environment.ProcessId);
        var after = before;
        for (var i = 0; i < 100_000 && after <= before; i++)
        {
            Thread.SpinWait(100_000);
            after = ProcessMeter.CpuSeconds(Environment.ProcessId);
        }

        Assert.That(after, Is.GreaterThan(before), "spinning shows as CPU time");
        Assert.That(ProcessMeter.PeakResidentMiB(Environment.ProcessId), Is.GreaterThan(10));
        Assert.That(ProcessMeter.CpuSeconds(int.MaxValue), Is.NaN, "no such process");
    }
}
