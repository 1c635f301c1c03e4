using Confluent.Kafka;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Ingest.Demo;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Kafka;

/// <summary>
/// Demo events go to the first input topic, keyed by order id, like a real producer's. The producer
/// is made once the brokers are ready (<see cref="KafkaConnection.WhenReady"/>), and every delivery
/// is reported: while the latest report is a failure, health says the feed cannot publish.
/// </summary>
internal sealed class KafkaDemoFeedSink(KafkaConnection connection, IOptions<KafkaOptions> options, TimeProvider time) : IDemoFeedSink, IHealthCheck, IDisposable
{
    private IProducer<byte[], byte[]>? _producer;
    private Action<DeliveryReport<byte[], byte[]>>? _onDelivered;
    private long _delivered;
    private long _failed;
    private long _lastSuccess;
    private long _lastFailure;
    private string? _lastError;

    public async ValueTask PublishAsync(ExecutionEvent e, CancellationToken cancellationToken)
    {
        if (_producer is null)
        {
            var servers = await connection.WhenReady.WaitAsync(cancellationToken).ConfigureAwait(false);
            _onDelivered = OnDelivered;
            _producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
            {
                BootstrapServers = servers,
                LingerMs = 5,
                EnableIdempotence = true,
            }).Build();
        }

        var message = new Message<byte[], byte[]>
        {
            Key = System.Text.Encoding.UTF8.GetBytes(e.OrderId ?? e.EventId),
            Value = e.EnvelopeJson.ToArray(),
        };
        while (true)
        {
            try
            {
                _producer.Produce(options.Value.InputTopics[0], message, _onDelivered);
                return;
            }
            catch (ProduceException<byte[], byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
            {
                await Task.Delay(5, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    // On the producer's delivery-report thread.
    private void OnDelivered(DeliveryReport<byte[], byte[]> report)
    {
        if (report.Error.IsError)
        {
            Volatile.Write(ref _lastError, report.Error.Reason);
            Interlocked.Increment(ref _failed);
            Interlocked.Exchange(ref _lastFailure, time.GetTimestamp());
        }
        else
        {
            Interlocked.Increment(ref _delivered);
            Interlocked.Exchange(ref _lastSuccess, time.GetTimestamp());
        }
    }

    /// <summary>Unhealthy while the latest delivery report is a failure.</summary>
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object> { ["delivered"] = Interlocked.Read(ref _delivered), ["failed"] = Interlocked.Read(ref _failed) };
        return Task.FromResult(Interlocked.Read(ref _lastFailure) > Interlocked.Read(ref _lastSuccess)
            ? HealthCheckResult.Unhealthy($"the demo feed cannot publish to {options.Value.InputTopics[0]}: {Volatile.Read(ref _lastError)}", data: data)
            : HealthCheckResult.Healthy(data: data));
    }

    // Registered as itself and as IDemoFeedSink, so the container disposes it twice: only the first counts.
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _producer, null) is { } producer)
        {
            producer.Flush(TimeSpan.FromSeconds(5));
            producer.Dispose();
        }
    }
}
