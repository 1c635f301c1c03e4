using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Tests.Orders;

/// <summary>What the order status must say after a step: FIX OrdStatus, CumQty, LeavesQty (null while unknown), AvgPx.</summary>
public sealed record Expected(string Status, decimal Cum, decimal? Leaves, decimal AvgPx);

/// <summary>One step of a scenario: the events the venue sends, and the state after them.</summary>
public sealed record Step(string What, ExecutionEvent[] Events, Expected After);

/// <summary>An order's life as an order state change matrix of FIX 4.4 (Volume 4, Appendix D) describes it.</summary>
public sealed record FixScenario(string Name, string OrderId, Step[] Steps)
{
    public override string ToString() => Name;

    /// <summary>Every event of the scenario, in the order sent.</summary>
    public IEnumerable<ExecutionEvent> Events => Steps.SelectMany(s => s.Events);
}

/// <summary>
/// The scenarios of FIX 4.4's order state change matrices (Volume 4, Appendix D) that an execution
/// service meets: fills, cancels, replaces and their pending states, rejected cancel and replace
/// requests, busts, corrections and corrections of corrections, done for day with a GTC order that
/// continues the next day, restatements, fills after a cancel, and fills ahead of their order. Each
/// call builds them with fresh order ids, so a test that stores them owns its data.
/// </summary>
internal static class FixScenarios
{
    private static readonly DateTime Day1 = new(2025, 6, 23, 9, 30, 0, DateTimeKind.Utc);

    public static IEnumerable<FixScenario> All()
    {
        var s = new Builder("filled in three fills");
        s.Order(OrderExecType.New, 10_000m).Then("NEW", 0m, 10_000m, 0m);
        s.Trade("F1", 2_000m, 10m).Then("PARTIALLY_FILLED", 2_000m, 8_000m, 10m);
        s.Trade("F2", 1_000m, 11m).Then("PARTIALLY_FILLED", 3_000m, 7_000m, 10.333333m);
        s.Trade("F3", 7_000m, 12m).Then("FILLED", 10_000m, 0m, 11.5m);
        yield return s.Build();

        s = new Builder("part-filled order canceled");
        s.Order(OrderExecType.New, 10_000m).Trade("F1", 2_000m, 10m).Then("PARTIALLY_FILLED", 2_000m, 8_000m, 10m);
        s.Order(OrderExecType.PendingCancel, 10_000m).Then("PENDING_CANCEL", 2_000m, 8_000m, 10m);
        s.Order(OrderExecType.Canceled, 10_000m).Then("CANCELED", 2_000m, 0m, 10m);
        yield return s.Build();

        s = new Builder("executions while a cancel is pending");
        s.Order(OrderExecType.New, 10_000m).Trade("F1", 2_000m, 10m).Order(OrderExecType.PendingCancel, 10_000m).Then("PENDING_CANCEL", 2_000m, 8_000m, 10m);
        s.Trade("F2", 3_000m, 10m).Then("PENDING_CANCEL", 5_000m, 5_000m, 10m);
        s.Order(OrderExecType.Canceled, 10_000m).Then("CANCELED", 5_000m, 0m, 10m);
        yield return s.Build();

        s = new Builder("filled while a cancel is pending, the cancel rejected as too late");
        s.Order(OrderExecType.New, 10_000m).Trade("F1", 2_000m, 10m).Order(OrderExecType.PendingCancel, 10_000m).Then("PENDING_CANCEL", 2_000m, 8_000m, 10m);
        s.Trade("F2", 8_000m, 11m).Then("PENDING_CANCEL", 10_000m, 0m, 10.8m);
        s.Order(OrderExecType.CancelRejected, 10_000m).Then("FILLED", 10_000m, 0m, 10.8m);
        yield return s.Build();

        s = new Builder("cancel rejected, the order trades on");
        s.Order(OrderExecType.New, 10_000m).Trade("F1", 2_000m, 10m).Order(OrderExecType.PendingCancel, 10_000m).Then("PENDING_CANCEL", 2_000m, 8_000m, 10m);
        s.Order(OrderExecType.CancelRejected, 10_000m).Then("PARTIALLY_FILLED", 2_000m, 8_000m, 10m);
        s.Trade("F2", 1_000m, 13m).Then("PARTIALLY_FILLED", 3_000m, 7_000m, 11m);
        yield return s.Build();

        s = new Builder("replace to a larger quantity of a part-filled order, then filled");
        s.Order(OrderExecType.New, 10_000m).Trade("F1", 1_000m, 10m).Then("PARTIALLY_FILLED", 1_000m, 9_000m, 10m);
        s.Order(OrderExecType.PendingReplace, 10_000m).Then("PENDING_REPLACE", 1_000m, 9_000m, 10m);
        s.Order(OrderExecType.Replaced, 12_000m).Then("PARTIALLY_FILLED", 1_000m, 11_000m, 10m);
        s.Trade("F2", 11_000m, 10m).Then("FILLED", 12_000m, 0m, 10m);
        yield return s.Build();

        s = new Builder("executions while a replace is pending");
        s.Order(OrderExecType.New, 10_000m).Order(OrderExecType.PendingReplace, 10_000m).Then("PENDING_REPLACE", 0m, 10_000m, 0m);
        s.Trade("F1", 3_000m, 10m).Then("PENDING_REPLACE", 3_000m, 7_000m, 10m);
        s.Order(OrderExecType.Replaced, 8_000m).Then("PARTIALLY_FILLED", 3_000m, 5_000m, 10m);
        yield return s.Build();

        s = new Builder("replace to a quantity the fills already reach");
        s.Order(OrderExecType.New, 10_000m).Trade("F1", 5_000m, 10m).Order(OrderExecType.PendingReplace, 10_000m).Then("PENDING_REPLACE", 5_000m, 5_000m, 10m);
        s.Order(OrderExecType.Replaced, 5_000m).Then("FILLED", 5_000m, 0m, 10m);
        yield return s.Build();

        s = new Builder("replace of an order with no fills");
        s.Order(OrderExecType.New, 10_000m).Order(OrderExecType.PendingReplace, 10_000m).Then("PENDING_REPLACE", 0m, 10_000m, 0m);
        s.Order(OrderExecType.Replaced, 5_000m).Then("REPLACED", 0m, 5_000m, 0m);
        yield return s.Build();

        s = new Builder("replace rejected, the order keeps its quantity and status");
        s.Order(OrderExecType.New, 10_000m).Trade("F1", 2_000m, 10m).Order(OrderExecType.PendingReplace, 10_000m).Then("PENDING_REPLACE", 2_000m, 8_000m, 10m);
        s.Order(OrderExecType.ReplaceRejected, 10_000m).Then("PARTIALLY_FILLED", 2_000m, 8_000m, 10m);
        yield return s.Build();

        s = new Builder("replace rejected on an order with no fills");
        s.Order(OrderExecType.New, 10_000m).Order(OrderExecType.PendingReplace, 10_000m).Then("PENDING_REPLACE", 0m, 10_000m, 0m);
        s.Order(OrderExecType.ReplaceRejected, 10_000m).Then("NEW", 0m, 10_000m, 0m);
        yield return s.Build();

        s = new Builder("order rejected");
        s.Order(OrderExecType.Rejected, 10_000m).Then("REJECTED", 0m, 0m, 0m);
        yield return s.Build();

        s = new Builder("fills busted, the order reopens");
        s.Order(OrderExecType.New, 5_000m).Trade("F1", 2_000m, 10m).Trade("F2", 3_000m, 11m).Then("FILLED", 5_000m, 0m, 10.6m);
        s.Bust("B1", "F1").Then("PARTIALLY_FILLED", 3_000m, 2_000m, 11m);
        s.Bust("B2", "F2").Then("NEW", 0m, 5_000m, 0m);
        yield return s.Build();

        s = new Builder("a fill corrected, then the correction corrected");
        s.Order(OrderExecType.New, 10_000m).Trade("F1", 2_000m, 10m).Then("PARTIALLY_FILLED", 2_000m, 8_000m, 10m);
        s.Correct("C1", "F1", 1_500m, 10m).Then("PARTIALLY_FILLED", 1_500m, 8_500m, 10m);
        s.Correct("C2", "C1", 1_500m, 10.5m).Then("PARTIALLY_FILLED", 1_500m, 8_500m, 10.5m);
        s.Trade("F2", 8_500m, 10.5m).Then("FILLED", 10_000m, 0m, 10.5m);
        s.Correct("C3", "F2", 8_000m, 10.5m).Then("PARTIALLY_FILLED", 9_500m, 500m, 10.5m);
        yield return s.Build();

        s = new Builder("GTC order done for day, restated the next day and filled further", TimeInForce.Gtc);
        s.Order(OrderExecType.New, 10_000m).Trade("F1", 2_000m, 10m).Then("PARTIALLY_FILLED", 2_000m, 8_000m, 10m);
        s.AtNext(hour: 16).Order(OrderExecType.DoneForDay, 10_000m, now: true).Then("DONE_FOR_DAY", 2_000m, 8_000m, 10m);
        s.AtNext(hour: 8).Restate(RestatementReason.GtcRenewal, 10_000m).Then("PARTIALLY_FILLED", 2_000m, 8_000m, 10m);
        s.Trade("F2", 1_000m, 13m).Then("PARTIALLY_FILLED", 3_000m, 7_000m, 11m);
        yield return s.Build();

        s = new Builder("GTC order done for day continues with a fill the next day", TimeInForce.Gtc);
        s.Order(OrderExecType.New, 10_000m).Trade("F1", 2_000m, 10m).Order(OrderExecType.DoneForDay, 10_000m).Then("DONE_FOR_DAY", 2_000m, 8_000m, 10m);
        s.Bust("B1", "F1").Then("DONE_FOR_DAY", 0m, 10_000m, 0m);
        s.AtNext(hour: 9).Trade("F2", 4_000m, 10m).Then("PARTIALLY_FILLED", 4_000m, 6_000m, 10m);
        yield return s.Build();

        s = new Builder("GTD order done for day, then expired", TimeInForce.Gtd);
        s.Order(OrderExecType.New, 1_000m).Trade("F1", 200m, 10m).Order(OrderExecType.DoneForDay, 1_000m).Then("DONE_FOR_DAY", 200m, 800m, 10m);
        s.AtNext(hour: 16).Order(OrderExecType.Expired, 1_000m, now: true).Then("EXPIRED", 200m, 0m, 10m);
        yield return s.Build();

        s = new Builder("day order done for day");
        s.Order(OrderExecType.New, 10_000m).Trade("F1", 2_000m, 10m).Order(OrderExecType.DoneForDay, 10_000m).Then("DONE_FOR_DAY", 2_000m, 0m, 10m);
        yield return s.Build();

        s = new Builder("restated with a partial decline of the order quantity");
        s.Order(OrderExecType.New, 10_000m).Trade("F1", 2_000m, 10m).Restate(RestatementReason.PartialDeclineOfOrderQty, 6_000m).Then("PARTIALLY_FILLED", 2_000m, 4_000m, 10m);
        s.Trade("F2", 4_000m, 10m).Then("FILLED", 6_000m, 0m, 10m);
        yield return s.Build();

        s = new Builder("restated as canceled on a trading halt");
        s.Order(OrderExecType.New, 10_000m).Trade("F1", 2_000m, 10m).Restate(RestatementReason.CancelOnTradingHalt, 10_000m).Then("CANCELED", 2_000m, 0m, 10m);
        yield return s.Build();

        s = new Builder("fills after the cancel count, and a complete one fills the order");
        s.Order(OrderExecType.New, 10_000m).Trade("F1", 2_000m, 10m).Order(OrderExecType.Canceled, 10_000m).Then("CANCELED", 2_000m, 0m, 10m);
        s.Trade("F2", 1_000m, 13m).Then("CANCELED", 3_000m, 0m, 11m);
        s.Trade("F3", 7_000m, 11m).Then("FILLED", 10_000m, 0m, 11m);
        yield return s.Build();

        s = new Builder("the example of docs/contract.md", TimeInForce.Gtc);
        s.Order(OrderExecType.New, 10_000m).Then("NEW", 0m, 10_000m, 0m);
        s.Trade("F1", 2_000m, 10m).Then("PARTIALLY_FILLED", 2_000m, 8_000m, 10m);
        s.Order(OrderExecType.DoneForDay, 10_000m).Then("DONE_FOR_DAY", 2_000m, 8_000m, 10m);
        s.AtNext(hour: 8).Restate(RestatementReason.GtcRenewal, 10_000m).Then("PARTIALLY_FILLED", 2_000m, 8_000m, 10m);
        s.Order(OrderExecType.PendingCancel, 10_000m).Then("PENDING_CANCEL", 2_000m, 8_000m, 10m);
        s.Trade("F2", 8_000m, 11m).Then("PENDING_CANCEL", 10_000m, 0m, 10.8m);
        s.Order(OrderExecType.CancelRejected, 10_000m).Then("FILLED", 10_000m, 0m, 10.8m);
        s.Bust("B2", "F2").Then("PARTIALLY_FILLED", 2_000m, 8_000m, 10m);
        yield return s.Build();

        s = new Builder("fills before the order is known");
        s.Trade("F1", 2_000m, 10m, at: 5).Then("PARTIALLY_FILLED", 2_000m, null, 10m);
        s.Order(OrderExecType.New, 10_000m, at: 1).Then("PARTIALLY_FILLED", 2_000m, 8_000m, 10m);
        yield return s.Build();

        s = new Builder("the whole quantity filled before the order is known");
        s.Trade("F1", 500m, 10m, at: 5).Then("PARTIALLY_FILLED", 500m, null, 10m);
        s.Order(OrderExecType.New, 500m, at: 1).Then("FILLED", 500m, 0m, 10m);
        yield return s.Build();
    }

    /// <summary>Writes one scenario, step by step; times move forward a minute per event unless told.</summary>
    private sealed class Builder(string name, TimeInForce tif = TimeInForce.Day)
    {
        private readonly string _order = $"fix-{Guid.NewGuid():N}";
        private readonly List<Step> _steps = [];
        private readonly List<ExecutionEvent> _pending = [];
        private DateTime _clock = Day1;
        private int _events;

        public Builder Order(OrderExecType exec, decimal qty, int? at = null, bool now = false) =>
            Add(new OrderUpdate(_order, "PF-FIX", "AAPL", Side.Buy, OrderType.Limit, qty, 15m, tif, exec, "XNYS", null, Time(at, now)));

        public Builder Restate(RestatementReason reason, decimal qty) =>
            Add(new OrderUpdate(_order, "PF-FIX", "AAPL", Side.Buy, OrderType.Limit, qty, 15m, tif, OrderExecType.Restated, "XNYS", null, Time(null, false), reason));

        public Builder Trade(string fill, decimal qty, decimal px, int? at = null) =>
            Add(new FillNotification(_order, Id(fill), "AAPL", Side.Buy, qty, px, "XNYS", Time(at, false), 1m, FillExecType.Trade, null, "PF-FIX", "USD"));

        public Builder Bust(string bust, string fill) =>
            Add(new FillNotification(_order, Id(bust), "AAPL", Side.Buy, 0m, 0m, "XNYS", Time(null, false), 0m, FillExecType.TradeCancel, Id(fill), "PF-FIX", "USD"));

        public Builder Correct(string correction, string fill, decimal qty, decimal px) =>
            Add(new FillNotification(_order, Id(correction), "AAPL", Side.Buy, qty, px, "XNYS", Time(null, false), 1m, FillExecType.TradeCorrect, Id(fill), "PF-FIX", "USD"));

        /// <summary>Moves the clock to the next <paramref name="hour"/>:00 UTC (today when still ahead, else the next day).</summary>
        public Builder AtNext(int hour)
        {
            var target = _clock.Date.AddHours(hour);
            _clock = target > _clock ? target : target.AddDays(1);
            return this;
        }

        public Builder Then(string status, decimal cum, decimal? leaves, decimal avgPx)
        {
            _steps.Add(new Step(string.Join(", ", _pending.Select(Describe)), [.. _pending], new Expected(status, cum, leaves, avgPx)));
            _pending.Clear();
            return this;
        }

        public FixScenario Build() => new(name, _order, [.. _steps]);

        private string Id(string local) => $"{_order}-{local}";

        private DateTime Time(int? minuteOfDay1, bool now)
        {
            if (minuteOfDay1 is { } m)
            {
                return Day1.AddMinutes(m);
            }

            if (!now)
            {
                _clock = _clock.AddMinutes(1);
            }

            return _clock;
        }

        private Builder Add(ExecutionPayload data)
        {
            _pending.Add(new ExecutionEvent($"{_order}-e{++_events}", Day1, data.DataType, data,
                new RoutingInfo("execution/fix", "AAPL.fix.step", [], 1, DeliveryGuarantee.AtLeastOnce), new ExecutionMetadata("venue", "XNYS", true, true, [])));
            return this;
        }

        private static string Describe(ExecutionEvent e) => e.Data switch
        {
            OrderUpdate u => WireNames.OrderExecTypes[(int)u.ExecType],
            FillNotification f => WireNames.FillExecTypes[(int)f.ExecType],
            _ => e.DataType.Name(),
        };
    }
}
