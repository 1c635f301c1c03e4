namespace ExecutionDistribution.Kafka;

/// <summary>
/// Where the Kafka clients connect: the configured brokers, or the embedded broker this host started.
/// Resolved once at start, before the ingest and output services start.
/// </summary>
internal sealed class KafkaConnection : IHostedService, IDisposable
{
    private readonly KafkaOptions _options;
    private readonly ILogger<KafkaConnection> _logger;
    private EmbeddedKafkaCluster? _embedded;
    private LoopbackForwarder? _forwarder;
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public KafkaConnection(Microsoft.Extensions.Options.IOptions<KafkaOptions> options, ILogger<KafkaConnection> logger)
    {
        _options = options.Value;
        _logger = logger;
    }

    /// <summary>The bootstrap list the clients use.</summary>
    public string BootstrapServers { get; private set; } = string.Empty;

    /// <summary>
    /// Completes with <see cref="BootstrapServers"/> once the brokers are known and, when embedded,
    /// listening with their topics created. A client started by another hosted service (the demo feed's
    /// producer) waits on it: hosted services start one after another, but a background service's
    /// loop runs beside the ones that start after it.
    /// </summary>
    public Task<string> WhenReady => _ready.Task;

    /// <summary>The embedded broker, when this host runs one.</summary>
    public EmbeddedKafkaCluster? Embedded => _embedded;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!string.IsNullOrWhiteSpace(_options.BootstrapServers))
        {
            BootstrapServers = _options.BootstrapServers;
            _ready.TrySetResult(BootstrapServers);
            return Task.CompletedTask;
        }

        _embedded = EmbeddedKafkaCluster.Start(_options.Embedded.Brokers);
        string[] topics = [.. _options.InputTopics, _options.DeadLetterTopic, _options.UnroutedOutputTopic];
        foreach (var topic in topics)
        {
            _embedded.CreateTopic(topic, topic == _options.DeadLetterTopic ? _options.Embedded.DeadLetterPartitions : _options.Embedded.Partitions);
        }

        BootstrapServers = _embedded.BootstrapServers;
        if (_options.Embedded.Port > 0)
        {
            _forwarder = new LoopbackForwarder(_options.Embedded.Port, BootstrapServers.Split(',')[0]);
            BootstrapServers = $"127.0.0.1:{_forwarder.Port}";
        }

        KafkaLog.EmbeddedStarted(_logger, BootstrapServers, string.Join(", ", topics));
        _ready.TrySetResult(BootstrapServers);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _ready.TrySetCanceled(CancellationToken.None); // a waiter of a start that never came
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        Interlocked.Exchange(ref _forwarder, null)?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Interlocked.Exchange(ref _embedded, null)?.Dispose();
    }
}
