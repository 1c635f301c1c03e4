using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Confluent.Kafka;
using ExecutionDistribution.Hosting;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Kafka;

/// <summary>
/// The cluster's commands on a Kafka topic every instance reads (<c>Cluster:ControlTopic</c>,
/// compacted: the newest command per key is kept): a record per command, keyed <c>kind/key</c> so one
/// key's commands stay in order, with the publishing instance in a header so it skips its own. Each
/// instance reads every partition by assignment from the end at start (what changed before is in the
/// stores it loads), on a thread of its own; a handler runs on the thread pool, one command at a time.
/// </summary>
internal sealed partial class KafkaControlChannel(KafkaConnection connection, IOptions<ClusterOptions> cluster, ILogger<KafkaControlChannel> logger)
    : IClusterCommands, IHostedService, IDisposable
{
    private const string InstanceHeader = "execdist.instance";
    private readonly byte[] _instance = Encoding.UTF8.GetBytes(Guid.NewGuid().ToString("N"));
    private readonly ConcurrentDictionary<string, Func<ClusterCommand, CancellationToken, Task>> _handlers = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private IProducer<string, byte[]>? _producer;
    private Thread? _thread;
    private int _disposed;

    private string Topic => cluster.Value.ControlTopic;

    public void On(string kind, Func<ClusterCommand, CancellationToken, Task> handler) => _handlers[kind] = handler;

    public void Publish(ClusterCommand command)
    {
        if (_producer is not { } producer)
        {
            LogNotStarted(logger, command.Kind, command.Key);
            return;
        }

        var message = new Message<string, byte[]>
        {
            Key = $"{command.Kind}/{command.Key}",
            Value = JsonSerializer.SerializeToUtf8Bytes(command, ControlJson.Default.ClusterCommand),
            Headers = new Headers { { InstanceHeader, _instance } },
        };
        producer.Produce(Topic, message, report =>
        {
            if (report.Error.IsError)
            {
                LogPublishFailed(logger, command.Kind, command.Key, report.Error.Reason);
            }
        });
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        connection.Embedded?.CreateTopic(Topic, 1);
        _producer = new ProducerBuilder<string, byte[]>(new ProducerConfig
        {
            BootstrapServers = connection.BootstrapServers,
            LingerMs = 5,
            EnableIdempotence = true,
        }).Build();
        _thread = new Thread(Listen) { IsBackground = true, Name = "execdist-control" };
        _thread.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping.Cancel();
        _thread?.Join(TimeSpan.FromSeconds(5));
        _producer?.Flush(TimeSpan.FromSeconds(5));
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _stopping.Cancel();
        _thread?.Join(TimeSpan.FromSeconds(5));
        _producer?.Dispose();
        _stopping.Dispose();
    }

    // Until stopped: assign every partition from its end (again after a failure, with backoff), and hand each other instance's command to its handler.
    private void Listen()
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                using var consumer = new ConsumerBuilder<string, byte[]>(new ConsumerConfig
                {
                    BootstrapServers = connection.BootstrapServers,
                    GroupId = $"execdist-control-{Guid.NewGuid():N}", // never joined: assigned, nothing committed
                    EnableAutoCommit = false,
                }).Build();
                consumer.Assign(EndOfEveryPartition(consumer));
                LogListening(logger, Topic);
                while (!_stopping.IsCancellationRequested)
                {
                    var record = consumer.Consume(TimeSpan.FromMilliseconds(200));
                    if (record is not null && !record.IsPartitionEOF && !FromThisInstance(record.Message.Headers))
                    {
                        Handle(record.Message.Value);
                    }
                }

                return;
            }
            catch (Exception ex) when (!_stopping.IsCancellationRequested)
            {
                LogListenFailed(logger, Topic, ex.Message);
                _stopping.Token.WaitHandle.WaitOne(backoff);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            }
        }
    }

    private List<TopicPartitionOffset> EndOfEveryPartition(IConsumer<string, byte[]> consumer)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = connection.BootstrapServers }).Build();
        var metadata = admin.GetMetadata(Topic, TimeSpan.FromSeconds(10)).Topics.Single();
        if (metadata.Error.IsError || metadata.Partitions.Count == 0)
        {
            throw new KafkaException(metadata.Error.IsError ? metadata.Error : new Error(ErrorCode.UnknownTopicOrPart, $"topic {Topic} has no partitions"));
        }

        return [.. metadata.Partitions.Select(p =>
        {
            var partition = new TopicPartition(Topic, p.PartitionId);
            return new TopicPartitionOffset(partition, consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10)).High);
        })];
    }

    private bool FromThisInstance(Headers? headers) =>
        headers is not null && headers.TryGetLastBytes(InstanceHeader, out var instance) && instance.AsSpan().SequenceEqual(_instance);

    private void Handle(byte[]? value)
    {
        ClusterCommand? command;
        try
        {
            command = value is null ? null : JsonSerializer.Deserialize(value, ControlJson.Default.ClusterCommand);
        }
        catch (JsonException ex)
        {
            LogUnreadable(logger, Topic, ex.Message);
            return;
        }

        if (command is null || !_handlers.TryGetValue(command.Kind, out var handler))
        {
            return;
        }

        // In order per key would need a queue per key; one at a time keeps every key's order.
        try
        {
            handler(command, _stopping.Token).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogHandlerFailed(logger, command.Kind, command.Key, ex.Message);
        }
    }

    [LoggerMessage(3012, LogLevel.Information, "Reading the cluster's commands on {Topic}")]
    private static partial void LogListening(ILogger logger, string topic);

    [LoggerMessage(3013, LogLevel.Warning, "Reading the cluster's commands on {Topic} failed ({Reason}); trying again")]
    private static partial void LogListenFailed(ILogger logger, string topic, string reason);

    [LoggerMessage(3014, LogLevel.Warning, "A cluster command for {Kind} {Key} could not be published: {Reason}; other instances learn of the change when they next read it")]
    private static partial void LogPublishFailed(ILogger logger, string kind, string key, string reason);

    [LoggerMessage(3015, LogLevel.Warning, "A cluster command for {Kind} {Key} failed here: {Reason}")]
    private static partial void LogHandlerFailed(ILogger logger, string kind, string key, string reason);

    [LoggerMessage(3016, LogLevel.Warning, "A record on {Topic} is not a cluster command: {Reason}")]
    private static partial void LogUnreadable(ILogger logger, string topic, string reason);

    [LoggerMessage(3017, LogLevel.Warning, "A cluster command for {Kind} {Key} came before the control channel started; not sent")]
    private static partial void LogNotStarted(ILogger logger, string kind, string key);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ClusterCommand))]
internal sealed partial class ControlJson : JsonSerializerContext;
