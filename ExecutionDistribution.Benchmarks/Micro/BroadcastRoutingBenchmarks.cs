using BenchmarkDotNet.Attributes;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;

namespace ExecutionDistribution.Benchmarks.Micro;

/// <summary>
/// Routing one event to the 1,000 broadcast streams of W3/W4, which subscribe with <c>topics=#</c>,
/// against the baseline of 1,000 subscribers with no filter at all (the same set of subscribers takes
/// every event either way, so a catch-all pattern should cost nothing).
/// </summary>
[MemoryDiagnoser]
public class BroadcastRoutingBenchmarks
{
    private RoutingIndex _catchAll = null!;
    private RoutingIndex _unfiltered = null!;
    private FanOutDispatcher _a = null!;
    private FanOutDispatcher _b = null!;
    private ExecutionEvent[] _events = [];
    private int _next;
    private long _position;

    [GlobalSetup]
    public void Setup()
    {
        var stream = new SyntheticExecutionStream(seed: 42);
        var everything = new FilterSpec { Topics = ["#"] }.Build(out _)!;
        var none = new FilterSpec().Build(out _)!;
        _a = new FanOutDispatcher(new DistributionOptions(), TimeProvider.System);
        _b = new FanOutDispatcher(new DistributionOptions(), TimeProvider.System);
        var catchAll = new List<Subscriber>();
        var unfiltered = new List<Subscriber>();
        for (var i = 0; i < 1_000; i++)
        {
            catchAll.Add(_a.Subscribe($"all-{i}", everything, DeliveryGuarantee.AtMostOnce, bufferCapacity: 2));
            unfiltered.Add(_b.Subscribe($"none-{i}", none, DeliveryGuarantee.AtMostOnce, bufferCapacity: 2));
        }

        _catchAll = new RoutingIndex(catchAll);
        _unfiltered = new RoutingIndex(unfiltered);
        _events = [.. Enumerable.Range(0, 4_096).Select(_ => stream.Next())];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _a.Dispose();
        _b.Dispose();
    }

    /// <summary>1,000 subscribers with <c>topics=#</c>.</summary>
    [Benchmark]
    public int CatchAllTopic() => Route(_catchAll);

    /// <summary>Baseline: 1,000 subscribers with no filter.</summary>
    [Benchmark(Baseline = true)]
    public int NoFilter() => Route(_unfiltered);

    private int Route(RoutingIndex index)
    {
        var e = _events[_next++ & 4_095];
        e.Position = _position++;
        var sink = new CountingSink();
        index.Route(e, ref sink);
        return sink.Count;
    }

    private struct CountingSink : IRouteSink
    {
        public int Count;

        public void Deliver(Subscriber subscriber, long position) => Count++;
    }
}
