using System.Text;
using ExecutionDistribution.Tests.Hosting;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Kafka;

/// <summary>Kafka's side of <c>/metrics</c>: records ingested and dead-lettered, the consumer's lag per partition, the output produced.</summary>
[Category("Kafka")]
public sealed class KafkaMetricsTests : EmbeddedKafkaTestBase
{
    [Test]
    public async Task Metrics_count_kafka_records_by_result_and_give_the_lag_of_every_input_partition()
    {
        var topics = new KafkaTestTopics(Cluster, partitions: 3);
        await using var host = await ServiceHost.StartAsync(topics.HostSettings);
        using (var producer = KafkaClients.Producer(Cluster.BootstrapServers))
        {
            for (var i = 0; i < 20; i++)
            {
                KafkaClients.Produce(producer, topics.Input, $"O-{i}", KafkaClients.Json(Events.Fill($"O-{i}", eventId: $"km-{i}")));
            }

            KafkaClients.Produce(producer, topics.Input, "bad", Encoding.UTF8.GetBytes("{\"event_id\":1}"));
            producer.Flush(TimeSpan.FromSeconds(30));
        }

        MetricsTests.Metrics metrics = default;
        await Eventually.WaitUntilAsync(() =>
        {
            metrics = MetricsTests.Scrape(host);
            return metrics.Values.GetValueOrDefault("execdist_events_ingested_total{result=\"accepted\",source=\"kafka\"}") == 20
                && metrics.Values.GetValueOrDefault("execdist_events_ingested_total{result=\"dead_lettered\",source=\"kafka\"}") == 1
                && metrics.Values.GetValueOrDefault("execdist_kafka_output_records_total{result=\"produced\"}") >= 20
                && Enumerable.Range(0, 3).All(p => metrics.Values.ContainsKey($"execdist_kafka_consumer_lag{{partition=\"{p}\",topic=\"{topics.Input}\"}}"));
        }, "Kafka's records, output and lag are in /metrics");

        Assert.That(Enumerable.Range(0, 3).Select(p => metrics.Values[$"execdist_kafka_consumer_lag{{partition=\"{p}\",topic=\"{topics.Input}\"}}"]), Has.All.GreaterThanOrEqualTo(0));
        Assert.That(metrics.Types["execdist_kafka_consumer_lag"], Is.EqualTo("gauge"));
        Assert.That(metrics.Values["execdist_kafka_output_records_total{result=\"failed\"}"], Is.Zero);

        // Readiness counts Kafka's partitions and lag; /health leaves the lag out (behind is not broken).
        var ready = System.Text.Json.Nodes.JsonNode.Parse(await host.Client.GetStringAsync("/health/ready"))!["checks"]!.AsObject();
        Assert.That(ready.Select(c => c.Key), Is.SupersetOf(new[] { "kafka", "kafka-lag", "dispatcher" }));
        Assert.That((string?)ready["kafka-lag"]!["data"]!["partitions"], Is.EqualTo("3"));
    }
}
