using System.Diagnostics.Metrics;
using ExecutionDistribution.Hosting;

namespace ExecutionDistribution.Core;

/// <summary>The dispatch core's instruments (meter <c>ExecDist.Core</c>), read from its counters at each collection: nothing on the dispatch path.</summary>
internal sealed class CoreMetrics : IModuleMetrics
{
    public CoreMetrics(IMeterFactory meters, FanOutDispatcher core)
    {
        var meter = meters.Create($"{Telemetry.MeterPrefix}Core");
        meter.CreateObservableCounter("execdist.events.dispatched", () => core.GetStats().Ingested, "{event}",
            "Events the dispatch core appended to the retained log and routed");
        meter.CreateObservableCounter("execdist.deliveries.dropped", () => core.Losses().Dropped, "{delivery}",
            "Deliveries dropped because an at_most_once subscriber's buffer was full");
        meter.CreateObservableCounter("execdist.positions.lost", () => core.Losses().Lost, "{position}",
            "Positions announced lost to at_least_once subscribers (neither retained nor re-readable)");
        meter.CreateObservableUpDownCounter("execdist.subscribers", () => (long)core.GetStats().Subscribers, "{subscriber}",
            "Subscribers attached to the core (streams' subscriptions and in-process consumers)");
        meter.CreateObservableUpDownCounter("execdist.subscribers.catching_up", () => core.GetStats().CatchingUp, "{subscriber}",
            "Subscribers reading from the retained log or Kafka instead of the live path");
        meter.CreateObservableUpDownCounter("execdist.ingest_queue.depth", () => (long)core.GetStats().IngestQueueDepth, "{event}",
            "Events waiting for the dispatcher");
        meter.CreateObservableUpDownCounter("execdist.retained_log.bytes", () => core.GetStats().LogBytes, "By",
            "Estimated bytes of the events in the retained log");
    }
}
