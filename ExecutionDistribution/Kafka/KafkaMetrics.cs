using System.Diagnostics.Metrics;
using ExecutionDistribution.Hosting;
using ExecutionDistribution.Ingest;

namespace ExecutionDistribution.Kafka;

/// <summary>
/// Kafka's instruments (meter <c>ExecDist.Kafka</c>), read at each collection: the consumer's lag per
/// partition and the output records produced and refused; the records ingested and dead-lettered are
/// the <c>kafka</c> source of <see cref="IngestMetrics"/>.
/// </summary>
internal sealed class KafkaMetrics : IModuleMetrics
{
    public KafkaMetrics(IMeterFactory meters, IngestMetrics ingested, KafkaIngestService ingest, IServiceProvider services)
    {
        ingested.AddSource("kafka", "accepted", () => ingest.Consumed - ingest.DeadLettered);
        ingested.AddSource("kafka", "dead_lettered", () => ingest.DeadLettered);
        var meter = meters.Create($"{Telemetry.MeterPrefix}Kafka");
        meter.CreateObservableGauge("execdist.kafka.consumer.lag", () => ingest.Lag.Select(p =>
                new Measurement<long>(p.Value, new KeyValuePair<string, object?>("topic", p.Key.Topic), new("partition", p.Key.Partition.Value))),
            "{record}", "Records of an assigned input partition not yet consumed");
        if (services.GetService<KafkaOutputService>() is { } output)
        {
            meter.CreateObservableCounter("execdist.kafka.output.records", () => (IEnumerable<Measurement<long>>)
                [new(output.Published, new KeyValuePair<string, object?>("result", "produced")), new(output.Failed, new KeyValuePair<string, object?>("result", "failed"))],
                "{record}", "execution_distributed records Kafka acknowledged (produced) or refused (failed; tried again)");
        }
    }
}
