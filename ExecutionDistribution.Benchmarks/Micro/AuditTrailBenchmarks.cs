using BenchmarkDotNet.Attributes;
using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;
using ExecutionDistribution.Persistence;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Benchmarks.Micro;

/// <summary>
/// Recording the audit rows of one written frame of 64 deliveries (every event audited) while the
/// writer keeps pace 100,000 rows behind (a backlog, as under load): what every stream sender pays
/// per frame. Steady state: as many rows are taken as recorded.
/// </summary>
[MemoryDiagnoser]
public class AuditTrailBenchmarks
{
    private readonly List<AuditRecord> _drained = new(8_192);
    private AuditTrail _trail = null!;
    private Delivery[] _frame = [];
    private long _sequence;

    [GlobalSetup]
    public void Setup()
    {
        _trail = new AuditTrail(Options.Create(new AuditOptions { AllEvents = true }), TimeProvider.System);
        var stream = new SyntheticExecutionStream(seed: 42);
        _frame = [.. Enumerable.Range(0, 64).Select(i => new Delivery(stream.Next(), i + 1))];
        for (var i = 0; i < 100_000 / 64; i++)
        {
            _trail.RecordDelivered(_frame, "sub-1", 0);
        }
    }

    /// <summary>64 rows recorded, and 64 taken by the writer from the front of the backlog.</summary>
    [Benchmark(OperationsPerInvoke = 64)]
    public int RecordAFrameAndDrain()
    {
        _trail.RecordDelivered(_frame, "sub-1", _sequence);
        _sequence += 64;
        _drained.Clear();
        return _trail.Drain(_drained, 64);
    }
}
