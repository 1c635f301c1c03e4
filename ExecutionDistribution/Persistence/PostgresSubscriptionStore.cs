using Dapper;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Subscriptions;

namespace ExecutionDistribution.Persistence;

/// <summary>Subscriptions in the spec's execution_subscriptions, positions in subscription_positions.</summary>
internal sealed class PostgresSubscriptionStore(PostgresDatabase db) : ISubscriptionStore
{
    private const string Select = """
        SELECT s.subscription_id AS SubscriptionId, s.topic_name AS TopicName, s.subscriber_workflow AS SubscriberWorkflow,
               s.filters::text AS Filters, s.delivery_guarantee AS DeliveryGuarantee, s.status AS Status, s.created_at AS CreatedAt,
               p.resume_token AS ResumeToken, p.sequence AS Sequence, s.owner AS Owner
        FROM execution_subscriptions s LEFT JOIN subscription_positions p ON p.subscription_id = s.subscription_id
        """;

    public bool IsShared => true;

    public async Task<IReadOnlyList<StoredSubscription>> LoadAsync(CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await c.QueryAsync<StoredSubscription>(new CommandDefinition(Select + " ORDER BY s.subscription_id", cancellationToken: cancellationToken)).ConfigureAwait(false);
        return [.. rows];
    }

    public async Task<StoredSubscription?> LoadAsync(string subscriptionId, CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await c.QuerySingleOrDefaultAsync<StoredSubscription>(new CommandDefinition(
            Select + " WHERE s.subscription_id = @subscriptionId", new { subscriptionId }, cancellationToken: cancellationToken)).ConfigureAwait(false);
    }

    public async Task<bool> InsertAsync(ManagedSubscription s, CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var added = await c.ExecuteAsync(new CommandDefinition("""
            INSERT INTO execution_subscriptions (subscription_id, topic_name, subscriber_workflow, filters, delivery_guarantee, status, created_at, owner)
            VALUES (@SubscriptionId, @TopicName, @SubscriberWorkflow, @Filters::json, @Guarantee, @Status, @CreatedAt, @Owner)
            ON CONFLICT (subscription_id) DO NOTHING
            """, Row(s), tx, cancellationToken: cancellationToken)).ConfigureAwait(false);
        if (added == 1)
        {
            await SavePositionAsync(c, tx, s, cancellationToken).ConfigureAwait(false);
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return added == 1;
    }

    public async Task UpdateAsync(ManagedSubscription s, CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        await c.ExecuteAsync(new CommandDefinition("""
            UPDATE execution_subscriptions SET topic_name = @TopicName, subscriber_workflow = @SubscriberWorkflow, filters = @Filters::json,
                delivery_guarantee = @Guarantee, status = @Status
            WHERE subscription_id = @SubscriptionId
            """, Row(s), cancellationToken: cancellationToken)).ConfigureAwait(false);
    }

    public async Task DeleteAsync(string subscriptionId, CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        await c.ExecuteAsync(new CommandDefinition(
            "DELETE FROM execution_subscriptions WHERE subscription_id = @subscriptionId", new { subscriptionId }, cancellationToken: cancellationToken)).ConfigureAwait(false);
    }

    public async Task SavePositionsAsync(IReadOnlyList<ManagedSubscription> subscriptions, CancellationToken cancellationToken)
    {
        if (subscriptions.Count == 0)
        {
            return;
        }

        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        await c.ExecuteAsync(new CommandDefinition("""
            INSERT INTO subscription_positions (subscription_id, epoch, resume_token, offsets, sequence, updated_at)
            SELECT p.id, p.epoch, p.token, p.offsets::jsonb, p.sequence, now()
            FROM unnest(@ids, @epochs, @tokens, @offsets, @sequences) AS p(id, epoch, token, offsets, sequence)
            WHERE EXISTS (SELECT 1 FROM execution_subscriptions s WHERE s.subscription_id = p.id)
            ON CONFLICT (subscription_id) DO UPDATE SET epoch = excluded.epoch, resume_token = excluded.resume_token, offsets = excluded.offsets,
                sequence = excluded.sequence, updated_at = excluded.updated_at
            """, new
        {
            ids = subscriptions.Select(s => s.SubscriptionId).ToArray(),
            epochs = subscriptions.Select(s => s.Acknowledged.Epoch).ToArray(),
            tokens = subscriptions.Select(s => s.Acknowledged.Encode()).ToArray(),
            offsets = subscriptions.Select(s => StoredSubscription.OffsetsJson(s.Acknowledged)).ToArray(),
            sequences = subscriptions.Select(s => s.Acknowledged.Sequence).ToArray(),
        }, cancellationToken: cancellationToken)).ConfigureAwait(false);
    }

    private static async Task SavePositionAsync(Npgsql.NpgsqlConnection c, Npgsql.NpgsqlTransaction tx, ManagedSubscription s, CancellationToken cancellationToken) =>
        await c.ExecuteAsync(new CommandDefinition("""
            INSERT INTO subscription_positions (subscription_id, epoch, resume_token, offsets, sequence) VALUES (@id, @epoch, @token, @offsets::jsonb, @sequence)
            ON CONFLICT (subscription_id) DO UPDATE SET epoch = excluded.epoch, resume_token = excluded.resume_token, offsets = excluded.offsets,
                sequence = excluded.sequence, updated_at = now()
            """, new
            {
                id = s.SubscriptionId, epoch = s.Acknowledged.Epoch, token = s.Acknowledged.Encode(), offsets = StoredSubscription.OffsetsJson(s.Acknowledged),
                sequence = s.Acknowledged.Sequence,
            },
            tx, cancellationToken: cancellationToken)).ConfigureAwait(false);

    private static object Row(ManagedSubscription s) => new
    {
        s.SubscriptionId,
        s.TopicName,
        s.SubscriberWorkflow,
        Filters = StoredSubscription.FilterJson(s.Spec),
        Guarantee = s.Guarantee.Name(),
        s.Status,
        s.CreatedAt,
        s.Owner,
    };
}
