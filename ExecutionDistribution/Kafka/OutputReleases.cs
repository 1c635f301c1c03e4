using System.Collections.Concurrent;
using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Kafka;

/// <summary>
/// Outputs the Kafka output acknowledged for events it re-read from Kafka (it fell behind the retained
/// log): copies of records whose ingested event is still waiting for its output in the ingest's safe
/// point (<see cref="SafePointTracker"/>). The output adds the source of each such copy once Kafka has
/// every copy of it; the ingest applies them to the waiting events before it takes the safe offsets.
/// Only re-reads pass here, never the steady flow.
/// </summary>
internal sealed class OutputReleases
{
    private readonly ConcurrentQueue<SourcePosition> _released = new();

    /// <summary>Every output of the record at <paramref name="source"/> is acknowledged (any thread).</summary>
    public void Release(SourcePosition source) => _released.Enqueue(source);

    /// <summary>Takes what was released since the last call (the ingest, under its tracker's lock); null when nothing was.</summary>
    public List<SourcePosition>? TakeAll()
    {
        if (_released.IsEmpty)
        {
            return null;
        }

        var taken = new List<SourcePosition>();
        while (_released.TryDequeue(out var source))
        {
            taken.Add(source);
        }

        return taken;
    }
}
