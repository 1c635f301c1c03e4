using Dapper;
using ExecutionDistribution.Topics;
using Npgsql;

namespace ExecutionDistribution.Persistence;

/// <summary>Topics in the spec's execution_topics table.</summary>
internal sealed class PostgresTopicStore(PostgresDatabase db) : ITopicStore
{
    private const string Columns = """
        id AS Id, topic_name AS TopicName, data_type AS DataType, partitions AS Partitions, retention_policy AS RetentionPolicy,
        latency_requirement_ms AS LatencyRequirementMs, enabled AS Enabled, created_at AS CreatedAt
        """;

    public async Task<bool> TryAddAsync(ExecutionTopic topic, CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        var added = await c.ExecuteAsync(new CommandDefinition("""
            INSERT INTO execution_topics (id, topic_name, data_type, partitions, retention_policy, latency_requirement_ms, enabled, created_at)
            VALUES (@Id, @TopicName, @DataType, @Partitions, @RetentionPolicy, @LatencyRequirementMs, @Enabled, @CreatedAt)
            ON CONFLICT (topic_name) DO NOTHING
            """, topic, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return added == 1;
    }

    public async Task PutAsync(ExecutionTopic topic, CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        await c.ExecuteAsync(new CommandDefinition("""
            UPDATE execution_topics SET data_type = @DataType, partitions = @Partitions, retention_policy = @RetentionPolicy,
                latency_requirement_ms = @LatencyRequirementMs, enabled = @Enabled
            WHERE topic_name = @TopicName
            """, topic, cancellationToken: cancellationToken)).ConfigureAwait(false);
    }

    public async Task<ExecutionTopic?> GetAsync(string name, CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await c.QuerySingleOrDefaultAsync<ExecutionTopic>(new CommandDefinition(
            $"SELECT {Columns} FROM execution_topics WHERE topic_name = @name", new { name }, cancellationToken: cancellationToken)).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<ExecutionTopic>> ListAsync(CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await c.QueryAsync<ExecutionTopic>(new CommandDefinition(
            $"SELECT {Columns} FROM execution_topics ORDER BY topic_name", cancellationToken: cancellationToken)).ConfigureAwait(false);
        return [.. rows];
    }
}

/// <summary>Helpers shared by the PostgreSQL stores.</summary>
internal static class PostgresErrors
{
    /// <summary>True for errors that mean PostgreSQL could not be reached or used (retry later), not bad SQL.</summary>
    public static bool IsTransient(Exception ex) => ex switch
    {
        NpgsqlException { IsTransient: true } => true,
        NpgsqlException { InnerException: System.Net.Sockets.SocketException or IOException or TimeoutException } => true,
        PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState.StartsWith("57P", StringComparison.Ordinal),
        System.Net.Sockets.SocketException or IOException or TimeoutException => true,
        _ => false,
    };
}
