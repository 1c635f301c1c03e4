using System.Text.Json;

namespace ExecutionDistribution.Contract;

/// <summary>
/// Reads the typed <c>data</c> object of each <see cref="ExecutionDataType"/>. Each reader collects
/// its fields, then checks what is required and the business rules (positive quantities, a
/// <c>ref_fill_id</c> on busts and corrections), reporting every problem under <c>data.</c>.
/// </summary>
internal static class PayloadParser
{
    private const string P = "data";

    public static ExecutionPayload? Parse(ref Utf8JsonReader r, ParseContext c, ExecutionDataType type) => type switch
    {
        ExecutionDataType.OrderUpdate => ParseOrderUpdate(ref r, c),
        ExecutionDataType.FillNotification => ParseFill(ref r, c),
        ExecutionDataType.ExecutionReport => ParseExecutionReport(ref r, c),
        ExecutionDataType.SettlementUpdate => ParseSettlement(ref r, c),
        ExecutionDataType.TcaResult => ParseTca(ref r, c),
        ExecutionDataType.VenueStatus => ParseVenueStatus(ref r, c),
        _ => null,
    };

    private static OrderUpdate? ParseOrderUpdate(ref Utf8JsonReader r, ParseContext c)
    {
        string? orderId = null, portfolio = null, instrument = null, venue = null, reason = null;
        int side = -1, orderType = (int)OrderType.Limit, tif = (int)TimeInForce.Day, execType = -1, restated = -1;
        decimal? qty = null, limit = null;
        DateTime? updateTime = null;
        var before = c.Count;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("order_id"u8)) { r.Read(); orderId = Fields.Id(ref r, c, P, "order_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("portfolio_id"u8)) { r.Read(); portfolio = Fields.Symbol(ref r, c, P, "portfolio_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("instrument_id"u8)) { r.Read(); instrument = Fields.Symbol(ref r, c, P, "instrument_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("side"u8)) { r.Read(); side = Fields.Enum(ref r, c, P, "side", WireNames.Sides); }
            else if (r.ValueTextEquals("order_type"u8)) { r.Read(); orderType = OrDefault(Fields.Enum(ref r, c, P, "order_type", WireNames.OrderTypes), orderType); }
            else if (r.ValueTextEquals("order_qty"u8)) { r.Read(); qty = Fields.Decimal(ref r, c, P, "order_qty"); }
            else if (r.ValueTextEquals("limit_price"u8)) { r.Read(); limit = Fields.Decimal(ref r, c, P, "limit_price"); }
            else if (r.ValueTextEquals("time_in_force"u8)) { r.Read(); tif = OrDefault(Fields.Enum(ref r, c, P, "time_in_force", WireNames.TimesInForce), tif); }
            else if (r.ValueTextEquals("exec_type"u8)) { r.Read(); execType = Fields.Enum(ref r, c, P, "exec_type", WireNames.OrderExecTypes); }
            else if (r.ValueTextEquals("venue"u8)) { r.Read(); venue = Fields.Symbol(ref r, c, P, "venue", ExecutionEventParser.MaxNameLength); }
            else if (r.ValueTextEquals("reason"u8)) { r.Read(); reason = Fields.Id(ref r, c, P, "reason", ExecutionEventParser.MaxTextLength); }
            else if (r.ValueTextEquals("update_time"u8)) { r.Read(); updateTime = Fields.Timestamp(ref r, c, P, "update_time"); }
            else if (r.ValueTextEquals("restatement_reason"u8)) { r.Read(); restated = Fields.Enum(ref r, c, P, "restatement_reason", WireNames.RestatementReasons); }
            else { r.Read(); r.Skip(); }
        }

        RequireAll(c, (orderId, "order_id"), (portfolio, "portfolio_id"), (instrument, "instrument_id"));
        RequireEnum(c, side, "side");
        RequireEnum(c, execType, "exec_type");
        if (execType == (int)OrderExecType.Restated)
        {
            RequireEnum(c, restated, "restatement_reason");
        }
        else if (restated >= 0)
        {
            c.Fail(P, "restatement_reason", "is given only with exec_type RESTATED");
        }

        Positive(c, qty, "order_qty", required: true);
        Positive(c, limit, "limit_price", required: orderType is (int)OrderType.Limit or (int)OrderType.StopLimit);
        Require(c, updateTime, "update_time");
        return c.Count > before ? null : new OrderUpdate(orderId!, portfolio!, instrument!, (Side)side, (OrderType)orderType, qty!.Value, limit,
            (TimeInForce)tif, (OrderExecType)execType, venue, reason, updateTime!.Value, restated < 0 ? null : (RestatementReason)restated);
    }

    private static FillNotification? ParseFill(ref Utf8JsonReader r, ParseContext c)
    {
        string? orderId = null, fillId = null, instrument = null, venue = null, refFill = null, portfolio = null, currency = null;
        int side = -1, execType = (int)FillExecType.Trade;
        decimal? qty = null, price = null, commission = null;
        DateTime? time = null;
        var before = c.Count;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("order_id"u8)) { r.Read(); orderId = Fields.Id(ref r, c, P, "order_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("fill_id"u8)) { r.Read(); fillId = Fields.Id(ref r, c, P, "fill_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("instrument_id"u8)) { r.Read(); instrument = Fields.Symbol(ref r, c, P, "instrument_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("side"u8)) { r.Read(); side = Fields.Enum(ref r, c, P, "side", WireNames.Sides); }
            else if (r.ValueTextEquals("quantity"u8)) { r.Read(); qty = Fields.Decimal(ref r, c, P, "quantity"); }
            else if (r.ValueTextEquals("price"u8)) { r.Read(); price = Fields.Decimal(ref r, c, P, "price"); }
            else if (r.ValueTextEquals("venue"u8)) { r.Read(); venue = Fields.Symbol(ref r, c, P, "venue", ExecutionEventParser.MaxNameLength); }
            else if (r.ValueTextEquals("execution_time"u8)) { r.Read(); time = Fields.Timestamp(ref r, c, P, "execution_time"); }
            else if (r.ValueTextEquals("commission"u8)) { r.Read(); commission = Fields.Decimal(ref r, c, P, "commission"); }
            else if (r.ValueTextEquals("exec_type"u8)) { r.Read(); execType = OrDefault(Fields.Enum(ref r, c, P, "exec_type", WireNames.FillExecTypes), execType); }
            else if (r.ValueTextEquals("ref_fill_id"u8)) { r.Read(); refFill = Fields.Id(ref r, c, P, "ref_fill_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("portfolio_id"u8)) { r.Read(); portfolio = Fields.Symbol(ref r, c, P, "portfolio_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("currency"u8)) { r.Read(); currency = Fields.Symbol(ref r, c, P, "currency", 3); }
            else { r.Read(); r.Skip(); }
        }

        RequireAll(c, (orderId, "order_id"), (fillId, "fill_id"), (instrument, "instrument_id"), (venue, "venue"));
        var isBust = execType == (int)FillExecType.TradeCancel;
        if (isBust)
        {
            // A bust voids the referenced fill: its own quantity and price, if sent, only echo the busted fill.
            NotNegative(c, qty, "quantity");
            NotNegative(c, price, "price");
        }
        else
        {
            Positive(c, qty, "quantity", required: true);
            Positive(c, price, "price", required: true);
        }

        NotNegative(c, commission, "commission");
        Require(c, time, "execution_time");
        if (execType != (int)FillExecType.Trade && refFill is null)
        {
            c.Fail(P, "ref_fill_id", $"is required when exec_type is {WireNames.FillExecTypes[execType]}");
        }

        if (refFill is not null && refFill == fillId)
        {
            c.Fail(P, "ref_fill_id", "must name another fill than fill_id");
        }

        return c.Count > before ? null : new FillNotification(orderId!, fillId!, instrument!, side < 0 ? null : (Side)side, qty ?? 0m, price ?? 0m,
            venue!, time!.Value, commission ?? 0m, (FillExecType)execType, refFill, portfolio, currency);
    }

    private static ExecutionReport? ParseExecutionReport(ref Utf8JsonReader r, ParseContext c)
    {
        string? reportId = null, orderId = null, portfolio = null, instrument = null, venue = null, text = null;
        int side = -1, status = -1;
        decimal? orderQty = null, cumQty = null, leavesQty = null, avgPx = null, lastQty = null, lastPx = null;
        DateTime? time = null;
        var before = c.Count;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("report_id"u8)) { r.Read(); reportId = Fields.Id(ref r, c, P, "report_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("order_id"u8)) { r.Read(); orderId = Fields.Id(ref r, c, P, "order_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("portfolio_id"u8)) { r.Read(); portfolio = Fields.Symbol(ref r, c, P, "portfolio_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("instrument_id"u8)) { r.Read(); instrument = Fields.Symbol(ref r, c, P, "instrument_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("side"u8)) { r.Read(); side = Fields.Enum(ref r, c, P, "side", WireNames.Sides); }
            else if (r.ValueTextEquals("order_status"u8)) { r.Read(); status = Fields.Enum(ref r, c, P, "order_status", WireNames.OrderStatuses); }
            else if (r.ValueTextEquals("order_qty"u8)) { r.Read(); orderQty = Fields.Decimal(ref r, c, P, "order_qty"); }
            else if (r.ValueTextEquals("cum_qty"u8)) { r.Read(); cumQty = Fields.Decimal(ref r, c, P, "cum_qty"); }
            else if (r.ValueTextEquals("leaves_qty"u8)) { r.Read(); leavesQty = Fields.Decimal(ref r, c, P, "leaves_qty"); }
            else if (r.ValueTextEquals("avg_px"u8)) { r.Read(); avgPx = Fields.Decimal(ref r, c, P, "avg_px"); }
            else if (r.ValueTextEquals("last_qty"u8)) { r.Read(); lastQty = Fields.Decimal(ref r, c, P, "last_qty"); }
            else if (r.ValueTextEquals("last_px"u8)) { r.Read(); lastPx = Fields.Decimal(ref r, c, P, "last_px"); }
            else if (r.ValueTextEquals("venue"u8)) { r.Read(); venue = Fields.Symbol(ref r, c, P, "venue", ExecutionEventParser.MaxNameLength); }
            else if (r.ValueTextEquals("transact_time"u8)) { r.Read(); time = Fields.Timestamp(ref r, c, P, "transact_time"); }
            else if (r.ValueTextEquals("text"u8)) { r.Read(); text = Fields.Id(ref r, c, P, "text", ExecutionEventParser.MaxTextLength); }
            else { r.Read(); r.Skip(); }
        }

        RequireAll(c, (reportId, "report_id"), (orderId, "order_id"), (portfolio, "portfolio_id"), (instrument, "instrument_id"));
        RequireEnum(c, side, "side");
        RequireEnum(c, status, "order_status");
        Positive(c, orderQty, "order_qty", required: true);
        NotNegative(c, cumQty, "cum_qty", required: true);
        NotNegative(c, leavesQty, "leaves_qty", required: true);
        NotNegative(c, avgPx, "avg_px", required: true);
        NotNegative(c, lastQty, "last_qty");
        NotNegative(c, lastPx, "last_px");
        Require(c, time, "transact_time");
        if (orderQty is not null && cumQty is not null && cumQty > orderQty)
        {
            c.Fail(P, "cum_qty", "must not exceed order_qty");
        }

        return c.Count > before ? null : new ExecutionReport(reportId!, orderId!, portfolio!, instrument!, (Side)side, (OrderStatus)status,
            orderQty!.Value, cumQty!.Value, leavesQty!.Value, avgPx!.Value, lastQty, lastPx, venue, time!.Value, text);
    }

    private static SettlementUpdate? ParseSettlement(ref Utf8JsonReader r, ParseContext c)
    {
        string? settlementId = null, tradeId = null, orderId = null, portfolio = null, instrument = null, currency = null;
        string? custodian = null, counterparty = null, failReason = null;
        var status = -1;
        decimal? qty = null, amount = null;
        DateOnly? date = null;
        DateTime? time = null;
        var before = c.Count;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("settlement_id"u8)) { r.Read(); settlementId = Fields.Id(ref r, c, P, "settlement_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("trade_id"u8)) { r.Read(); tradeId = Fields.Id(ref r, c, P, "trade_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("order_id"u8)) { r.Read(); orderId = Fields.Id(ref r, c, P, "order_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("portfolio_id"u8)) { r.Read(); portfolio = Fields.Symbol(ref r, c, P, "portfolio_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("instrument_id"u8)) { r.Read(); instrument = Fields.Symbol(ref r, c, P, "instrument_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("quantity"u8)) { r.Read(); qty = Fields.Decimal(ref r, c, P, "quantity"); }
            else if (r.ValueTextEquals("settlement_amount"u8)) { r.Read(); amount = Fields.Decimal(ref r, c, P, "settlement_amount"); }
            else if (r.ValueTextEquals("currency"u8)) { r.Read(); currency = Fields.Symbol(ref r, c, P, "currency", 3); }
            else if (r.ValueTextEquals("settlement_date"u8)) { r.Read(); date = Fields.Date(ref r, c, P, "settlement_date"); }
            else if (r.ValueTextEquals("status"u8)) { r.Read(); status = Fields.Enum(ref r, c, P, "status", WireNames.SettlementStatuses); }
            else if (r.ValueTextEquals("custodian"u8)) { r.Read(); custodian = Fields.Symbol(ref r, c, P, "custodian", ExecutionEventParser.MaxNameLength); }
            else if (r.ValueTextEquals("counterparty"u8)) { r.Read(); counterparty = Fields.Symbol(ref r, c, P, "counterparty", ExecutionEventParser.MaxNameLength); }
            else if (r.ValueTextEquals("fail_reason"u8)) { r.Read(); failReason = Fields.Id(ref r, c, P, "fail_reason", ExecutionEventParser.MaxTextLength); }
            else if (r.ValueTextEquals("update_time"u8)) { r.Read(); time = Fields.Timestamp(ref r, c, P, "update_time"); }
            else { r.Read(); r.Skip(); }
        }

        RequireAll(c, (settlementId, "settlement_id"), (tradeId, "trade_id"), (orderId, "order_id"), (instrument, "instrument_id"), (currency, "currency"));
        Positive(c, qty, "quantity", required: true);
        NotNegative(c, amount, "settlement_amount", required: true);
        Require(c, date, "settlement_date");
        RequireEnum(c, status, "status");
        Require(c, time, "update_time");
        if (status == (int)SettlementStatus.Failed && failReason is null)
        {
            c.Fail(P, "fail_reason", "is required when status is FAILED");
        }

        return c.Count > before ? null : new SettlementUpdate(settlementId!, tradeId!, orderId!, portfolio, instrument!, qty!.Value, amount!.Value,
            currency!, date!.Value, (SettlementStatus)status, custodian, counterparty, failReason, time!.Value);
    }

    private static TcaResult? ParseTca(ref Utf8JsonReader r, ParseContext c)
    {
        string? analysisId = null, orderId = null, portfolio = null, instrument = null;
        var benchmark = -1;
        decimal? benchmarkPrice = null, executionPrice = null, slippage = null, impact = null, participation = null;
        DateTime? time = null;
        var before = c.Count;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("analysis_id"u8)) { r.Read(); analysisId = Fields.Id(ref r, c, P, "analysis_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("order_id"u8)) { r.Read(); orderId = Fields.Id(ref r, c, P, "order_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("portfolio_id"u8)) { r.Read(); portfolio = Fields.Symbol(ref r, c, P, "portfolio_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("instrument_id"u8)) { r.Read(); instrument = Fields.Symbol(ref r, c, P, "instrument_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("benchmark"u8)) { r.Read(); benchmark = Fields.Enum(ref r, c, P, "benchmark", WireNames.TcaBenchmarks); }
            else if (r.ValueTextEquals("benchmark_price"u8)) { r.Read(); benchmarkPrice = Fields.Decimal(ref r, c, P, "benchmark_price"); }
            else if (r.ValueTextEquals("execution_price"u8)) { r.Read(); executionPrice = Fields.Decimal(ref r, c, P, "execution_price"); }
            else if (r.ValueTextEquals("slippage_bps"u8)) { r.Read(); slippage = Fields.Decimal(ref r, c, P, "slippage_bps"); }
            else if (r.ValueTextEquals("market_impact_bps"u8)) { r.Read(); impact = Fields.Decimal(ref r, c, P, "market_impact_bps"); }
            else if (r.ValueTextEquals("participation_rate"u8)) { r.Read(); participation = Fields.Decimal(ref r, c, P, "participation_rate"); }
            else if (r.ValueTextEquals("computed_at"u8)) { r.Read(); time = Fields.Timestamp(ref r, c, P, "computed_at"); }
            else { r.Read(); r.Skip(); }
        }

        RequireAll(c, (analysisId, "analysis_id"), (orderId, "order_id"), (instrument, "instrument_id"));
        RequireEnum(c, benchmark, "benchmark");
        Positive(c, benchmarkPrice, "benchmark_price", required: true);
        Positive(c, executionPrice, "execution_price", required: true);
        Require(c, slippage, "slippage_bps");
        Require(c, time, "computed_at");
        if (participation is < 0m or > 1m)
        {
            c.Fail(P, "participation_rate", "must be between 0 and 1");
        }

        return c.Count > before ? null : new TcaResult(analysisId!, orderId!, portfolio, instrument!, (TcaBenchmark)benchmark, benchmarkPrice!.Value,
            executionPrice!.Value, slippage!.Value, impact, participation, time!.Value);
    }

    private static VenueStatus? ParseVenueStatus(ref Utf8JsonReader r, ParseContext c)
    {
        string? venue = null, instrument = null, reason = null;
        var status = -1;
        DateTime? time = null;
        var before = c.Count;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("venue"u8)) { r.Read(); venue = Fields.Symbol(ref r, c, P, "venue", ExecutionEventParser.MaxNameLength); }
            else if (r.ValueTextEquals("status"u8)) { r.Read(); status = Fields.Enum(ref r, c, P, "status", WireNames.VenueStates); }
            else if (r.ValueTextEquals("instrument_id"u8)) { r.Read(); instrument = Fields.Symbol(ref r, c, P, "instrument_id", ExecutionEventParser.MaxIdLength); }
            else if (r.ValueTextEquals("reason"u8)) { r.Read(); reason = Fields.Id(ref r, c, P, "reason", ExecutionEventParser.MaxTextLength); }
            else if (r.ValueTextEquals("effective_time"u8)) { r.Read(); time = Fields.Timestamp(ref r, c, P, "effective_time"); }
            else { r.Read(); r.Skip(); }
        }

        RequireAll(c, (venue, "venue"));
        RequireEnum(c, status, "status");
        Require(c, time, "effective_time");
        return c.Count > before ? null : new VenueStatus(venue!, (VenueState)status, instrument, reason, time!.Value);
    }

    // An optional enum keeps its default when absent; when invalid the problem is already reported and the
    // payload is discarded, so the default only keeps the remaining checks meaningful.
    private static int OrDefault(int parsed, int fallback) => parsed >= 0 ? parsed : fallback;

    private static void RequireAll(ParseContext c, params ReadOnlySpan<(string? Value, string Name)> fields)
    {
        foreach (var (value, name) in fields)
        {
            if (value is null)
            {
                c.Required(P, name);
            }
        }
    }

    private static void RequireEnum(ParseContext c, int index, string name)
    {
        if (index < 0)
        {
            c.Required(P, name);
        }
    }

    private static void Require<T>(ParseContext c, T? value, string name)
        where T : struct
    {
        if (value is null)
        {
            c.Required(P, name);
        }
    }

    private static void Positive(ParseContext c, decimal? value, string name, bool required)
    {
        if (value is null)
        {
            if (required)
            {
                c.Required(P, name);
            }
        }
        else if (value <= 0m)
        {
            c.Fail(P, name, "must be greater than 0");
        }
    }

    private static void NotNegative(ParseContext c, decimal? value, string name, bool required = false)
    {
        if (value is null)
        {
            if (required)
            {
                c.Required(P, name);
            }
        }
        else if (value < 0m)
        {
            c.Fail(P, name, "must not be negative");
        }
    }
}
