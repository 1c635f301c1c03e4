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

/// <summary>Options of the instance's place in a cluster (section <c>Cluster</c>).</summary>
public sealed class ClusterOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Cluster";

    /// <summary><c>all</c> (default), <c>processor</c> or <c>gateway</c>; the last two need a shared Kafka (<c>Kafka:BootstrapServers</c>).</summary>
    public ClusterRole Role { get; set; } = ClusterRole.All;

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
        return builder;
    }

    private sealed class ClusterOptionsValidator(IConfiguration configuration) : IValidateOptions<ClusterOptions>
    {
        public ValidateOptionsResult Validate(string? name, ClusterOptions options)
        {
            var kafkaOff = string.Equals(configuration["Kafka:Enabled"], "false", StringComparison.OrdinalIgnoreCase);
            return options.Role != ClusterRole.All && (kafkaOff || string.IsNullOrWhiteSpace(configuration["Kafka:BootstrapServers"]))
                ? ValidateOptionsResult.Fail(
                    $"Cluster:Role {options.Role.ToString().ToLowerInvariant()} needs a Kafka every instance shares (Kafka:Enabled and Kafka:BootstrapServers): " +
                    "an embedded broker is one process's own")
                : ValidateOptionsResult.Success;
        }
    }
}
