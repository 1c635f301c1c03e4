using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Orders;

/// <summary>A portfolio's executions over a date range (the spec's ExecutionReport).</summary>
/// <param name="PortfolioId">Portfolio.</param>
/// <param name="StartDate">First day (UTC), inclusive.</param>
/// <param name="EndDate">Last day (UTC), inclusive.</param>
/// <param name="OrdersByStatus">Orders active in the range, by their status now.</param>
/// <param name="FillCount">Live fills executed in the range.</param>
/// <param name="Quantity">Their quantity.</param>
/// <param name="Notional">Their notional (quantity x price).</param>
/// <param name="Commissions">Their commissions.</param>
/// <param name="FillRate">Filled quantity over ordered quantity of the orders active in the range (0 to 1).</param>
/// <param name="ByInstrumentAndSide">Quantity, VWAP and notional per instrument and side.</param>
/// <param name="ByVenue">Fills, quantity and share of quantity per venue.</param>
public sealed record PortfolioExecutionReport(
    string PortfolioId,
    DateOnly StartDate,
    DateOnly EndDate,
    IReadOnlyDictionary<string, int> OrdersByStatus,
    int FillCount,
    decimal Quantity,
    decimal Notional,
    decimal Commissions,
    decimal FillRate,
    IReadOnlyList<InstrumentSideSummary> ByInstrumentAndSide,
    IReadOnlyList<VenueSummary> ByVenue);

/// <summary>Fills of one instrument and side.</summary>
public sealed record InstrumentSideSummary(string InstrumentId, string? Side, decimal Quantity, decimal Vwap, decimal Notional);

/// <summary>Fills on one venue.</summary>
public sealed record VenueSummary(string Venue, int Fills, decimal Quantity, decimal Share);

/// <summary>Builds <see cref="PortfolioExecutionReport"/>s from order statuses and their live fills.</summary>
internal static class ExecutionReportBuilder
{
    public static PortfolioExecutionReport Build(string portfolioId, DateOnly start, DateOnly end, IEnumerable<(OrderExecutionStatus Status, IReadOnlyList<FillNotification> LiveFills)> orders)
    {
        var byStatus = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var fills = new List<FillNotification>();
        decimal ordered = 0, filledOfOrdered = 0;
        foreach (var (status, live) in orders)
        {
            var inRange = live.Where(f => InRange(f.ExecutionTime, start, end)).ToList();
            var active = inRange.Count > 0 || InRange(status.UpdatedAt, start, end);
            if (!active)
            {
                continue;
            }

            byStatus[status.Status] = byStatus.GetValueOrDefault(status.Status) + 1;
            fills.AddRange(inRange);
            if (status.OrderQty is { } qty)
            {
                ordered += qty;
                filledOfOrdered += Math.Min(status.CumQty, qty);
            }
        }

        var quantity = fills.Sum(f => f.Quantity);
        var bySide = fills.GroupBy(f => (f.InstrumentId, Side: f.Side is { } s ? WireNames.Sides[(int)s] : null))
            .OrderBy(g => g.Key.InstrumentId, StringComparer.Ordinal).ThenBy(g => g.Key.Side, StringComparer.Ordinal)
            .Select(g =>
            {
                var q = g.Sum(f => f.Quantity);
                var n = g.Sum(f => f.Quantity * f.Price);
                return new InstrumentSideSummary(g.Key.InstrumentId, g.Key.Side, q, q == 0 ? 0 : Math.Round(n / q, 6), n);
            }).ToList();
        var byVenue = fills.GroupBy(f => f.Venue).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new VenueSummary(g.Key, g.Count(), g.Sum(f => f.Quantity), quantity == 0 ? 0 : Math.Round(g.Sum(f => f.Quantity) / quantity, 6)))
            .ToList();
        return new PortfolioExecutionReport(portfolioId, start, end, byStatus, fills.Count, quantity, fills.Sum(f => f.Quantity * f.Price),
            fills.Sum(f => f.Commission), ordered == 0 ? 0 : Math.Round(filledOfOrdered / ordered, 6), bySide, byVenue);
    }

    private static bool InRange(DateTime time, DateOnly start, DateOnly end)
    {
        var day = DateOnly.FromDateTime(time);
        return day >= start && day <= end;
    }
}
