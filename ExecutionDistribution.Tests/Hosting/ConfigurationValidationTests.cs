using ExecutionDistribution.Tests.Support;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Tests.Hosting;

/// <summary>Every option is validated at start with a message naming the bad key.</summary>
[Category("Unit")]
public sealed class ConfigurationValidationTests
{
    [TestCase("--Distribution:SubscriberBufferCapacity=0", "Distribution:SubscriberBufferCapacity")]
    [TestCase("--Distribution:RetainedLogMaxAge=-00:01:00", "Distribution:RetainedLogMaxAge")]
    [TestCase("--Distribution:SubscriberBufferBudgetBytes=-1", "Distribution:SubscriberBufferBudgetBytes")]
    [TestCase("--Distribution:MaxSubscribers=0", "Distribution:MaxSubscribers")]
    [TestCase("--Distribution:SourceIndexCapacity=-1", "Distribution:SourceIndexCapacity")]
    [TestCase("--Ingest:MaxBatchSize=0", "Ingest:MaxBatchSize")]
    [TestCase("--Ingest:PublishTimeout=00:00:00", "Ingest:PublishTimeout")]
    [TestCase("--DemoFeed:EventsPerSecond=0", "DemoFeed:EventsPerSecond")]
    [TestCase("--Kafka:OutputTopicTemplate=fixed", "Kafka:OutputTopicTemplate")]
    [TestCase("--Kafka:SessionTimeout=00:00:00", "Kafka:SessionTimeout")]
    [TestCase("--Kafka:FetchWaitMax=00:00:00", "Kafka:FetchWaitMax")]
    [TestCase("--Kafka:InputTopics:0=bad topic", "Kafka:InputTopics:0")]
    [TestCase("--Kafka:DeadLetterTopic=dlq/1", "Kafka:DeadLetterTopic")]
    [TestCase("--WebSocket:MaxEventsPerFrame=0", "WebSocket:MaxEventsPerFrame")]
    [TestCase("--Grpc:DefaultEventsPerMessage=5000", "Grpc:DefaultEventsPerMessage")]
    [TestCase("--Postgres:Schema=Bad-Name", "Postgres:Schema")]
    [TestCase("--Postgres:StartupTimeout=00:00:00", "Postgres:StartupTimeout")]
    [TestCase("--Redis:ExecStatusTtl=00:00:00", "Redis:ExecStatusTtl")]
    [TestCase("--Redis:FillsTtl=400.00:00:00", "Redis:FillsTtl")]
    [TestCase("--Audit:BatchSize=0", "Audit:BatchSize")]
    [TestCase("--Audit:QueueCapacity=10", "Audit:QueueCapacity")]
    [TestCase("--Audit:FlushInterval=00:00:00", "Audit:FlushInterval")]
    [TestCase("--Audit:Local:MaxBytes=5", "Audit:Local:MaxBytes")]
    public void A_bad_setting_fails_start_up_naming_the_key(string setting, string key)
    {
        var app = ExecDistApplication.Build([.. ServiceHost.FreePorts, "--Kafka:Enabled=false", setting]);

        var ex = Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());

        Assert.That(ex!.Message, Does.Contain(key));
    }

    [Test]
    public void A_setting_of_the_wrong_type_fails_start_up_naming_the_key()
    {
        var app = ExecDistApplication.Build([.. ServiceHost.FreePorts, "--Kafka:Enabled=false", "--Distribution:IngestQueueCapacity=lots"]);

        var ex = Assert.CatchAsync(() => app.StartAsync());

        Assert.That(ex!.ToString(), Does.Contain("Distribution:IngestQueueCapacity"));
    }
}
