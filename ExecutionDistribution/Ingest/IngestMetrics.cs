using System.Diagnostics.Metrics;
using ExecutionDistribution.Hosting;

namespace ExecutionDistribution.Ingest;

/// <summary>
/// Events taken in, by source (<c>rest</c>, <c>kafka</c>) and result (<c>accepted</c>; from Kafka
/// <c>dead_lettered</c>; over REST <c>rejected</c>, which counts the requests refused as invalid, since
/// a body that is not a valid batch has no count of events): one instrument,
/// <c>execdist.events.ingested</c> (meter <c>ExecDist.Ingest</c>), read from each source's counters
/// at each collection. A source registers its counters (<see cref="AddSource"/>).
/// </summary>
public sealed class IngestMetrics : IModuleMetrics
{
    private readonly List<(KeyValuePair<string, object?>[] Tags, Func<long> Read)> _sources = [];
    private readonly Lock _gate = new();
    private long _restAccepted;
    private long _restRejected;

    /// <summary>Creates the instrument; REST is a source from the start.</summary>
    public IngestMetrics(IMeterFactory meters)
    {
        AddSource("rest", "accepted", () => Interlocked.Read(ref _restAccepted));
        AddSource("rest", "rejected", () => Interlocked.Read(ref _restRejected));
        meters.Create($"{Telemetry.MeterPrefix}Ingest").CreateObservableCounter("execdist.events.ingested", Measure, "{event}",
            "Events taken in, by source and result");
    }

    /// <summary>A source's count of one result.</summary>
    public void AddSource(string source, string result, Func<long> read)
    {
        lock (_gate)
        {
            _sources.Add(([new("source", source), new("result", result)], read));
        }
    }

    /// <summary>Over REST: <paramref name="count"/> events accepted, or (<paramref name="accepted"/> false) requests refused.</summary>
    internal void Rest(int count, bool accepted) => Interlocked.Add(ref accepted ? ref _restAccepted : ref _restRejected, count);

    private List<Measurement<long>> Measure()
    {
        lock (_gate)
        {
            return [.. _sources.Select(s => new Measurement<long>(s.Read(), s.Tags))];
        }
    }
}
