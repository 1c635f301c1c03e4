using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using Confluent.Kafka;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Hosting;

namespace ExecutionDistribution.Kafka;

/// <summary>
/// Traces across Kafka (activity source <c>ExecDist.Kafka</c>): a record whose headers carry a W3C
/// <c>traceparent</c> is ingested in a span that continues it, and its <c>execution_distributed</c>
/// copies are published in a span under that one, whose <c>traceparent</c> they carry. Records
/// without one, or with tracing off, cost a header lookup.
/// </summary>
internal static class KafkaTracing
{
    public const string TraceParent = "traceparent";

    private static readonly ActivitySource Source = new($"{Telemetry.MeterPrefix}Kafka");

    // The ingest span of each traced event, for its output: kept in this module, not on the event.
    private static readonly ConditionalWeakTable<ExecutionEvent, StrongBox<ActivityContext>> Ingested = new();

    /// <summary>On ingest of a valid record: a span continuing the record's traceparent, if it has one and tracing listens.</summary>
    public static void Ingest(ConsumeResult<byte[]?, byte[]?> record, ExecutionEvent e)
    {
        if (!Source.HasListeners() || record.Message.Headers is not { Count: > 0 } headers
            || !headers.TryGetLastBytes(TraceParent, out var bytes)
            || !ActivityContext.TryParse(Encoding.ASCII.GetString(bytes), headers.TryGetLastBytes("tracestate", out var state) ? Encoding.ASCII.GetString(state) : null, out var parent))
        {
            return;
        }

        using var activity = Source.StartActivity($"{record.Topic} receive", ActivityKind.Consumer, parent);
        if (activity is null)
        {
            return;
        }

        activity.SetTag("messaging.system", "kafka");
        activity.SetTag("messaging.destination.name", record.Topic);
        activity.SetTag("messaging.destination.partition.id", record.Partition.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        activity.SetTag("messaging.kafka.offset", record.Offset.Value);
        activity.SetTag("messaging.message.id", e.EventId);
        Ingested.AddOrUpdate(e, new StrongBox<ActivityContext>(activity.Context));
    }

    /// <summary>Before the output copies of <paramref name="e"/> are produced: their headers (a publish span's traceparent), or null when the event was not traced.</summary>
    public static Headers? Publish(ExecutionEvent e)
    {
        if (!Source.HasListeners() || !Ingested.TryGetValue(e, out var ingest))
        {
            return null; // tracing off: no event was ever traced, and no lookup is made per event
        }

        using var activity = Source.StartActivity("execution_distributed publish", ActivityKind.Producer, ingest.Value);
        var context = activity?.Context ?? ingest.Value;
        activity?.SetTag("messaging.system", "kafka");
        activity?.SetTag("messaging.message.id", e.EventId);
        var flags = (context.TraceFlags & ActivityTraceFlags.Recorded) != 0 ? "01" : "00";
        return new Headers { { TraceParent, Encoding.ASCII.GetBytes($"00-{context.TraceId.ToHexString()}-{context.SpanId.ToHexString()}-{flags}") } };
    }
}
