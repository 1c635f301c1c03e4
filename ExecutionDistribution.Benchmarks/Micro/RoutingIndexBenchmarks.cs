using BenchmarkDotNet.Attributes;
using ExecutionDistribution.Benchmarks.Workloads;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;

namespace ExecutionDistribution.Benchmarks.Micro;

/// <summary>
/// Resolving one event to its subscribers among the 1,000 standard subscribers: the routing index
/// against the baseline of testing every subscriber's filter.
/// </summary>
[MemoryDiagnoser]
public class RoutingIndexBenchmarks
{
    private RoutingIndex _index = null!;
    private Subscriber[] _all = [];
    private ExecutionEvent[] _events = [];
    private FanOutDispatcher _registry = null!;
    private int _next;
    private long _position;

    [GlobalSetup]
    public void Setup()
    {
        var stream = new SyntheticExecutionStream(seed: 42);
        var definitions = StandardSubscribers.Standard(stream, 42);
        _registry = new FanOutDispatcher(new DistributionOptions(), TimeProvider.System);
        _all = [.. definitions.Select(d => _registry.Subscribe(d.Id, d.Filter, DeliveryGuarantee.AtLeastOnce, bufferCapacity: 2))];
        _index = new RoutingIndex(_all);
        _events = [.. Enumerable.Range(0, 65_536).Select(_ => stream.Next())];
    }

    [GlobalCleanup]
    public void Cleanup() => _registry.Dispose();

    /// <summary>The routing index: anchored lookups plus cached pattern results.</summary>
    [Benchmark]
    public int Index()
    {
        var e = _events[_next++ & 65_535];
        e.Position = _position++;
        var sink = new CountingSink();
        _index.Route(e, ref sink);
        return sink.Count;
    }

    /// <summary>An index of the 1,000 standard subscribers built from nothing (what a subscribe would cost if it rebuilt the index instead of changing it in place).</summary>
    [Benchmark]
    public int Build() => new RoutingIndex(_all).Count;

    /// <summary>One subscribe and one unsubscribe applied to the index of 1,000 (what each costs the dispatcher now).</summary>
    [Benchmark]
    public int AddAndRemove()
    {
        var s = _all[_next++ % _all.Length];
        _index.Remove(s);
        _index.Add(s);
        return _index.Count;
    }

    /// <summary>Baseline: every subscriber's filter tested against the event.</summary>
    [Benchmark(Baseline = true)]
    public int ScanEveryFilter()
    {
        var e = _events[_next++ & 65_535];
        var count = 0;
        foreach (var s in _all)
        {
            if (s.Filter.Matches(e))
            {
                count++;
            }
        }

        return count;
    }

    private struct CountingSink : IRouteSink
    {
        public int Count;

        public void Deliver(Subscriber subscriber, long position) => Count++;
    }
}
