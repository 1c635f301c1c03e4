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
    public bool Matches(in AuditRecord r) =>
        (EventId is null || r.EventId == EventId)
        && (OrderId is null || r.OrderId == OrderId)
        && (SubscriptionId is null || r.SubscriptionId == SubscriptionId)
        && (From is null || r.CreatedAt >= From)
        && (To is null || r.CreatedAt < To);
}

/// <summary>Where audit rows are finally stored and found.</summary>
internal interface IAuditStore
{
    /// <summary>True when rows go to a database (else the local segments are the audit).</summary>
    bool IsDatabase { get; }

    /// <summary>
    /// Stores rows, all or none; false when the store is full and holds them back (the local store
    /// under back-pressure). With <paramref name="mayRepeat"/> (a replay of spilled rows) rows already
    /// stored (same id) are skipped, so a replay never writes a row twice; without it the rows are new
    /// and a repeated id fails the whole batch (which is then spilled and replayed).
    /// </summary>
    Task<bool> WriteAsync(IReadOnlyList<AuditRow> rows, bool mayRepeat, CancellationToken cancellationToken);

    /// <summary>Finds delivery outcomes.</summary>
    Task<IReadOnlyList<AuditRecord>> QueryAsync(AuditQuery query, CancellationToken cancellationToken);
}

/// <summary>
/// The audit in PostgreSQL: event rows and single outcomes in the spec's distribution_audit, streams in
/// audit_streams, ranges in delivery_ranges. New rows go in with one binary COPY per table, in one
/// transaction per batch; replayed rows are copied into temporary tables and inserted from there
/// <c>ON CONFLICT (id) DO NOTHING</c>.
/// </summary>
internal sealed class PostgresAuditStore(PostgresDatabase db) : IAuditStore
{
    private const string AuditColumns = "id, event_id, topic_name, routing_key, delivery_status, delivery_time_ms, retry_count, created_at, order_id, subscription_id, log_epoch, log_position, ingested_at, event_json, portfolio_id";
    private const string StreamColumns = "stream_id, subscription_id, delivery_guarantee, filter, log_epoch, created_at, caller";
    private const string RangeColumns = "id, stream_id, subscription_id, delivery_status, retry_count, log_epoch, first_position, last_position, first_sequence, last_sequence, events, created_at";

    public bool IsDatabase => true;

    public async Task<bool> WriteAsync(IReadOnlyList<AuditRow> rows, bool mayRepeat, CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await CopyAsync(c, "distribution_audit", AuditColumns, rows.Where(r => r.Kind is AuditRowKind.Event or AuditRowKind.Single), WriteAuditRow, mayRepeat, cancellationToken).ConfigureAwait(false);
        await CopyAsync(c, "audit_streams", StreamColumns, rows.Where(r => r.Kind == AuditRowKind.Stream), WriteStream, mayRepeat, cancellationToken).ConfigureAwait(false);
        await CopyAsync(c, "delivery_ranges", RangeColumns, rows.Where(r => r.Kind == AuditRowKind.Range), WriteRange, mayRepeat, cancellationToken).ConfigureAwait(false);
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }

    // One binary COPY of the rows into `table` (through a temporary table, skipping stored ids, when they may repeat).
    private static async Task CopyAsync(
        NpgsqlConnection c, string table, string columns, IEnumerable<AuditRow> rows, Action<NpgsqlBinaryImporter, AuditRow> write, bool mayRepeat, CancellationToken cancellationToken)
    {
        using var each = rows.GetEnumerator();
        if (!each.MoveNext())
        {
            return;
        }

        var target = table;
        if (mayRepeat)
        {
            target = $"replay_{table}";
            await c.ExecuteAsync($"CREATE TEMP TABLE IF NOT EXISTS {target} (LIKE {table}) ON COMMIT DELETE ROWS").ConfigureAwait(false);
        }

        await using (var import = await c.BeginBinaryImportAsync($"COPY {target} ({columns}) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false))
        {
            // Synchronous writes: they only fill Npgsql's buffer (this is the one background writer, not a request thread).
            do
            {
                import.StartRow();
                write(import, each.Current);
            }
            while (each.MoveNext());
            await import.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }

        if (mayRepeat)
        {
            var key = table == "audit_streams" ? "stream_id" : "id";
            await c.ExecuteAsync($"INSERT INTO {table} ({columns}) SELECT {columns} FROM {target} ON CONFLICT ({key}) DO NOTHING").ConfigureAwait(false);
        }
    }

    private static void WriteAuditRow(NpgsqlBinaryImporter import, AuditRow r)
    {
        import.Write(r.Id, NpgsqlDbType.Uuid);
        import.Write(r.EventId!, NpgsqlDbType.Varchar);
        import.Write(r.TopicName!, NpgsqlDbType.Varchar);
        import.Write(r.RoutingKey!, NpgsqlDbType.Varchar);
        import.Write(r.Status!, NpgsqlDbType.Varchar);
        Nullable(import, r.DeliveryTimeMs, NpgsqlDbType.Double);
        import.Write(r.RetryCount, NpgsqlDbType.Integer);
        import.Write(r.CreatedAt, NpgsqlDbType.TimestampTz);
        Nullable(import, r.OrderId, NpgsqlDbType.Varchar);
        Nullable(import, r.SubscriptionId, NpgsqlDbType.Varchar);
        var isEvent = r.Kind == AuditRowKind.Event;
        Nullable<Guid?>(import, isEvent ? r.Epoch : null, NpgsqlDbType.Uuid);
        Nullable<long?>(import, isEvent ? r.FirstPosition : null, NpgsqlDbType.Bigint);
        Nullable(import, r.IngestedAt, NpgsqlDbType.TimestampTz);
        Nullable(import, r.JsonText, NpgsqlDbType.Json);
        Nullable(import, r.Portfolio, NpgsqlDbType.Varchar);
    }

    private static void WriteStream(NpgsqlBinaryImporter import, AuditRow r)
    {
        import.Write(r.StreamId, NpgsqlDbType.Uuid);
        import.Write(r.SubscriptionId!, NpgsqlDbType.Varchar);
        import.Write(r.Status!, NpgsqlDbType.Varchar);
        import.Write(r.Text!, NpgsqlDbType.Json);
        import.Write(r.Epoch, NpgsqlDbType.Uuid);
        import.Write(r.CreatedAt, NpgsqlDbType.TimestampTz);
        Nullable(import, r.Caller, NpgsqlDbType.Varchar);
    }

    private static void WriteRange(NpgsqlBinaryImporter import, AuditRow r)
    {
        import.Write(r.Id, NpgsqlDbType.Uuid);
        import.Write(r.StreamId, NpgsqlDbType.Uuid);
        import.Write(r.SubscriptionId!, NpgsqlDbType.Varchar);
        import.Write(r.Status!, NpgsqlDbType.Varchar);
        import.Write(r.RetryCount, NpgsqlDbType.Integer);
        import.Write(r.Epoch, NpgsqlDbType.Uuid);
        import.Write(r.FirstPosition, NpgsqlDbType.Bigint);
        import.Write(r.LastPosition, NpgsqlDbType.Bigint);
        import.Write(r.FirstSequence, NpgsqlDbType.Bigint);
        import.Write(r.LastSequence, NpgsqlDbType.Bigint);
        import.Write(r.Count, NpgsqlDbType.Integer);
        import.Write(r.CreatedAt, NpgsqlDbType.TimestampTz);
    }

    private static void Nullable<T>(NpgsqlBinaryImporter import, T? value, NpgsqlDbType type)
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

    public async Task<IReadOnlyList<AuditRecord>> QueryAsync(AuditQuery q, CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        var singles = await c.QueryAsync<Row>(new CommandDefinition($"""
            SELECT {Select} FROM distribution_audit
            WHERE subscription_id IS NOT NULL
              AND (@EventId::varchar IS NULL OR event_id = @EventId)
              AND (@OrderId::varchar IS NULL OR order_id = @OrderId)
              AND (@SubscriptionId::varchar IS NULL OR subscription_id = @SubscriptionId)
              AND (@From::timestamptz IS NULL OR created_at >= @From)
              AND (@To::timestamptz IS NULL OR created_at < @To)
            ORDER BY created_at, id LIMIT @Limit
            """, q, cancellationToken: cancellationToken)).ConfigureAwait(false);

        IEnumerable<Row> events, ranges;
        if (q.EventId is not null || q.OrderId is not null)
        {
            // The events asked for, then the ranges that cover their positions (GiST on the position range).
            events = (await c.QueryAsync<Row>(new CommandDefinition($"""
                SELECT {Select} FROM distribution_audit
                WHERE subscription_id IS NULL AND (@EventId::varchar IS NULL OR event_id = @EventId) AND (@OrderId::varchar IS NULL OR order_id = @OrderId)
                """, q, cancellationToken: cancellationToken)).ConfigureAwait(false)).ToList();
            ranges = await c.QueryAsync<Row>(new CommandDefinition("""
                SELECT DISTINCT r.id AS Id, r.stream_id AS StreamId, r.subscription_id AS SubscriptionId, r.delivery_status AS Status, r.retry_count AS RetryCount,
                       r.log_epoch AS Epoch, r.first_position AS FirstPosition, r.last_position AS LastPosition, r.first_sequence AS FirstSequence,
                       r.last_sequence AS LastSequence, r.events AS Count, r.created_at AS CreatedAt
                FROM delivery_ranges r JOIN unnest(@epochs, @positions) AS e(epoch, pos)
                  ON r.log_epoch = e.epoch AND int8range(r.first_position, r.last_position, '[]') @> e.pos
                WHERE (@sub::varchar IS NULL OR r.subscription_id = @sub)
                """, new { epochs = events.Select(e => e.Epoch ?? Guid.Empty).ToArray(), positions = events.Select(e => e.FirstPosition ?? -1).ToArray(), sub = q.SubscriptionId },
                cancellationToken: cancellationToken)).ConfigureAwait(false);
        }
        else
        {
            // A time range: the ranges written in it (each names at least one audited event), then the events they cover.
            ranges = (await c.QueryAsync<Row>(new CommandDefinition("""
                SELECT id AS Id, stream_id AS StreamId, subscription_id AS SubscriptionId, delivery_status AS Status, retry_count AS RetryCount,
                       log_epoch AS Epoch, first_position AS FirstPosition, last_position AS LastPosition, first_sequence AS FirstSequence,
                       last_sequence AS LastSequence, events AS Count, created_at AS CreatedAt
                FROM delivery_ranges
                WHERE created_at >= @From AND created_at < @To AND (@SubscriptionId::varchar IS NULL OR subscription_id = @SubscriptionId)
                ORDER BY created_at, id LIMIT @Limit
                """, q, cancellationToken: cancellationToken)).ConfigureAwait(false)).ToList();
            events = await c.QueryAsync<Row>(new CommandDefinition($"""
                SELECT DISTINCT ON (id) {Select} FROM distribution_audit a
                JOIN unnest(@epochs, @firsts, @lasts) AS r(epoch, first, last) ON a.log_epoch = r.epoch AND a.log_position BETWEEN r.first AND r.last
                WHERE a.subscription_id IS NULL
                """, new { epochs = ranges.Select(r => r.Epoch ?? Guid.Empty).ToArray(), firsts = ranges.Select(r => r.FirstPosition ?? 0).ToArray(), lasts = ranges.Select(r => r.LastPosition).ToArray() },
                cancellationToken: cancellationToken)).ConfigureAwait(false);
        }

        var streamIds = ranges.Select(r => r.StreamId).Distinct().ToArray();
        var streams = await c.QueryAsync<Row>(new CommandDefinition("""
            SELECT stream_id AS StreamId, subscription_id AS SubscriptionId, filter::text AS Text, log_epoch AS Epoch, created_at AS CreatedAt, caller AS Caller
            FROM audit_streams WHERE stream_id = ANY(@streamIds)
            """, new { streamIds }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return new AuditResolver(streams.Select(r => r.ToRow(AuditRowKind.Stream)))
            .Resolve(q, events.Select(r => r.ToRow(AuditRowKind.Event)), ranges.Select(r => r.ToRow(AuditRowKind.Range)), singles.Select(r => r.ToRow(AuditRowKind.Single)));
    }

    private const string Select = """
        id AS Id, event_id AS EventId, topic_name AS TopicName, routing_key AS RoutingKey, delivery_status AS Status, delivery_time_ms AS DeliveryTimeMs,
        retry_count AS RetryCount, created_at AS CreatedAt, order_id AS OrderId, subscription_id AS SubscriptionId, log_epoch AS Epoch,
        log_position AS FirstPosition, ingested_at AS IngestedAt, event_json::text AS Text, portfolio_id AS Portfolio
        """;

    private sealed class Row
    {
        public Guid Id { get; set; }

        public string? EventId { get; set; }

        public string? TopicName { get; set; }

        public string? RoutingKey { get; set; }

        public string? Status { get; set; }

        public double? DeliveryTimeMs { get; set; }

        public int RetryCount { get; set; }

        public DateTime CreatedAt { get; set; }

        public string? OrderId { get; set; }

        public string? SubscriptionId { get; set; }

        public Guid? Epoch { get; set; }

        public long? FirstPosition { get; set; }

        public long LastPosition { get; set; }

        public Guid StreamId { get; set; }

        public long FirstSequence { get; set; }

        public long LastSequence { get; set; }

        public int Count { get; set; }

        public DateTime? IngestedAt { get; set; }

        public string? Text { get; set; }

        public string? Portfolio { get; set; }

        public string? Caller { get; set; }

        public AuditRow ToRow(AuditRowKind kind) => new(kind, Id, Utc(CreatedAt)!.Value, EventId, TopicName, RoutingKey, OrderId, SubscriptionId, Status, RetryCount, DeliveryTimeMs,
            Epoch ?? Guid.Empty, FirstPosition ?? 0, kind == AuditRowKind.Event ? FirstPosition ?? 0 : LastPosition, StreamId, FirstSequence, LastSequence, Count, Text, Utc(IngestedAt),
            Portfolio: Portfolio, Caller: Caller);

        private static DateTime? Utc(DateTime? value) => value is { } v ? DateTime.SpecifyKind(v, DateTimeKind.Utc) : null;
    }
}

/// <summary>No database: the local segments are the audit, and queries read them.</summary>
internal sealed class FileAuditStore(AuditSegments segments) : IAuditStore
{
    public bool IsDatabase => false;

    public Task<bool> WriteAsync(IReadOnlyList<AuditRow> rows, bool mayRepeat, CancellationToken cancellationToken) => Task.FromResult(segments.TryAppend(rows));

    public Task<IReadOnlyList<AuditRecord>> QueryAsync(AuditQuery query, CancellationToken cancellationToken)
    {
        List<AuditRow> events = [], ranges = [], streams = [], singles = [];
        foreach (var chunk in segments.Read(4_096))
        {
            foreach (var r in chunk)
            {
                switch (r.Kind)
                {
                    case AuditRowKind.Event when (query.EventId is null || r.EventId == query.EventId) && (query.OrderId is null || r.OrderId == query.OrderId):
                        events.Add(r);
                        break;
                    case AuditRowKind.Range:
                        ranges.Add(r);
                        break;
                    case AuditRowKind.Stream:
                        streams.Add(r);
                        break;
                    case AuditRowKind.Single:
                        singles.Add(r);
                        break;
                }
            }
        }

        return Task.FromResult<IReadOnlyList<AuditRecord>>(new AuditResolver(streams).Resolve(query, events, ranges, singles));
    }
}
