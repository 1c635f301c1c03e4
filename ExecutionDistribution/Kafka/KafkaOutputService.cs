using System.Text;
using Confluent.Kafka;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Kafka;

/// <summary>
/// Publishes the spec's <c>execution_distributed</c> event for every distributed event, once per
/// target workflow (topic <c>Kafka:OutputTopicTemplate</c>), keyed by order_id so per-order order
/// holds, through an idempotent producer. It is an at_least_once subscriber of the dispatch core
/// like any other, attached before Kafka ingest starts, so it sees every ingested event. The event's
/// bytes are serialized once and shared by every workflow's copy. A failed publish is retried until
/// Kafka takes it; until then the input offset is not committed.
/// </summary>
internal sealed class KafkaOutputService : IHostedService, IDisposable
{
    /// <summary>The subscriber id the output uses in the core.</summary>
    public const string SubscriberId = "kafka-output";

    private readonly KafkaOptions _options;
    private readonly KafkaConnection _connection;
    private readonly FanOutDispatcher _core;
    private readonly ILogger<KafkaOutputService> _logger;
    private readonly OutputReleases _releases;
    private readonly Dictionary<string, string> _topicByWorkflow = new(StringComparer.Ordinal);
    private IProducer<byte[], byte[]>? _producer;
    private Subscriber? _subscriber;
    private Task? _loop;
    private long _published;
    private long _failed;

    public KafkaOutputService(IOptions<KafkaOptions> options, KafkaConnection connection, FanOutDispatcher core, ILogger<KafkaOutputService> logger, OutputReleases releases)
    {
        _releases = releases;
        _options = options.Value;
        _connection = connection;
        _core = core;
        _logger = logger;
    }

    /// <summary>Records acknowledged by Kafka.</summary>
    public long Published => Interlocked.Read(ref _published);

    /// <summary>Output records Kafka refused (each is tried again until taken).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
        {
            BootstrapServers = _connection.BootstrapServers,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 5,
            BatchNumMessages = 10_000,
            QueueBufferingMaxMessages = 1_000_000,
        }).SetErrorHandler((_, e) => KafkaLog.ClientError(_logger, e.Reason)).Build();

        // Subscribe now, synchronously, so that no event ingested after start is missed.
        _subscriber = _core.Subscribe(SubscriberId, SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce);
        _loop = Task.Run(RunAsync, CancellationToken.None);
        KafkaLog.OutputStarted(_logger, _options.OutputTopicTemplate);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_subscriber is not null)
        {
            _core.Unsubscribe(_subscriber);
        }

        if (_loop is not null)
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(false);
        }

        _producer?.Flush(TimeSpan.FromSeconds(5));
    }

    public void Dispose()
    {
        // Registered as a singleton and as a hosted service: the container may dispose it twice.
        Interlocked.Exchange(ref _producer, null)?.Dispose();
    }

    private async Task RunAsync()
    {
        var subscriber = _subscriber!;
        var batch = new DeliveryBatch(256);
        while (await subscriber.WaitToReadAsync().ConfigureAwait(false))
        {
            var index = 0;
            try
            {
                while (subscriber.TryReadBatch(batch))
                {
                    for (index = 0; index < batch.Count; index++)
                    {
                        await PublishAsync(batch.Deliveries[index].Event).ConfigureAwait(false);
                    }
                }
            }
            catch (Exception ex) when (ex is KafkaException or InvalidOperationException or ArgumentException)
            {
                // Never stop silently (the input's safe point would stop with it): log, wait, and publish
                // the rest of the batch again; duplicates keep their event_id.
                Interlocked.Increment(ref _failed);
                KafkaLog.PublishFailed(_logger, _options.OutputTopicTemplate, ex.Message);
                await Task.Delay(1_000).ConfigureAwait(false);
                for (; index < batch.Count; index++)
                {
                    await PublishAsync(batch.Deliveries[index].Event).ConfigureAwait(false);
                }
            }
        }
    }

    private async ValueTask PublishAsync(ExecutionEvent e)
    {
        var workflows = e.Routing.TargetWorkflows;
        var copies = Math.Max(1, workflows.Length);
        if (e.IsReread)
        {
            // A re-read copy starts with nothing pending: it counts its own outputs, then releases the ingested event's.
            Interlocked.Add(ref e.PendingOutputs, copies);
        }
        else if (e.Source is not null && copies > 1)
        {
            Interlocked.Add(ref e.PendingOutputs, copies - 1);
        }

        var key = Encoding.UTF8.GetBytes(e.OrderId ?? e.Venue ?? e.EventId);
        var message = new Message<byte[], byte[]> { Key = key, Value = e.DistributedJson(), Headers = KafkaTracing.Publish(e) };
        if (workflows.Length == 0)
        {
            await ProduceAsync(_options.UnroutedOutputTopic, message, e, 0).ConfigureAwait(false);
            return;
        }

        foreach (var workflow in workflows)
        {
            await ProduceAsync(TopicFor(workflow), message, e, 0).ConfigureAwait(false);
        }
    }

    private async ValueTask ProduceAsync(string topic, Message<byte[], byte[]> message, ExecutionEvent e, int attempt)
    {
        while (true)
        {
            try
            {
                _producer!.Produce(topic, message, report => OnDelivered(report, topic, message, e, attempt));
                return;
            }
            catch (ProduceException<byte[], byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
            {
                // The producer's queue is full: wait for Kafka to take what is queued (back-pressure).
                await Task.Delay(5).ConfigureAwait(false);
            }
        }
    }

    private void OnDelivered(DeliveryReport<byte[], byte[]> report, string topic, Message<byte[], byte[]> message, ExecutionEvent e, int attempt)
    {
        if (report.Error.IsError)
        {
            Interlocked.Increment(ref _failed);
            KafkaLog.PublishFailed(_logger, topic, report.Error.Reason);
            _ = RetryAsync(topic, message, e, attempt + 1);
            return;
        }

        Interlocked.Increment(ref _published);
        if (e.Source is { } source && Interlocked.Decrement(ref e.PendingOutputs) == 0 && e.IsReread)
        {
            _releases.Release(source);
        }
    }

    private async Task RetryAsync(string topic, Message<byte[], byte[]> message, ExecutionEvent e, int attempt)
    {
        await Task.Delay(Math.Min(100 << Math.Min(attempt, 6), 5_000)).ConfigureAwait(false);
        await ProduceAsync(topic, message, e, attempt).ConfigureAwait(false);
    }

    private string TopicFor(string workflow)
    {
        if (!_topicByWorkflow.TryGetValue(workflow, out var topic))
        {
            topic = _options.OutputTopicTemplate.Replace("{workflow}", workflow, StringComparison.Ordinal);
            _topicByWorkflow[workflow] = topic;
        }

        return topic;
    }
}
