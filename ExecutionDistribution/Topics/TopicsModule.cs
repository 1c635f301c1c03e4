using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Topics;

/// <summary>A topic of the spec's execution_topics table.</summary>
/// <param name="Id">UUID, generated.</param>
/// <param name="TopicName">Unique, 1-200 characters (e.g. <c>execution/fills/processed</c>).</param>
/// <param name="DataType">The data type it carries.</param>
/// <param name="Partitions">Partitions (at least 1).</param>
/// <param name="RetentionPolicy">How long it is kept, e.g. <c>7d</c>, <c>12h</c>.</param>
/// <param name="LatencyRequirementMs">Distribution latency it requires, in ms.</param>
/// <param name="Enabled">False once disabled.</param>
/// <param name="CreatedAt">When created, UTC.</param>
public sealed record ExecutionTopic(Guid Id, string TopicName, string DataType, int Partitions, string RetentionPolicy, int LatencyRequirementMs, bool Enabled, DateTime CreatedAt);

/// <summary>
/// Registers the topic statistics. Execution topics are stored in PostgreSQL's execution_topics (or in
/// memory in the embedded run; the Persistence module chooses); <c>Api/TopicsApi.cs</c> serves them.
/// </summary>
internal static class TopicsModule
{
    public static WebApplicationBuilder AddTopicsModule(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<TopicStatsCollector>();
        if (Hosting.ClusterOptions.From(builder.Configuration).Processes)
        {
            // Counted once per event cluster-wide: a gateway leaves it to the processors.
            builder.Services.AddHostedService(sp => sp.GetRequiredService<TopicStatsCollector>());
        }
        return builder;
    }
}
