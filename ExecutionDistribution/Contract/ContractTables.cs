namespace ExecutionDistribution.Contract;

/// <summary>
/// Every object of the contract as a table (docs/contract.md): the routing, the metadata and one
/// payload per <see cref="ExecutionDataType"/>. Fields are listed in the order of the record's
/// constructor parameters and are written in that order. Each table's rules check what ties its
/// fields together; a field's own type, length and sign are its table line.
/// </summary>
internal static class ContractTables
{
    private const int MaxId = ExecutionEventParser.MaxIdLength;
    private const int MaxName = ExecutionEventParser.MaxNameLength;

    /// <summary>The <c>routing</c> (or <c>distribution</c>) object.</summary>
    public static readonly ContractTable<RoutingInfo> Routing = new ContractTable<RoutingInfo>(
            static (ref v) => new(v.Text(), v.Text(), v.List(), v.Integer(), v.Enum<DeliveryGuarantee>()))
        .Symbol("topic", x => x.Topic, ExecutionEventParser.MaxTopicLength)
        .Symbol("routing_key", x => x.RoutingKey, ExecutionEventParser.MaxTopicLength, validate: key => RoutingKeys.IsValidKey(key, out var why) ? null : why)
        .List("target_workflows", x => x.TargetWorkflows, MaxName, workflow => TextRules.IsKafkaTopicText(workflow) ? null
            // Each names the Kafka topic its copy of the output event goes to (Kafka:OutputTopicTemplate): a broker refuses any other character.
            : "must hold only letters, digits, '.', '_' and '-' (it names a Kafka topic, execution.distributed.{workflow})")
        .Integer("priority", x => x.Priority, 5, (1, 9, "must be between 1 (most urgent) and 9"))
        .Enum<DeliveryGuarantee>("delivery_guarantee", x => x.DeliveryGuarantee, DeliveryGuarantee.AtLeastOnce);

    /// <summary>The <c>metadata</c> object.</summary>
    public static readonly ContractTable<ExecutionMetadata> Metadata = new ContractTable<ExecutionMetadata>(
            static (ref v) => new(v.Text(), v.OptionalText(), v.Flag(), v.Flag(), v.List()))
        .Symbol("source_service", x => x.SourceService, MaxName)
        .Symbol("execution_venue", x => x.ExecutionVenue, MaxName, required: false)
        .Flag("latency_sensitive", x => x.LatencySensitive, false)
        .Flag("audit_required", x => x.AuditRequired, true) // an audit row is the safe default for compliance
        .List("compliance_flags", x => x.ComplianceFlags, MaxName);

    /// <summary>ORDER_UPDATE.</summary>
    public static readonly ContractTable<OrderUpdate> Order = new ContractTable<OrderUpdate>(
            static (ref v) => new(v.Text(), v.Text(), v.Text(), v.Enum<Side>(), v.Enum<OrderType>(), v.Number(), v.OptionalNumber(),
                v.Enum<TimeInForce>(), v.Enum<OrderExecType>(), v.OptionalText(), v.OptionalText(), v.Time(), v.OptionalEnum<RestatementReason>()),
            OrderUpdateRules)
        .Id("order_id", x => x.OrderId)
        .Symbol("portfolio_id", x => x.PortfolioId)
        .Symbol("instrument_id", x => x.InstrumentId)
        .Enum<Side>("side", x => x.Side)
        .Enum<OrderType>("order_type", x => x.OrderType, OrderType.Limit)
        .Number("order_qty", x => x.OrderQty, NumberRule.Positive)
        .Number("limit_price", x => x.LimitPrice, NumberRule.Positive, required: false)
        .Enum<TimeInForce>("time_in_force", x => x.TimeInForce, TimeInForce.Day)
        .Enum<OrderExecType>("exec_type", x => x.ExecType)
        .Symbol("venue", x => x.Venue, MaxName, required: false)
        .Text("reason", x => x.Reason)
        .Time("update_time", x => x.UpdateTime)
        .Enum<RestatementReason>("restatement_reason", x => x.RestatementReason, required: false);

    /// <summary>FILL_NOTIFICATION.</summary>
    public static readonly ContractTable<FillNotification> Fill = new ContractTable<FillNotification>(
            static (ref v) => new(v.Text(), v.Text(), v.Text(), v.OptionalEnum<Side>(), v.Number(), v.Number(), v.Text(), v.Time(), v.Number(),
                v.Enum<FillExecType>(), v.OptionalText(), v.OptionalText(), v.OptionalText()),
            FillRules)
        .Id("order_id", x => x.OrderId)
        .Id("fill_id", x => x.FillId)
        .Symbol("instrument_id", x => x.InstrumentId)
        .Enum<Side>("side", x => x.Side, required: false)
        .Number("quantity", x => x.Quantity, required: false) // > 0, or >= 0 on a bust: FillRules
        .Number("price", x => x.Price, required: false)
        .Symbol("venue", x => x.Venue, MaxName)
        .Time("execution_time", x => x.ExecutionTime)
        .Number("commission", x => x.Commission, NumberRule.NotNegative, required: false)
        .Enum<FillExecType>("exec_type", x => x.ExecType, FillExecType.Trade)
        .Id("ref_fill_id", x => x.RefFillId, required: false)
        .Symbol("portfolio_id", x => x.PortfolioId, required: false)
        .Symbol("currency", x => x.Currency, 3, required: false);

    /// <summary>EXECUTION_REPORT.</summary>
    public static readonly ContractTable<ExecutionReport> Report = new ContractTable<ExecutionReport>(
            static (ref v) => new(v.Text(), v.Text(), v.Text(), v.Text(), v.Enum<Side>(), v.Enum<OrderStatus>(), v.Number(), v.Number(), v.Number(),
                v.Number(), v.OptionalNumber(), v.OptionalNumber(), v.OptionalText(), v.Time(), v.OptionalText()),
            ReportRules)
        .Id("report_id", x => x.ReportId)
        .Id("order_id", x => x.OrderId)
        .Symbol("portfolio_id", x => x.PortfolioId)
        .Symbol("instrument_id", x => x.InstrumentId)
        .Enum<Side>("side", x => x.Side)
        .Enum<OrderStatus>("order_status", x => x.OrderStatus)
        .Number("order_qty", x => x.OrderQty, NumberRule.Positive)
        .Number("cum_qty", x => x.CumQty, NumberRule.NotNegative)
        .Number("leaves_qty", x => x.LeavesQty, NumberRule.NotNegative)
        .Number("avg_px", x => x.AvgPx, NumberRule.NotNegative)
        .Number("last_qty", x => x.LastQty, NumberRule.NotNegative, required: false)
        .Number("last_px", x => x.LastPx, NumberRule.NotNegative, required: false)
        .Symbol("venue", x => x.Venue, MaxName, required: false)
        .Time("transact_time", x => x.TransactTime)
        .Text("text", x => x.Text);

    /// <summary>SETTLEMENT_UPDATE.</summary>
    public static readonly ContractTable<SettlementUpdate> Settlement = new ContractTable<SettlementUpdate>(
            static (ref v) => new(v.Text(), v.Text(), v.Text(), v.OptionalText(), v.Text(), v.Number(), v.Number(), v.Text(), v.Date(),
                v.Enum<SettlementStatus>(), v.OptionalText(), v.OptionalText(), v.OptionalText(), v.Time()),
            SettlementRules)
        .Id("settlement_id", x => x.SettlementId)
        .Id("trade_id", x => x.TradeId)
        .Id("order_id", x => x.OrderId)
        .Symbol("portfolio_id", x => x.PortfolioId, required: false)
        .Symbol("instrument_id", x => x.InstrumentId)
        .Number("quantity", x => x.Quantity, NumberRule.Positive)
        .Number("settlement_amount", x => x.SettlementAmount, NumberRule.NotNegative)
        .Symbol("currency", x => x.Currency, 3)
        .Date("settlement_date", x => x.SettlementDate)
        .Enum<SettlementStatus>("status", x => x.Status)
        .Symbol("custodian", x => x.Custodian, MaxName, required: false)
        .Symbol("counterparty", x => x.Counterparty, MaxName, required: false)
        .Text("fail_reason", x => x.FailReason)
        .Time("update_time", x => x.UpdateTime);

    /// <summary>TCA_RESULT.</summary>
    public static readonly ContractTable<TcaResult> Tca = new ContractTable<TcaResult>(
            static (ref v) => new(v.Text(), v.Text(), v.OptionalText(), v.Text(), v.Enum<TcaBenchmark>(), v.Number(), v.Number(), v.Number(),
                v.OptionalNumber(), v.OptionalNumber(), v.Time()))
        .Id("analysis_id", x => x.AnalysisId)
        .Id("order_id", x => x.OrderId)
        .Symbol("portfolio_id", x => x.PortfolioId, required: false)
        .Symbol("instrument_id", x => x.InstrumentId)
        .Enum<TcaBenchmark>("benchmark", x => x.Benchmark)
        .Number("benchmark_price", x => x.BenchmarkPrice, NumberRule.Positive)
        .Number("execution_price", x => x.ExecutionPrice, NumberRule.Positive)
        .Number("slippage_bps", x => x.SlippageBps)
        .Number("market_impact_bps", x => x.MarketImpactBps, required: false)
        .Number("participation_rate", x => x.ParticipationRate, NumberRule.Fraction, required: false)
        .Time("computed_at", x => x.ComputedAt);

    /// <summary>VENUE_STATUS.</summary>
    public static readonly ContractTable<VenueStatus> Venue = new ContractTable<VenueStatus>(
            static (ref v) => new(v.Text(), v.Enum<VenueState>(), v.OptionalText(), v.OptionalText(), v.Time()))
        .Symbol("venue", x => x.Venue, MaxName)
        .Enum<VenueState>("status", x => x.Status)
        .Symbol("instrument_id", x => x.InstrumentId, required: false)
        .Text("reason", x => x.Reason)
        .Time("effective_time", x => x.EffectiveTime);

    /// <summary>The payload tables, indexed by <see cref="ExecutionDataType"/>.</summary>
    public static readonly ContractTable[] Payloads = [Order, Fill, Report, Settlement, Tca, Venue];

    private static readonly (int ExecType, int Restated, int OrderType, int Limit) O =
        (Order.IndexOf("exec_type"), Order.IndexOf("restatement_reason"), Order.IndexOf("order_type"), Order.IndexOf("limit_price"));

    private static readonly (int ExecType, int Quantity, int Price, int RefFill, int FillId) F =
        (Fill.IndexOf("exec_type"), Fill.IndexOf("quantity"), Fill.IndexOf("price"), Fill.IndexOf("ref_fill_id"), Fill.IndexOf("fill_id"));

    private static readonly (int OrderQty, int CumQty) R = (Report.IndexOf("order_qty"), Report.IndexOf("cum_qty"));

    private static readonly (int Status, int FailReason) S = (Settlement.IndexOf("status"), Settlement.IndexOf("fail_reason"));

    private static void OrderUpdateRules(ReadOnlySpan<FieldSlot> v, ParseContext c, string parent)
    {
        if (v[O.ExecType].Bits == (int)OrderExecType.Restated)
        {
            if (!v[O.Restated].Present)
            {
                c.Required(parent, "restatement_reason");
            }
        }
        else if (v[O.Restated].Present)
        {
            c.Fail(parent, "restatement_reason", "is given only with exec_type RESTATED");
        }

        if (v[O.OrderType].Bits is (int)OrderType.Limit or (int)OrderType.StopLimit && !v[O.Limit].Present)
        {
            c.Required(parent, "limit_price");
        }
    }

    private static void FillRules(ReadOnlySpan<FieldSlot> v, ParseContext c, string parent)
    {
        var execType = (int)v[F.ExecType].Bits;
        foreach (var (index, name) in (ReadOnlySpan<(int, string)>)[(F.Quantity, "quantity"), (F.Price, "price")])
        {
            // A bust voids the referenced fill: its own quantity and price, if sent, only echo the busted fill.
            var rule = execType == (int)FillExecType.TradeCancel ? NumberRule.NotNegative : NumberRule.Positive;
            if (!v[index].Present && rule == NumberRule.Positive)
            {
                c.Required(parent, name);
            }
            else if (v[index].Present && rule.Problem(v[index].Number) is { } why)
            {
                c.Fail(parent, name, why);
            }
        }

        if (execType != (int)FillExecType.Trade && !v[F.RefFill].Present)
        {
            c.Fail(parent, "ref_fill_id", $"is required when exec_type is {WireNames.FillExecTypes[execType]}");
        }

        if (v[F.RefFill].Ref is string refFill && refFill == v[F.FillId].Ref as string)
        {
            c.Fail(parent, "ref_fill_id", "must name another fill than fill_id");
        }
    }

    private static void ReportRules(ReadOnlySpan<FieldSlot> v, ParseContext c, string parent)
    {
        if (v[R.OrderQty].Present && v[R.CumQty].Present && v[R.CumQty].Number > v[R.OrderQty].Number)
        {
            c.Fail(parent, "cum_qty", "must not exceed order_qty");
        }
    }

    private static void SettlementRules(ReadOnlySpan<FieldSlot> v, ParseContext c, string parent)
    {
        if (v[S.Status].Bits == (int)SettlementStatus.Failed && !v[S.FailReason].Present)
        {
            c.Fail(parent, "fail_reason", "is required when status is FAILED");
        }
    }
}
