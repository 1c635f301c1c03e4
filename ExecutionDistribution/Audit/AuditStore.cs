using Dapper;
using ExecutionDistribution.Persistence;
using Npgsql;
using NpgsqlTypes;

namespace ExecutionDistribution.Audit;

/// <summary>What GET /api/v1/audit asks for; at least one of event, order or a time range.</summary>
/// <param name="EventId">Rows of this event.</param>
/// <param name="OrderId">Rows of this order's events.</param>
/// <param name="SubscriptionId">Rows of this subscription.</param>
/// <param name="From">Rows at or after this time, UTC.</param>
/// <param name="To">Rows before this time, UTC.</param>
/// <param name="Limit">Most rows returned, oldest first.</param>
public sealed record AuditQuery(string? EventId, string? OrderId, string? SubscriptionId, DateTime? From, DateTime? To, int Limit)
{
    /// <summary>True when <paramref name="r"/> matches.</summary>
    public bool Matches(AuditRecord r) =>
        (EventId is null || r.EventId == EventId)
        && (OrderId is null || r.OrderId == OrderId)
        && (SubscriptionId is null || r.SubscriptionId == SubscriptionId)
        && (From is null || r.CreatedAt >= From)
        && (To is null || r.CreatedAt < To);
}

/// <summary>Where audit rows are finally stored and found.</summary>
internal interface IAuditStore
{
    /// <summary>True when rows go to a database (else the spill file is the audit).</summary>
    bool IsDatabase { get; }

    /// <summary>
    /// Stores rows, all or none. With <paramref name="mayRepeat"/> (a replay of spilled rows) rows
    /// already stored (same id) are skipped, so a replay never writes a row twice; without it the rows
    /// are new and a repeated id fails the whole batch (which is then spilled and replayed).
    /// </summary>
    Task WriteAsync(IReadOnlyList<AuditRecord> records, bool mayRepeat, CancellationToken cancellationToken);

    /// <summary>Finds rows.</summary>
    Task<IReadOnlyList<AuditRecord>> QueryAsync(AuditQuery query, CancellationToken cancellationToken);
}

/// <summary>
/// The audit in PostgreSQL's distribution_audit. New rows go in with one binary COPY per batch (measured
/// about twice as fast as a multi-row INSERT here, docs/benchmarks.md W6); replayed rows with one
/// <c>INSERT ... SELECT FROM unnest(...) ON CONFLICT (id) DO NOTHING</c>.
/// </summary>
internal sealed class PostgresAuditStore(PostgresDatabase db) : IAuditStore
{
    public bool IsDatabase => true;

    public Task WriteAsync(IReadOnlyList<AuditRecord> records, bool mayRepeat, CancellationToken cancellationToken) =>
        mayRepeat ? InsertSkippingStoredAsync(records, cancellationToken) : CopyAsync(records, cancellationToken);

    private async Task CopyAsync(IReadOnlyList<AuditRecord> records, CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var import = await c.BeginBinaryImportAsync(
            "COPY distribution_audit (id, event_id, topic_name, routing_key, delivery_status, delivery_time_ms, retry_count, created_at, order_id, subscription_id) FROM STDIN (FORMAT BINARY)",
            cancellationToken).ConfigureAwait(false);
        // Synchronous writes: they only fill Npgsql's buffer and flush when it is full (this is the one
        // background writer, not a request thread); the per-value async calls cost a third of the rate.
        foreach (var r in records)
        {
            import.StartRow();
            import.Write(r.Id, NpgsqlDbType.Uuid);
            import.Write(r.EventId, NpgsqlDbType.Varchar);
            import.Write(r.TopicName, NpgsqlDbType.Varchar);
            import.Write(r.RoutingKey, NpgsqlDbType.Varchar);
            import.Write(r.DeliveryStatus, NpgsqlDbType.Varchar);
            WriteNullable(import, r.DeliveryTimeMs, NpgsqlDbType.Double);
            import.Write(r.RetryCount, NpgsqlDbType.Integer);
            import.Write(r.CreatedAt, NpgsqlDbType.TimestampTz);
            WriteNullable(import, r.OrderId, NpgsqlDbType.Varchar);
            WriteNullable(import, r.SubscriptionId, NpgsqlDbType.Varchar);
        }

        await import.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void WriteNullable<T>(NpgsqlBinaryImporter import, T? value, NpgsqlDbType type)
    {
        if (value is null)
        {
            import.WriteNull();
        }
        else
        {
            import.Write(value, type);
        }
    }

    private async Task InsertSkippingStoredAsync(IReadOnlyList<AuditRecord> records, CancellationToken cancellationToken)
    {
        var n = records.Count;
        var ids = new Guid[n];
        var events = new string[n];
        var topics = new string[n];
        var keys = new string[n];
        var statuses = new string[n];
        var times = new double?[n];
        var retries = new int[n];
        var created = new DateTime[n];
        var orders = new string?[n];
        var subscriptions = new string?[n];
        for (var i = 0; i < n; i++)
        {
            var r = records[i];
            (ids[i], events[i], topics[i], keys[i], statuses[i], times[i], retries[i], created[i], orders[i], subscriptions[i]) =
                (r.Id, r.EventId, r.TopicName, r.RoutingKey, r.DeliveryStatus, r.DeliveryTimeMs, r.RetryCount, r.CreatedAt, r.OrderId, r.SubscriptionId);
        }

        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        await c.ExecuteAsync(new CommandDefinition("""
            INSERT INTO distribution_audit (id, event_id, topic_name, routing_key, delivery_status, delivery_time_ms, retry_count, created_at, order_id, subscription_id)
            SELECT * FROM unnest(@ids, @events, @topics, @keys, @statuses, @times::double precision[], @retries, @created, @orders::varchar[], @subscriptions::varchar[])
            ON CONFLICT (id) DO NOTHING
            """, new { ids, events, topics, keys, statuses, times, retries, created, orders, subscriptions }, cancellationToken: cancellationToken)).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<AuditRecord>> QueryAsync(AuditQuery q, CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await c.QueryAsync<AuditRow>(new CommandDefinition("""
            SELECT id AS Id, event_id AS EventId, topic_name AS TopicName, routing_key AS RoutingKey, delivery_status AS DeliveryStatus,
                   delivery_time_ms AS DeliveryTimeMs, retry_count AS RetryCount, created_at AS CreatedAt, order_id AS OrderId, subscription_id AS SubscriptionId
            FROM distribution_audit
            WHERE (@EventId::varchar IS NULL OR event_id = @EventId)
              AND (@OrderId::varchar IS NULL OR order_id = @OrderId)
              AND (@SubscriptionId::varchar IS NULL OR subscription_id = @SubscriptionId)
              AND (@From::timestamptz IS NULL OR created_at >= @From)
              AND (@To::timestamptz IS NULL OR created_at < @To)
            ORDER BY created_at, id
            LIMIT @Limit
            """, q, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return [.. rows.Select(r => new AuditRecord(r.Id, r.EventId, r.TopicName, r.RoutingKey, r.DeliveryStatus, r.DeliveryTimeMs, r.RetryCount,
            DateTime.SpecifyKind(r.CreatedAt, DateTimeKind.Utc), r.OrderId, r.SubscriptionId))];
    }

    private sealed class AuditRow
    {
        public Guid Id { get; set; }

        public string EventId { get; set; } = string.Empty;

        public string TopicName { get; set; } = string.Empty;

        public string RoutingKey { get; set; } = string.Empty;

        public string DeliveryStatus { get; set; } = string.Empty;

        public double? DeliveryTimeMs { get; set; }

        public int RetryCount { get; set; }

        public DateTime CreatedAt { get; set; }

        public string? OrderId { get; set; }

        public string? SubscriptionId { get; set; }
    }
}

/// <summary>No database: the spill file is the audit, and queries scan it.</summary>
internal sealed class FileAuditStore(AuditSpillFile file) : IAuditStore
{
    public bool IsDatabase => false;

    public Task WriteAsync(IReadOnlyList<AuditRecord> records, bool mayRepeat, CancellationToken cancellationToken)
    {
        file.Append(records);
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<AuditRecord>> QueryAsync(AuditQuery query, CancellationToken cancellationToken)
    {
        var found = new List<AuditRecord>();
        foreach (var chunk in file.Read(4_096))
        {
            found.AddRange(chunk.Where(query.Matches));
        }

        return Task.FromResult<IReadOnlyList<AuditRecord>>([.. found.OrderBy(r => r.CreatedAt).ThenBy(r => r.Id).Take(query.Limit)]);
    }
}
