using BenchmarkDotNet.Attributes;
using ExecutionDistribution.Audit;
using ExecutionDistribution.Core;
using ExecutionDistribution.Ingest.Demo;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Benchmarks.Micro;

/// <summary>
/// Auditing one written frame of 64 deliveries (every event audited): the range row a stream
/// sender records per frame, taken by the writer from the front of a backlog of 100,000 rows (as
/// under load). Steady state: as many rows are taken as recorded.
/// </summary>
[MemoryDiagnoser]
public class AuditTrailBenchmarks
{
    private readonly List<AuditRow> _drained = new(8_192);
    private AuditTrail _trail = null!;
    private StreamAudit _audit = null!;
    private Delivery[] _frame = [];

    [GlobalSetup]
    public void Setup()
    {
        _trail = new AuditTrail(Options.Create(new AuditOptions { AllEvents = true }), TimeProvider.System);
        _audit = new StreamAudit(_trail, "sub-1", null, Contract.DeliveryGuarantee.AtLeastOnce, SubscriptionFilter.All);
        var stream = new SyntheticExecutionStream(seed: 42);
        var events = Enumerable.Range(0, 64).Select(_ => stream.Next()).ToArray();
        for (var i = 0; i < events.Length; i++)
        {
            events[i].Position = i;
        }

        _frame = [.. events.Select((e, i) => new Delivery(e, i + 1))];
        for (var i = 0; i < 100_000; i++)
        {
            _audit.Delivered(_frame);
        }
    }

    /// <summary>One frame's range recorded, and one row taken by the writer from the front of the backlog.</summary>
    [Benchmark(OperationsPerInvoke = 64)]
    public int RecordAFrameAndDrain()
    {
        _audit.Delivered(_frame);
        _drained.Clear();
        return _trail.Drain(_drained, 1);
    }
}
