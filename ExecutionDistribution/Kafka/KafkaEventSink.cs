using Confluent.Kafka;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Ingest;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Kafka;

/// <summary>
/// Events published to this instance (REST ingest, the demo feed) go to the first input topic, keyed
/// by order id like a real producer's, so every instance of the cluster reads them (this one too,
/// through its ingest). REST waits for Kafka's acknowledgement of each event before it answers. The
/// producer is made once the brokers are ready (<see cref="KafkaConnection.WhenReady"/>), and every
/// delivery is reported: while the latest report is a failure, health says it cannot publish.
/// </summary>
internal sealed class KafkaEventSink(KafkaConnection connection, IOptions<KafkaOptions> options, TimeProvider time) : IEventSink, IHealthCheck, IDisposable
{
    private IProducer<byte[], byte[]>? _producer;
    private Action<DeliveryReport<byte[], byte[]>>? _onDelivered;
    private long _delivered;
    private long _failed;
    private long _lastSuccess;
    private long _lastFailure;
    private string? _lastError;

    private readonly SemaphoreSlim _creating = new(1, 1);

    public async ValueTask PublishAsync(ExecutionEvent e, CancellationToken cancellationToken) =>
        await ProduceAsync(e, _onDelivered ??= OnDelivered, cancellationToken).ConfigureAwait(false);

    public async Task<int> PublishAcknowledgedAsync(IReadOnlyList<ExecutionEvent> events, CancellationToken cancellationToken)
    {
        var acknowledged = new Task<bool>[events.Count];
        var produced = 0;
        try
        {
            for (; produced < events.Count; produced++)
            {
                var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                acknowledged[produced] = done.Task;
                await ProduceAsync(events[produced], report =>
                {
                    OnDelivered(report);
                    done.TrySetResult(!report.Error.IsError);
                }, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Kafka's queue stayed full: what was produced is still counted once acknowledged.
        }

        // The events taken are the acknowledged prefix (the idempotent producer keeps their order).
        var taken = 0;
        try
        {
            while (taken < produced && await acknowledged[taken].WaitAsync(cancellationToken).ConfigureAwait(false))
            {
                taken++;
            }
        }
        catch (OperationCanceledException)
        {
            // Not acknowledged in time: the client sends the rest again (event ids make a repeat harmless).
        }

        return taken;
    }

    private async ValueTask ProduceAsync(ExecutionEvent e, Action<DeliveryReport<byte[], byte[]>> onDelivered, CancellationToken cancellationToken)
    {
        var producer = _producer ?? await CreateAsync(cancellationToken).ConfigureAwait(false);
        var message = new Message<byte[], byte[]>
        {
            Key = System.Text.Encoding.UTF8.GetBytes(e.OrderId ?? e.EventId),
            Value = e.EnvelopeJson.ToArray(),
        };
        while (true)
        {
            try
            {
                producer.Produce(options.Value.InputTopics[0], message, onDelivered);
                return;
            }
            catch (ProduceException<byte[], byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
            {
                await Task.Delay(5, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task<IProducer<byte[], byte[]>> CreateAsync(CancellationToken cancellationToken)
    {
        var servers = await connection.WhenReady.WaitAsync(cancellationToken).ConfigureAwait(false);
        await _creating.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return _producer ??= new ProducerBuilder<byte[], byte[]>(new ProducerConfig
            {
                BootstrapServers = servers,
                LingerMs = 5,
                EnableIdempotence = true,
            }).Build();
        }
        finally
        {
            _creating.Release();
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
            ? HealthCheckResult.Unhealthy($"events published here cannot be written to {options.Value.InputTopics[0]}: {Volatile.Read(ref _lastError)}", data: data)
            : HealthCheckResult.Healthy(data: data));
    }

    // Registered as itself and as IEventSink, so the container disposes it twice: only the first counts.
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _producer, null) is { } producer)
        {
            producer.Flush(TimeSpan.FromSeconds(5));
            producer.Dispose();
        }
    }
}
