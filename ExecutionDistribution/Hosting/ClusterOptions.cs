using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Hosting;

/// <summary>What an instance does in a cluster of identical instances on Kafka (section <c>Cluster</c>).</summary>
public enum ClusterRole
{
    /// <summary>Everything in one process: the work done once per event and serving clients. A single instance.</summary>
    All,

    /// <summary>
    /// The work done once per event cluster-wide, shared by the consumer group (each partition on one
    /// processor): dead letters, the order-state projection and its writes, the execution_distributed
    /// output, topic statistics. Serves no streams.
    /// </summary>
    Processor,

    /// <summary>Serves clients: reads every partition of the input topics by assignment (no group) and routes to its own connections.</summary>
    Gateway,
}

/// <summary>Where a gateway starts reading the input partitions.</summary>
public enum GatewayStart
{
    /// <summary>Each partition's end at start: what arrives from then on.</summary>
    End,

    /// <summary>Each partition's oldest record Kafka holds.</summary>
    Beginning,
}

/// <summary>Options of the instance's place in a cluster (section <c>Cluster</c>).</summary>
public sealed class ClusterOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Cluster";

    /// <summary><c>all</c> (default), <c>processor</c> or <c>gateway</c>; the last two need a shared Kafka (<c>Kafka:BootstrapServers</c>).</summary>
    public ClusterRole Role { get; set; } = ClusterRole.All;

    /// <summary>
    /// How long a stopping instance (SIGTERM) takes to drain: readiness turns unhealthy at once, every
    /// stream is ended with its resume token (gRPC Unavailable with the token in the trailers; WebSocket
    /// a <c>reconnect</c> frame with the tokens, then close 1012) so its client resumes on another
    /// instance; then the process exits. Between 1 s and 5 min.
    /// </summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The Kafka topic every instance reads for the others' commands (a managed subscription changed or
    /// deleted through another instance). Compacted (<c>cleanup.policy=compact</c>): the newest command
    /// per key is kept.
    /// </summary>
    public string ControlTopic { get; set; } = "execdist.control";

    /// <summary>
    /// Where a gateway starts reading each partition: <c>End</c> (default: what arrives from now on; a
    /// client resuming from earlier is re-read from Kafka by its token) or <c>Beginning</c> (everything
    /// the topic holds, so the retained log is warm with the newest events once it has caught up).
    /// </summary>
    public GatewayStart GatewayStart { get; set; } = GatewayStart.End;

    /// <summary>
    /// A name of this instance that stays the same across its restarts (for example the pod's name of a
    /// StatefulSet), or empty (default). Set on a processor (or <c>all</c>), it joins the consumer group
    /// as a static member (<c>group.instance.id</c>): a restart within <c>Kafka:SessionTimeout</c> gets
    /// its partitions back with no rebalance of the others. Letters, digits, '.', '_' and '-', at most 249.
    /// Two running instances must never share one (Kafka fences the older).
    /// </summary>
    public string? InstanceId { get; set; }

    /// <summary>Does this instance do the work done once per event (the consumer group's)?</summary>
    public bool Processes => Role != ClusterRole.Gateway;

    /// <summary>Does this instance serve streams to clients?</summary>
    public bool ServesClients => Role != ClusterRole.Processor;

    /// <summary>Reads the options from configuration, as the modules need them to decide what to register.</summary>
    public static ClusterOptions From(IConfiguration configuration) =>
        configuration.GetSection(SectionName).Get<ClusterOptions>() ?? new ClusterOptions();
}

/// <summary>What the roles tell clients.</summary>
internal static class ClusterRoles
{
    /// <summary>Why a processor refuses a stream.</summary>
    public const string NoStreamsHere = "this instance is a processor (Cluster:Role): it serves no streams; connect to a gateway of the cluster";
}

/// <summary>Binds and validates <see cref="ClusterOptions"/>: a role other than <c>all</c> needs a Kafka the instances share.</summary>
internal static class ClusterRegistration
{
    public static WebApplicationBuilder AddClusterOptions(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IValidateOptions<ClusterOptions>>(new ClusterOptionsValidator(builder.Configuration));
        builder.Services.AddOptions<ClusterOptions>().Bind(builder.Configuration.GetSection(ClusterOptions.SectionName)).ValidateOnStart();

        // The host waits for the drain, and for the stores' last writes after it.
        var drain = ClusterOptions.From(builder.Configuration).DrainTimeout;
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = drain + TimeSpan.FromSeconds(20));
        builder.Services.AddHealthChecks().AddCheck<DrainCheck>("drain", tags: [Health.Ready, Health.ReadyOnly]);
        builder.Services.AddSingleton<IClusterCommands, SingleInstanceCommands>(); // the Kafka module's control topic replaces it
        return builder;
    }

    /// <summary>Not ready from the moment the instance begins to stop: a load balancer sends no new client here.</summary>
    private sealed class DrainCheck(IHostApplicationLifetime lifetime) : Microsoft.Extensions.Diagnostics.HealthChecks.IHealthCheck
    {
        public Task<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult> CheckHealthAsync(
            Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(lifetime.ApplicationStopping.IsCancellationRequested
                ? Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Unhealthy("draining: the instance is stopping; its clients reconnect elsewhere with their resume tokens")
                : Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Healthy());
    }

    private sealed class ClusterOptionsValidator(IConfiguration configuration) : IValidateOptions<ClusterOptions>
    {
        public ValidateOptionsResult Validate(string? name, ClusterOptions options)
        {
            if (options.DrainTimeout < TimeSpan.FromSeconds(1) || options.DrainTimeout > TimeSpan.FromMinutes(5))
            {
                return ValidateOptionsResult.Fail($"Cluster:DrainTimeout must be between 00:00:01 and 00:05:00 (was {options.DrainTimeout})");
            }

            if (!string.IsNullOrEmpty(options.InstanceId) && (options.InstanceId.Length > 249 || !options.InstanceId.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')))
            {
                return ValidateOptionsResult.Fail($"Cluster:InstanceId must be at most 249 letters, digits, '.', '_' or '-' (was '{options.InstanceId}')");
            }

            var kafkaOff = string.Equals(configuration["Kafka:Enabled"], "false", StringComparison.OrdinalIgnoreCase);
            return options.Role != ClusterRole.All && (kafkaOff || string.IsNullOrWhiteSpace(configuration["Kafka:BootstrapServers"]))
                ? ValidateOptionsResult.Fail(
                    $"Cluster:Role {options.Role.ToString().ToLowerInvariant()} needs a Kafka every instance shares (Kafka:Enabled and Kafka:BootstrapServers): " +
                    "an embedded broker is one process's own")
                : ValidateOptionsResult.Success;
        }
    }
}
