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

    private readonly Core.FanOutDispatcher? _core;

    public KafkaConnection(Microsoft.Extensions.Options.IOptions<KafkaOptions> options, ILogger<KafkaConnection> logger, Core.FanOutDispatcher? core = null)
    {
        _options = options.Value;
        _logger = logger;
        _core = core;
    }

    /// <summary>The Kafka cluster's id, read at start: the epoch of every resume token (<see cref="Core.FanOutDispatcher.TokenEpoch"/>).</summary>
    public string ClusterId { get; private set; } = string.Empty;

    /// <summary>How long the start waits for the cluster to say its id.</summary>
    internal static readonly TimeSpan ClusterIdTimeout = TimeSpan.FromSeconds(30);

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
            UseClusterEpoch();
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
        UseClusterEpoch();
        _ready.TrySetResult(BootstrapServers);
        return Task.CompletedTask;
    }

    // Resume tokens carry the cluster's identity: a token of another cluster (or of a recreated one) is
    // recognised, and every instance of this one issues and accepts the same.
    private void UseClusterEpoch()
    {
        ClusterId = EmbeddedKafkaCluster.QueryClusterId(BootstrapServers, ClusterIdTimeout)
            ?? throw new InvalidOperationException(
                $"Kafka at {BootstrapServers} (Kafka:BootstrapServers) did not say its cluster id within {ClusterIdTimeout.TotalSeconds:0} s; resume tokens are made of it, so the service cannot start without it");
        if (_core is not null)
        {
            _core.TokenEpoch = new Guid(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("execdist-cluster:" + ClusterId)).AsSpan(0, 16));
        }

        KafkaLog.ClusterIdentified(_logger, ClusterId);
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
