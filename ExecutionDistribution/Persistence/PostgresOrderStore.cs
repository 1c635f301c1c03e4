using Dapper;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Orders;
using Npgsql;

namespace ExecutionDistribution.Persistence;

/// <summary>
/// The order query side in PostgreSQL: every order update and fill is stored once by its id
/// (order_updates, fills), and each changed order's status, derived from all of its stored facts, is
/// written to orders with its version (the number of facts), never over a newer one. One writer (the
/// projection feeder) writes; REST lookups read.
/// </summary>
internal sealed class PostgresOrderStore(PostgresDatabase db, OrderStateProjection projection) : IOrderStore
{
    public async Task<IReadOnlyList<OrderChange>> WriteAsync(IReadOnlyList<ExecutionEvent> events, CancellationToken cancellationToken)
    {
        var updates = new List<(string EventId, OrderUpdate Update)>();
        var fills = new List<(string EventId, FillNotification Fill)>();
        foreach (var e in events)
        {
            switch (e.Data)
            {
                case OrderUpdate u:
                    updates.Add((e.EventId, u));
                    break;
                case FillNotification f:
                    fills.Add((e.EventId, f));
                    break;
            }
        }

        if (updates.Count == 0 && fills.Count == 0)
        {
            return [];
        }

        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        if (updates.Count > 0)
        {
            await c.ExecuteAsync(new CommandDefinition("""
                INSERT INTO order_updates (event_id, order_id, portfolio_id, instrument_id, side, order_type, order_qty, limit_price, time_in_force, exec_type, venue, reason, update_time, restatement_reason)
                SELECT * FROM unnest(@ids, @orders, @portfolios, @instruments, @sides, @types, @qtys, @limits::numeric[], @tifs, @execs, @venues, @reasons, @times, @restated)
                ON CONFLICT (event_id) DO NOTHING
                """, new
            {
                ids = updates.Select(u => u.EventId).ToArray(),
                orders = updates.Select(u => u.Update.OrderId).ToArray(),
                portfolios = updates.Select(u => u.Update.PortfolioId).ToArray(),
                instruments = updates.Select(u => u.Update.InstrumentId).ToArray(),
                sides = updates.Select(u => WireNames.Sides[(int)u.Update.Side]).ToArray(),
                types = updates.Select(u => WireNames.OrderTypes[(int)u.Update.OrderType]).ToArray(),
                qtys = updates.Select(u => u.Update.OrderQty).ToArray(),
                limits = updates.Select(u => u.Update.LimitPrice).ToArray(),
                tifs = updates.Select(u => WireNames.TimesInForce[(int)u.Update.TimeInForce]).ToArray(),
                execs = updates.Select(u => WireNames.OrderExecTypes[(int)u.Update.ExecType]).ToArray(),
                venues = updates.Select(u => u.Update.Venue).ToArray(),
                reasons = updates.Select(u => u.Update.Reason).ToArray(),
                times = updates.Select(u => u.Update.UpdateTime).ToArray(),
                restated = updates.Select(u => u.Update.RestatementReason is { } r ? WireNames.RestatementReasons[(int)r] : null).ToArray(),
            }, tx, cancellationToken: cancellationToken)).ConfigureAwait(false);
        }

        if (fills.Count > 0)
        {
            await c.ExecuteAsync(new CommandDefinition("""
                INSERT INTO fills (fill_id, order_id, instrument_id, side, quantity, price, venue, execution_time, commission, exec_type, ref_fill_id, portfolio_id, currency, event_id)
                SELECT * FROM unnest(@ids, @orders, @instruments, @sides, @qtys, @prices, @venues, @times, @commissions, @execs, @refs, @portfolios, @currencies, @events)
                ON CONFLICT (fill_id) DO NOTHING
                """, new
            {
                ids = fills.Select(f => f.Fill.FillId).ToArray(),
                orders = fills.Select(f => f.Fill.OrderId).ToArray(),
                instruments = fills.Select(f => f.Fill.InstrumentId).ToArray(),
                sides = fills.Select(f => f.Fill.Side is { } s ? WireNames.Sides[(int)s] : null).ToArray(),
                qtys = fills.Select(f => f.Fill.Quantity).ToArray(),
                prices = fills.Select(f => f.Fill.Price).ToArray(),
                venues = fills.Select(f => f.Fill.Venue).ToArray(),
                times = fills.Select(f => f.Fill.ExecutionTime).ToArray(),
                commissions = fills.Select(f => f.Fill.Commission).ToArray(),
                execs = fills.Select(f => WireNames.FillExecTypes[(int)f.Fill.ExecType]).ToArray(),
                refs = fills.Select(f => f.Fill.RefFillId).ToArray(),
                portfolios = fills.Select(f => f.Fill.PortfolioId).ToArray(),
                currencies = fills.Select(f => f.Fill.Currency).ToArray(),
                events = fills.Select(f => f.EventId).ToArray(),
            }, tx, cancellationToken: cancellationToken)).ConfigureAwait(false);
        }

        var touched = updates.Select(u => u.Update.OrderId).Concat(fills.Select(f => f.Fill.OrderId)).Distinct(StringComparer.Ordinal).ToArray();
        var facts = await LoadFactsAsync(c, tx, touched, cancellationToken).ConfigureAwait(false);
        var changes = new List<OrderChange>(facts.Count);
        var statuses = new List<OrderExecutionStatus>(facts.Count);
        foreach (var f in facts.Values)
        {
            var status = f.Status();
            statuses.Add(status);
            changes.Add(new OrderChange(status.OrderId, OrderJson.Status(status), f.Version, OrderJson.Fills(f.Fills.Values)));
        }

        await c.ExecuteAsync(new CommandDefinition("""
            INSERT INTO orders (order_id, portfolio_id, version, status_json, updated_at)
            SELECT o.id, o.portfolio, o.version, o.status::json, o.updated FROM unnest(@ids, @portfolios, @versions, @statuses, @updated) AS o(id, portfolio, version, status, updated)
            ON CONFLICT (order_id) DO UPDATE SET portfolio_id = excluded.portfolio_id, version = excluded.version, status_json = excluded.status_json, updated_at = excluded.updated_at
            WHERE orders.version < excluded.version
            """, new
        {
            ids = changes.Select(ch => ch.OrderId).ToArray(),
            portfolios = statuses.Select(s => s.PortfolioId).ToArray(),
            versions = changes.Select(ch => ch.Version).ToArray(),
            statuses = changes.Select(ch => System.Text.Encoding.UTF8.GetString(ch.StatusJson)).ToArray(),
            updated = statuses.Select(s => s.UpdatedAt == default ? DateTime.UnixEpoch : s.UpdatedAt).ToArray(),
        }, tx, cancellationToken: cancellationToken)).ConfigureAwait(false);
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return changes;
    }

    public async Task<(byte[] Json, int Version)?> StatusAsync(string orderId, CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await c.QuerySingleOrDefaultAsync<(string Json, int Version)?>(new CommandDefinition(
            "SELECT status_json::text, version FROM orders WHERE order_id = @orderId", new { orderId }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return row is { } r ? (System.Text.Encoding.UTF8.GetBytes(r.Json), r.Version) : null;
    }

    public async Task<(byte[] Json, int Version)?> FillsAsync(string orderId, CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        var facts = await LoadFactsAsync(c, null, [orderId], cancellationToken).ConfigureAwait(false);
        return facts.TryGetValue(orderId, out var f) ? (OrderJson.Fills(f.Fills.Values), f.Version) : null;
    }

    public async Task<IReadOnlyList<OrderFacts>> FactsAsync(IReadOnlyList<string> orderIds, CancellationToken cancellationToken)
    {
        if (orderIds.Count == 0)
        {
            return [];
        }

        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        return [.. (await LoadFactsAsync(c, null, [.. orderIds], cancellationToken).ConfigureAwait(false)).Values];
    }

    public async Task<IReadOnlyList<(string OrderId, string PortfolioId)>> RecentPortfoliosAsync(int limit, CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await c.QueryAsync<(string, string)>(new CommandDefinition(
            "SELECT order_id, portfolio_id FROM orders WHERE portfolio_id IS NOT NULL ORDER BY updated_at DESC LIMIT @limit",
            new { limit }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return [.. rows];
    }

    public async Task<string?> OrderOfFillAsync(string fillId, CancellationToken cancellationToken)
    {
        if (projection.OrderOfFill(fillId) is { } known)
        {
            return known; // recent fills: the projection knows, no round trip
        }

        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await c.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
            "SELECT order_id FROM fills WHERE fill_id = @fillId", new { fillId }, cancellationToken: cancellationToken)).ConfigureAwait(false);
    }

    public async Task<PortfolioExecutionReport> ReportAsync(string portfolioId, DateOnly start, DateOnly end, CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        var ids = (await c.QueryAsync<string>(new CommandDefinition(
            "SELECT order_id FROM orders WHERE portfolio_id = @portfolioId", new { portfolioId }, cancellationToken: cancellationToken)).ConfigureAwait(false)).ToArray();
        var facts = await LoadFactsAsync(c, null, ids, cancellationToken).ConfigureAwait(false);
        var orders = facts.Values.Select(f => (f.Status(), f.Live())).Where(o => o.Item1.PortfolioId == portfolioId).ToList();
        return ExecutionReportBuilder.Build(portfolioId, start, end, orders);
    }

    private static async Task<Dictionary<string, OrderFacts>> LoadFactsAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string[] orderIds, CancellationToken cancellationToken)
    {
        var facts = new Dictionary<string, OrderFacts>(StringComparer.Ordinal);
        if (orderIds.Length == 0)
        {
            return facts;
        }

        OrderFacts For(string id) => facts.TryGetValue(id, out var f) ? f : facts[id] = new OrderFacts(id);
        var updateRows = await c.QueryAsync<OrderUpdateRow>(new CommandDefinition("""
            SELECT event_id AS EventId, order_id AS OrderId, portfolio_id AS PortfolioId, instrument_id AS InstrumentId, side AS Side, order_type AS OrderType,
                   order_qty AS OrderQty, limit_price AS LimitPrice, time_in_force AS TimeInForce, exec_type AS ExecType, venue AS Venue, reason AS Reason, update_time AS UpdateTime,
                   restatement_reason AS RestatementReason
            FROM order_updates WHERE order_id = ANY(@orderIds)
            """, new { orderIds }, tx, cancellationToken: cancellationToken)).ConfigureAwait(false);
        foreach (var r in updateRows)
        {
            For(r.OrderId).Add(r.EventId, new OrderUpdate(r.OrderId, r.PortfolioId, r.InstrumentId, (Side)WireNames.IndexOf(WireNames.Sides, r.Side),
                (OrderType)WireNames.IndexOf(WireNames.OrderTypes, r.OrderType), r.OrderQty, r.LimitPrice, (TimeInForce)WireNames.IndexOf(WireNames.TimesInForce, r.TimeInForce),
                (OrderExecType)WireNames.IndexOf(WireNames.OrderExecTypes, r.ExecType), r.Venue, r.Reason, Utc(r.UpdateTime),
                r.RestatementReason is null ? null : (RestatementReason)WireNames.IndexOf(WireNames.RestatementReasons, r.RestatementReason)));
        }

        var fillRows = await c.QueryAsync<FillRow>(new CommandDefinition("""
            SELECT fill_id AS FillId, order_id AS OrderId, instrument_id AS InstrumentId, side AS Side, quantity AS Quantity, price AS Price, venue AS Venue,
                   execution_time AS ExecutionTime, commission AS Commission, exec_type AS ExecType, ref_fill_id AS RefFillId, portfolio_id AS PortfolioId, currency AS Currency
            FROM fills WHERE order_id = ANY(@orderIds)
            """, new { orderIds }, tx, cancellationToken: cancellationToken)).ConfigureAwait(false);
        foreach (var r in fillRows)
        {
            For(r.OrderId).Add(new FillNotification(r.OrderId, r.FillId, r.InstrumentId, r.Side is null ? null : (Side)WireNames.IndexOf(WireNames.Sides, r.Side),
                r.Quantity, r.Price, r.Venue, Utc(r.ExecutionTime), r.Commission, (FillExecType)WireNames.IndexOf(WireNames.FillExecTypes, r.ExecType), r.RefFillId,
                r.PortfolioId, r.Currency));
        }

        return facts;
    }

    private static DateTime Utc(DateTime value) => DateTime.SpecifyKind(value, DateTimeKind.Utc);

    private sealed class OrderUpdateRow
    {
        public string EventId { get; set; } = string.Empty;

        public string OrderId { get; set; } = string.Empty;

        public string PortfolioId { get; set; } = string.Empty;

        public string InstrumentId { get; set; } = string.Empty;

        public string Side { get; set; } = string.Empty;

        public string OrderType { get; set; } = string.Empty;

        public decimal OrderQty { get; set; }

        public decimal? LimitPrice { get; set; }

        public string TimeInForce { get; set; } = string.Empty;

        public string ExecType { get; set; } = string.Empty;

        public string? Venue { get; set; }

        public string? Reason { get; set; }

        public DateTime UpdateTime { get; set; }

        public string? RestatementReason { get; set; }
    }

    private sealed class FillRow
    {
        public string FillId { get; set; } = string.Empty;

        public string OrderId { get; set; } = string.Empty;

        public string InstrumentId { get; set; } = string.Empty;

        public string? Side { get; set; }

        public decimal Quantity { get; set; }

        public decimal Price { get; set; }

        public string Venue { get; set; } = string.Empty;

        public DateTime ExecutionTime { get; set; }

        public decimal Commission { get; set; }

        public string ExecType { get; set; } = string.Empty;

        public string? RefFillId { get; set; }

        public string? PortfolioId { get; set; }

        public string? Currency { get; set; }
    }
}
