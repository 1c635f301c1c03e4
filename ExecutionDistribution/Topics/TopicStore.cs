using System.Collections.Concurrent;

namespace ExecutionDistribution.Topics;

/// <summary>Where topics live: PostgreSQL's execution_topics, or memory in the embedded run.</summary>
internal interface ITopicStore
{
    /// <summary>Adds a topic; false when its name is taken.</summary>
    Task<bool> TryAddAsync(ExecutionTopic topic, CancellationToken cancellationToken);

    /// <summary>Replaces a topic by name.</summary>
    Task PutAsync(ExecutionTopic topic, CancellationToken cancellationToken);

    /// <summary>A topic by name, or null.</summary>
    Task<ExecutionTopic?> GetAsync(string name, CancellationToken cancellationToken);

    /// <summary>Every topic, by name.</summary>
    Task<IReadOnlyList<ExecutionTopic>> ListAsync(CancellationToken cancellationToken);
}

/// <summary>The topics in memory (no PostgreSQL configured).</summary>
internal sealed class InMemoryTopicStore : ITopicStore
{
    private readonly ConcurrentDictionary<string, ExecutionTopic> _topics = new(StringComparer.Ordinal);

    public Task<bool> TryAddAsync(ExecutionTopic topic, CancellationToken cancellationToken) => Task.FromResult(_topics.TryAdd(topic.TopicName, topic));

    public Task PutAsync(ExecutionTopic topic, CancellationToken cancellationToken)
    {
        _topics[topic.TopicName] = topic;
        return Task.CompletedTask;
    }

    public Task<ExecutionTopic?> GetAsync(string name, CancellationToken cancellationToken) => Task.FromResult(_topics.GetValueOrDefault(name));

    public Task<IReadOnlyList<ExecutionTopic>> ListAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<ExecutionTopic>>([.. _topics.Values.OrderBy(t => t.TopicName, StringComparer.Ordinal)]);
}
