
namespace ExecutionDistribution.Contract;

/// <summary>
/// The typed <c>data</c> of an event: one sealed record per <see cref="ExecutionDataType"/>.
/// Quantities and prices are decimals (the spec's Float, kept exact for money).
/// </summary>
public abstract record ExecutionPayload
{
    /// <summary>The data type this payload belongs to.</summary>
    public abstract ExecutionDataType DataType { get; }
}

/// <summary>ORDER_UPDATE: what an order-state projection needs to follow an order.</summary>
/// <param name="OrderId">Order id (the Kafka key; per-order ordering follows it).</param>
/// <param name="PortfolioId">Portfolio the order belongs to.</param>
/// <param name="InstrumentId">Instrument.</param>
/// <param name="Side">Side.</param>
/// <param name="OrderType">Order type.</param>
/// <param name="OrderQty">Total order quantity (after a replace, the new quantity).</param>
/// <param name="LimitPrice">Limit price; null for market orders.</param>
/// <param name="TimeInForce">Time in force.</param>
/// <param name="ExecType">What happened to the order.</param>
/// <param name="Venue">Venue the order is routed to, if known.</param>
/// <param name="Reason">Free text for rejects and cancels.</param>
/// <param name="UpdateTime">When the order changed, UTC.</param>
/// <param name="RestatementReason">Why the order was restated: required for RESTATED, absent otherwise.</param>
public sealed record OrderUpdate(
    string OrderId,
    string PortfolioId,
    string InstrumentId,
    Side Side,
    OrderType OrderType,
    decimal OrderQty,
    decimal? LimitPrice,
    TimeInForce TimeInForce,
    OrderExecType ExecType,
    string? Venue,
    string? Reason,
    DateTime UpdateTime,
    RestatementReason? RestatementReason = null) : ExecutionPayload
{
    /// <inheritdoc />
    public override ExecutionDataType DataType => ExecutionDataType.OrderUpdate;
}

/// <summary>FILL_NOTIFICATION: the spec's <c>ExecutionData</c> plus side, exec type and the fill it refers to.</summary>
/// <param name="OrderId">Order filled.</param>
/// <param name="FillId">Unique id of this fill (the trade id of REST lookups).</param>
/// <param name="InstrumentId">Instrument.</param>
/// <param name="Side">Side; null when the producer does not send it (the spec's example).</param>
/// <param name="Quantity">Filled quantity (&gt; 0 for TRADE and TRADE_CORRECT).</param>
/// <param name="Price">Fill price (&gt; 0 for TRADE and TRADE_CORRECT).</param>
/// <param name="Venue">Execution venue.</param>
/// <param name="ExecutionTime">When the fill happened, UTC.</param>
/// <param name="Commission">Commission charged (&gt;= 0).</param>
/// <param name="ExecType">TRADE, TRADE_CANCEL (bust) or TRADE_CORRECT.</param>
/// <param name="RefFillId">The fill a bust or correction refers to; required for those.</param>
/// <param name="PortfolioId">Portfolio, when the producer knows it.</param>
/// <param name="Currency">ISO 4217 currency of price and commission, when given.</param>
public sealed record FillNotification(
    string OrderId,
    string FillId,
    string InstrumentId,
    Side? Side,
    decimal Quantity,
    decimal Price,
    string Venue,
    DateTime ExecutionTime,
    decimal Commission,
    FillExecType ExecType,
    string? RefFillId,
    string? PortfolioId,
    string? Currency) : ExecutionPayload
{
    /// <inheritdoc />
    public override ExecutionDataType DataType => ExecutionDataType.FillNotification;
}

/// <summary>EXECUTION_REPORT: a FIX-style summary of an order after an execution.</summary>
/// <param name="ReportId">Unique id of the report (FIX ExecID).</param>
/// <param name="OrderId">Order.</param>
/// <param name="PortfolioId">Portfolio.</param>
/// <param name="InstrumentId">Instrument.</param>
/// <param name="Side">Side.</param>
/// <param name="OrderStatus">Order status after the execution.</param>
/// <param name="OrderQty">Order quantity.</param>
/// <param name="CumQty">Quantity filled so far.</param>
/// <param name="LeavesQty">Quantity still open.</param>
/// <param name="AvgPx">Average fill price so far.</param>
/// <param name="LastQty">Quantity of the last fill, if any.</param>
/// <param name="LastPx">Price of the last fill, if any.</param>
/// <param name="Venue">Venue.</param>
/// <param name="TransactTime">When the report was produced, UTC.</param>
/// <param name="Text">Free text.</param>
public sealed record ExecutionReport(
    string ReportId,
    string OrderId,
    string PortfolioId,
    string InstrumentId,
    Side Side,
    OrderStatus OrderStatus,
    decimal OrderQty,
    decimal CumQty,
    decimal LeavesQty,
    decimal AvgPx,
    decimal? LastQty,
    decimal? LastPx,
    string? Venue,
    DateTime TransactTime,
    string? Text) : ExecutionPayload
{
    /// <inheritdoc />
    public override ExecutionDataType DataType => ExecutionDataType.ExecutionReport;
}

/// <summary>SETTLEMENT_UPDATE: a settlement state change for a trade.</summary>
/// <param name="SettlementId">Unique id of the settlement instruction.</param>
/// <param name="TradeId">The fill being settled.</param>
/// <param name="OrderId">Order of that fill.</param>
/// <param name="PortfolioId">Portfolio.</param>
/// <param name="InstrumentId">Instrument.</param>
/// <param name="Quantity">Quantity to settle.</param>
/// <param name="SettlementAmount">Cash amount to settle.</param>
/// <param name="Currency">ISO 4217 currency of the amount.</param>
/// <param name="SettlementDate">Contractual settlement date.</param>
/// <param name="Status">Settlement state.</param>
/// <param name="Custodian">Custodian, if known.</param>
/// <param name="Counterparty">Counterparty, if known.</param>
/// <param name="FailReason">Why settlement failed, for FAILED.</param>
/// <param name="UpdateTime">When the state changed, UTC.</param>
public sealed record SettlementUpdate(
    string SettlementId,
    string TradeId,
    string OrderId,
    string? PortfolioId,
    string InstrumentId,
    decimal Quantity,
    decimal SettlementAmount,
    string Currency,
    DateOnly SettlementDate,
    SettlementStatus Status,
    string? Custodian,
    string? Counterparty,
    string? FailReason,
    DateTime UpdateTime) : ExecutionPayload
{
    /// <inheritdoc />
    public override ExecutionDataType DataType => ExecutionDataType.SettlementUpdate;
}

/// <summary>TCA_RESULT: how an order's execution compares with a benchmark.</summary>
/// <param name="AnalysisId">Unique id of the analysis.</param>
/// <param name="OrderId">Order analysed.</param>
/// <param name="PortfolioId">Portfolio, if known.</param>
/// <param name="InstrumentId">Instrument.</param>
/// <param name="Benchmark">Benchmark used.</param>
/// <param name="BenchmarkPrice">Benchmark price.</param>
/// <param name="ExecutionPrice">Average execution price of the order.</param>
/// <param name="SlippageBps">Slippage against the benchmark in basis points (positive = cost).</param>
/// <param name="MarketImpactBps">Estimated market impact in basis points, if computed.</param>
/// <param name="ParticipationRate">Share of market volume taken (0..1), if computed.</param>
/// <param name="ComputedAt">When the analysis ran, UTC.</param>
public sealed record TcaResult(
    string AnalysisId,
    string OrderId,
    string? PortfolioId,
    string InstrumentId,
    TcaBenchmark Benchmark,
    decimal BenchmarkPrice,
    decimal ExecutionPrice,
    decimal SlippageBps,
    decimal? MarketImpactBps,
    decimal? ParticipationRate,
    DateTime ComputedAt) : ExecutionPayload
{
    /// <inheritdoc />
    public override ExecutionDataType DataType => ExecutionDataType.TcaResult;
}

/// <summary>VENUE_STATUS: a venue, or one instrument on it, changed trading state.</summary>
/// <param name="Venue">Venue (MIC or short name).</param>
/// <param name="Status">New trading state.</param>
/// <param name="InstrumentId">Instrument, when the change is for one instrument (a single-stock halt).</param>
/// <param name="Reason">Why, when given.</param>
/// <param name="EffectiveTime">When the state took effect, UTC.</param>
public sealed record VenueStatus(
    string Venue,
    VenueState Status,
    string? InstrumentId,
    string? Reason,
    DateTime EffectiveTime) : ExecutionPayload
{
    /// <inheritdoc />
    public override ExecutionDataType DataType => ExecutionDataType.VenueStatus;
}

/// <summary>The routing attributes every payload exposes to the dispatch core.</summary>
internal static class PayloadRouting
{
    /// <summary>The portfolio a payload names (null when it names none: a fill may leave it to its order).</summary>
    public static string? PortfolioOf(ExecutionPayload payload) => payload switch
    {
        OrderUpdate o => o.PortfolioId,
        FillNotification f => f.PortfolioId,
        ExecutionReport r => r.PortfolioId,
        SettlementUpdate s => s.PortfolioId,
        TcaResult t => t.PortfolioId,
        _ => null,
    };

    /// <summary>Order id, instrument and venue of a payload (each may be null).</summary>
    public static (string? OrderId, string? InstrumentId, string? Venue) Of(ExecutionPayload payload) => payload switch
    {
        OrderUpdate o => (o.OrderId, o.InstrumentId, o.Venue),
        FillNotification f => (f.OrderId, f.InstrumentId, f.Venue),
        ExecutionReport r => (r.OrderId, r.InstrumentId, r.Venue),
        SettlementUpdate s => (s.OrderId, s.InstrumentId, null),
        TcaResult t => (t.OrderId, t.InstrumentId, null),
        VenueStatus v => (null, v.InstrumentId, v.Venue),
        _ => (null, null, null),
    };
}
