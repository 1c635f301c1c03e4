using System.Diagnostics;
using System.Globalization;
using ExecutionDistribution.Benchmarks.Support;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;

namespace ExecutionDistribution.Benchmarks.Workloads;

/// <summary>
/// A reconnect storm: N subscribers with the standard filters (the 1,000 of ../shared/BENCHMARKS.md,
/// repeated under new ids) subscribe from 4 threads at once, then all unsubscribe; the time until the
/// dispatcher routes with every one of them, and until it has let every one go. Beside it, in the
/// same run, the design it replaced: a new routing index built over every subscriber on each change,
/// under the registration lock.
/// <c>subscribe [--runs 3] [--counts 1000,2000,4000,10000] [--rebuild-max 4000] [--json file]</c> (the old design is
/// measured up to <c>--rebuild-max</c> subscribers: it is quadratic, minutes at 10,000)
/// </summary>
public static class SubscribeWorkload
{
    private const int Threads = 4;

    public static int Run(string[] args)
    {
        var runs = int.Parse(args.Option("--runs") ?? "3", CultureInfo.InvariantCulture);
        var counts = (args.Option("--counts") ?? "1000,2000,4000,10000").Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray();
        var rebuildMax = int.Parse(args.Option("--rebuild-max") ?? "4000", CultureInfo.InvariantCulture);
        var definitions = StandardSubscribers.Standard(new SyntheticExecutionStream(42), 42);
        Console.WriteLine($"# subscribe storm: standard filters, {Threads} subscribing threads, {runs} runs, counts {string.Join(", ", counts)}; medians over the runs");
        var rows = new List<object>();
        foreach (var n in counts)
        {
            var ours = new List<(double Subscribe, double Unsubscribe)>();
            var rebuild = new List<double>();
            for (var run = 0; run < runs; run++)
            {
                ours.Add(InPlace(definitions, n));
                if (n <= rebuildMax)
                {
                    rebuild.Add(RebuildPerChange(definitions, n));
                }
            }

            var (sub, unsub) = (Median(ours.Select(o => o.Subscribe)), Median(ours.Select(o => o.Unsubscribe)));
            double? old = rebuild.Count > 0 ? Median(rebuild) : null;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{n,6:N0} subscribers: in place {sub,9:N1} ms to subscribe all, {unsub,9:N1} ms to unsubscribe all | rebuilt per change {(old is { } o ? $"{o,10:N1} ms to subscribe all ({o / sub:N1}x)" : "not run")}"));
            rows.Add(new { subscribers = n, in_place_subscribe_ms = sub, in_place_unsubscribe_ms = unsub, rebuild_per_change_subscribe_ms = old });
        }

        if (args.Option("--json") is { } path)
        {
            ResultFiles.Write(path, new { workload = "subscribe", threads = Threads, runs, rows });
            Console.WriteLine($"# written {path}");
        }

        return 0;
    }

    // Ours: the dispatcher applies each registration to its index in place.
    private static (double Subscribe, double Unsubscribe) InPlace(List<SubscriberDefinition> definitions, int n)
    {
        using var core = new FanOutDispatcher(new DistributionOptions { MaxSubscribers = Math.Max(n, 10_000) }, TimeProvider.System);
        core.Start();
        var subscribers = new Subscriber[n];
        var clock = Stopwatch.StartNew();
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t =>
        {
            for (var i = t; i < n; i += Threads)
            {
                var d = definitions[i % definitions.Count];
                subscribers[i] = core.Subscribe($"{d.Id}-{i}", d.Filter, DeliveryGuarantee.AtLeastOnce);
            }
        });
        WaitFor(() => core.IndexedSubscribers == n);
        var subscribe = clock.Elapsed.TotalMilliseconds;

        clock.Restart();
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t =>
        {
            for (var i = t; i < n; i += Threads)
            {
                core.Unsubscribe(subscribers[i]);
            }
        });
        WaitFor(() => core.IndexedSubscribers == 0);
        return (subscribe, clock.Elapsed.TotalMilliseconds);
    }

    // The baseline: every subscribe builds a new index over every subscriber, under the lock.
    private static double RebuildPerChange(List<SubscriberDefinition> definitions, int n)
    {
        using var core = new FanOutDispatcher(new DistributionOptions { MaxSubscribers = Math.Max(n, 10_000) }, TimeProvider.System);
        var gate = new Lock();
        var attached = new List<Subscriber>();
        RoutingIndex index = new();
        var clock = Stopwatch.StartNew();
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t =>
        {
            for (var i = t; i < n; i += Threads)
            {
                var d = definitions[i % definitions.Count];
                var s = core.Subscribe($"{d.Id}-{i}", d.Filter, DeliveryGuarantee.AtLeastOnce);
                lock (gate)
                {
                    attached.Add(s);
                    Volatile.Write(ref index, new RoutingIndex(attached));
                }
            }
        });
        GC.KeepAlive(index);
        return clock.Elapsed.TotalMilliseconds;
    }

    private static void WaitFor(Func<bool> done)
    {
        var deadline = Stopwatch.StartNew();
        while (!done())
        {
            if (deadline.Elapsed > TimeSpan.FromMinutes(5))
            {
                throw new TimeoutException("the dispatcher did not apply the registrations");
            }

            Thread.Sleep(1);
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[(v.Length / 2) - 1] + v[v.Length / 2]) / 2;
    }
}
