using System.Diagnostics;
using System.Text;
using ExecutionDistribution.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace ExecutionDistribution.Tests.Kafka;

/// <summary>A record's W3C traceparent continues into its ingest span, the publish span under it, and the output records' traceparent.</summary>
[Category("Kafka")]
public sealed class KafkaTracingTests : EmbeddedKafkaTestBase
{
    [Test]
    public async Task The_traceparent_of_a_record_continues_through_ingest_into_the_output_records_headers()
    {
        var topics = new KafkaTestTopics(Cluster);
        var spans = new List<Activity>();
        await using var host = await ServiceHost.StartAsync(
            b => b.Services.ConfigureOpenTelemetryTracerProvider(t => t.AddInMemoryExporter(spans)),
            [.. topics.HostSettings, "--Telemetry:Tracing=true"]);

        var traceId = ActivityTraceId.CreateRandom();
        var producerSpan = ActivitySpanId.CreateRandom();
        using (var producer = KafkaClients.Producer(Cluster.BootstrapServers))
        {
            var e = Events.Fill("O-traced", eventId: $"traced-{Guid.NewGuid():N}");
            producer.Produce(topics.Input, new() { Key = Encoding.UTF8.GetBytes("O-traced"), Value = KafkaClients.Json(e),
                Headers = new() { { "traceparent", Encoding.ASCII.GetBytes($"00-{traceId.ToHexString()}-{producerSpan.ToHexString()}-01") } } });
            KafkaClients.Produce(producer, topics.Input, "O-plain", KafkaClients.Json(Events.Fill("O-plain", eventId: $"plain-{Guid.NewGuid():N}")));
            producer.Flush(TimeSpan.FromSeconds(30));
        }

        var output = await KafkaClients.ReadAsync(Cluster.BootstrapServers, [topics.Output("portfolio_management")], r => r.Count >= 2);
        var traced = output.Single(r => Encoding.UTF8.GetString(r.Message.Key!) == "O-traced");
        var plain = output.Single(r => Encoding.UTF8.GetString(r.Message.Key!) == "O-plain");
        var header = KafkaClients.Header(traced, "traceparent");

        Activity? ingest = null, publish = null;
        await Eventually.WaitUntilAsync(() =>
        {
            lock (spans)
            {
                ingest = spans.FirstOrDefault(s => s.Kind == ActivityKind.Consumer && s.TraceId == traceId);
                publish = spans.FirstOrDefault(s => s.Kind == ActivityKind.Producer && s.TraceId == traceId);
            }

            return ingest is not null && publish is not null;
        }, "the ingest and publish spans are exported");

        Assert.Multiple(() =>
        {
            Assert.That(ingest!.ParentSpanId, Is.EqualTo(producerSpan), "ingest continues the record's span");
            Assert.That(ingest.GetTagItem("messaging.destination.name"), Is.EqualTo(topics.Input));
            Assert.That(publish!.ParentSpanId, Is.EqualTo(ingest.SpanId), "publish is under ingest");
            Assert.That(header, Is.EqualTo($"00-{traceId.ToHexString()}-{publish.SpanId.ToHexString()}-01"), "the output carries the publish span");
            Assert.That(plain.Message.Headers is null || !plain.Message.Headers.TryGetLastBytes("traceparent", out _), Is.True, "a record without a traceparent starts none");
        });
    }
}
