namespace ExecutionDistribution.Hosting;

/// <summary>
/// A command for the other instances of the cluster: what changed, by kind and key (a managed
/// subscription paused, updated or deleted through one instance ends its stream on whichever
/// instance has it). Commands of one key keep their order; the newest per key is kept (a compacted topic).
/// </summary>
/// <param name="Kind">What the key names: <c>subscription</c>.</param>
/// <param name="Key">Which one: a subscription id.</param>
/// <param name="Action">What happened to it: <c>changed</c> or <c>deleted</c>.</param>
public sealed record ClusterCommand(string Kind, string Key, string Action);

/// <summary>
/// Tells the other instances of the cluster about a change, and hears theirs: the Kafka module's
/// control topic, which every instance reads; without Kafka, one instance is the whole cluster and
/// nothing travels.
/// </summary>
public interface IClusterCommands
{
    /// <summary>Sends <paramref name="command"/> to every other instance (never back to this one).</summary>
    void Publish(ClusterCommand command);

    /// <summary>Runs <paramref name="handler"/> for each command of <paramref name="kind"/> another instance publishes.</summary>
    void On(string kind, Func<ClusterCommand, CancellationToken, Task> handler);
}

/// <summary>One instance alone: there is no one to tell.</summary>
internal sealed class SingleInstanceCommands : IClusterCommands
{
    public void Publish(ClusterCommand command)
    {
        // No other instance.
    }

    public void On(string kind, Func<ClusterCommand, CancellationToken, Task> handler)
    {
        // Nothing will come.
    }
}
