using ExecutionDistribution.Ingest.Demo;
using ExecutionDistribution.Kafka;
using ExecutionDistribution.Tests.Support;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Tests.Kafka;

/// <summary>Nothing produces before the broker it uses is ready, and the service is not healthy before it can consume.</summary>
[Category("Kafka")]
public sealed class StartupOrderTests
{
    [Test]
    public async Task The_demo_feed_waits_for_the_embedded_broker_and_then_publishes()
    {
        var topic = $"demo-{Guid.NewGuid():N}";
        var options = Options.Create(new KafkaOptions { InputTopics = [topic] });
        using var connection = new KafkaConnection(options, NullLogger<KafkaConnection>.Instance);
        using var sink = new KafkaEventSink(connection, options, TimeProvider.System);

        // The demo feed's loop can run before the connection's hosted service has started the broker.
        var publish = sink.PublishAsync(new SyntheticExecutionStream(7).Next(), CancellationToken.None).AsTask();
        Assert.That(publish.IsCompleted, Is.False, "the first event waits for the broker");

        await connection.StartAsync(CancellationToken.None);
        await publish.WaitAsync(TimeSpan.FromSeconds(30));
        await Eventually.WaitUntilAsync(() => Delivered(sink) == 1, "the event reaches the broker");

        var health = await sink.CheckHealthAsync(new HealthCheckContext());
        Assert.That(health.Status, Is.EqualTo(HealthStatus.Healthy));
    }

    [Test]
    public async Task The_readme_first_command_ingests_the_demo_feed_through_the_embedded_broker()
    {
        // The embedded run with the demo feed, as README's first command starts it.
        await using var host = await ServiceHost.StartAsync("--Kafka:Enabled=true", "--DemoFeed:Enabled=true", "--DemoFeed:EventsPerSecond=500");

        await Eventually.WaitUntilAsync(() => host.Core.GetStats().Ingested >= 200, "demo events are consumed from the input topic", TimeSpan.FromSeconds(60));
        await Eventually.WaitUntilAsync(() => host.Health().StartsWith("200", StringComparison.Ordinal), "healthy once partitions are assigned");
    }

    [Test]
    public async Task The_embedded_broker_gives_the_dead_letter_topic_its_own_partition_count_so_it_keeps_more()
    {
        var topic = $"demo-{Guid.NewGuid():N}";
        var options = Options.Create(new KafkaOptions { InputTopics = [topic], DeadLetterTopic = $"{topic}.dlq", Embedded = new EmbeddedKafkaOptions { Partitions = 3, DeadLetterPartitions = 7 } });
        using var connection = new KafkaConnection(options, NullLogger<KafkaConnection>.Instance);
        await connection.StartAsync(CancellationToken.None);

        using var admin = new Confluent.Kafka.AdminClientBuilder(new Confluent.Kafka.AdminClientConfig { BootstrapServers = connection.BootstrapServers }).Build();
        var metadata = admin.GetMetadata(TimeSpan.FromSeconds(10));
        Assert.That(metadata.Topics.Single(t => t.Topic == $"{topic}.dlq").Partitions, Has.Count.EqualTo(7));
        Assert.That(metadata.Topics.Single(t => t.Topic == topic).Partitions, Has.Count.EqualTo(3));
    }

    private static long Delivered(KafkaEventSink sink) =>
        (long)sink.CheckHealthAsync(new HealthCheckContext()).GetAwaiter().GetResult().Data["delivered"];
}
