using ExecutionDistribution.Contract;
using ExecutionDistribution.Orders;

namespace ExecutionDistribution.Tests.Orders;

[Category("Unit")]
public sealed class OrderStateProjectionTests
{
    private static readonly DateTime T0 = new(2025, 6, 21, 10, 0, 0, DateTimeKind.Utc);
    private static int _ids;

    private static ExecutionEvent Update(string order, OrderExecType exec, decimal qty = 300m, int second = 0) =>
        Wrap(new OrderUpdate(order, "PF001", "AAPL", Side.Buy, OrderType.Limit, qty, 150m, TimeInForce.Day, exec, "NYSE", null, T0.AddSeconds(second)));

    private static ExecutionEvent Fill(string order, string fillId, decimal qty, decimal price, int second = 1,
        FillExecType exec = FillExecType.Trade, string? refFill = null) =>
        Wrap(new FillNotification(order, fillId, "AAPL", Side.Buy, qty, price, "NYSE", T0.AddSeconds(second), 1m, exec, refFill, "PF001", "USD"));

    private static ExecutionEvent Wrap(ExecutionPayload data) =>
        new($"e-{Interlocked.Increment(ref _ids)}", T0, data.DataType, data,
            new RoutingInfo("t", "AAPL.x.y", [], 1, DeliveryGuarantee.AtLeastOnce), new ExecutionMetadata("oms", "NYSE", true, true, []));

    private static OrderExecutionStatus Apply(OrderStateProjection p, string order, params ExecutionEvent[] events)
    {
        foreach (var e in events)
        {
            p.Apply(e);
        }

        var s = p.GetStatus(order)!;
        if (s.Status is not ("CANCELED" or "REJECTED" or "EXPIRED" or "DONE_FOR_DAY" or "FILLED") && s.OrderQty is { } qty)
        {
            Assert.That(s.CumQty + s.LeavesQty, Is.EqualTo(qty), "cum_qty + leaves_qty = order_qty while the order is open");
        }

        return s;
    }

    [Test]
    public void Partial_fills_then_a_full_fill_follow_fix_statuses_with_vwap()
    {
        var p = new OrderStateProjection();

        Assert.That(Apply(p, "O", Update("O", OrderExecType.New)).Status, Is.EqualTo("NEW"));
        var partial = Apply(p, "O", Fill("O", "F1", 100m, 150m));
        Assert.That((partial.Status, partial.CumQty, partial.LeavesQty, partial.AvgPx), Is.EqualTo(("PARTIALLY_FILLED", 100m, 200m, 150m)));
        var more = Apply(p, "O", Fill("O", "F2", 100m, 153m, second: 2));
        Assert.That((more.CumQty, more.AvgPx, more.FillCount, more.LastFill!.FillId), Is.EqualTo((200m, 151.5m, 2, "F2")));
        var filled = Apply(p, "O", Fill("O", "F3", 100m, 150m, second: 3));
        Assert.That((filled.Status, filled.CumQty, filled.LeavesQty), Is.EqualTo(("FILLED", 300m, 0m)));
    }

    [Test]
    public void A_bust_removes_its_fill()
    {
        var p = new OrderStateProjection();
        Apply(p, "O", Update("O", OrderExecType.New), Fill("O", "F1", 100m, 150m), Fill("O", "F2", 50m, 160m, second: 2));

        var s = Apply(p, "O", Fill("O", "B1", 0m, 0m, second: 5, exec: FillExecType.TradeCancel, refFill: "F2"));

        Assert.That((s.CumQty, s.LeavesQty, s.AvgPx, s.FillCount, s.LastFill!.FillId), Is.EqualTo((100m, 200m, 150m, 1, "F1")));
        Assert.That(p.GetFill("F2")!.State, Is.EqualTo("BUSTED"));
    }

    [Test]
    public void Corrections_and_corrections_of_corrections_replace_the_fill_and_keep_its_history()
    {
        var p = new OrderStateProjection();
        Apply(p, "O", Update("O", OrderExecType.New), Fill("O", "F1", 100m, 150m));
        Apply(p, "O", Fill("O", "C1", 100m, 149m, second: 2, exec: FillExecType.TradeCorrect, refFill: "F1"));
        var s = Apply(p, "O", Fill("O", "C2", 90m, 149.5m, second: 3, exec: FillExecType.TradeCorrect, refFill: "C1"));

        Assert.That((s.CumQty, s.AvgPx, s.FillCount, s.LastFill!.FillId), Is.EqualTo((90m, 149.5m, 1, "C2")));
        var original = p.GetFill("F1")!;
        Assert.That((original.State, original.CurrentFillId), Is.EqualTo(("CORRECTED", "C2")));
        Assert.That(original.Corrections.Select(c => c.FillId), Is.EqualTo(new[] { "F1", "C1", "C2" }));
        Assert.That(p.GetFill("C2")!.State, Is.EqualTo("LIVE"));
    }

    [Test]
    public void Busting_a_corrected_fill_voids_the_whole_chain()
    {
        var p = new OrderStateProjection();
        Apply(p, "O", Update("O", OrderExecType.New), Fill("O", "F1", 100m, 150m), Fill("O", "C1", 80m, 150m, second: 2, exec: FillExecType.TradeCorrect, refFill: "F1"));

        var s = Apply(p, "O", Fill("O", "B1", 0m, 0m, second: 3, exec: FillExecType.TradeCancel, refFill: "F1"));

        Assert.That((s.CumQty, s.FillCount, s.Status), Is.EqualTo((0m, 0, "NEW")));
    }

    [Test]
    public void A_replace_changes_the_quantity_and_leaves_follow()
    {
        var p = new OrderStateProjection();
        Apply(p, "O", Update("O", OrderExecType.New, qty: 300m), Fill("O", "F1", 100m, 150m));

        var replaced = Apply(p, "O", Update("O", OrderExecType.Replaced, qty: 500m, second: 5));

        Assert.That((replaced.OrderQty, replaced.CumQty, replaced.LeavesQty, replaced.Status), Is.EqualTo((500m, 100m, 400m, "PARTIALLY_FILLED")));
    }

    [Test]
    public void A_fill_after_a_cancel_counts_but_does_not_reopen_the_order()
    {
        var p = new OrderStateProjection();
        Apply(p, "O", Update("O", OrderExecType.New), Fill("O", "F1", 100m, 150m), Update("O", OrderExecType.Canceled, second: 5));

        var s = Apply(p, "O", Fill("O", "F2", 50m, 151m, second: 6));

        Assert.That((s.Status, s.CumQty, s.LeavesQty), Is.EqualTo(("CANCELED", 150m, 0m)));
    }

    [Test]
    public void A_repeated_fill_is_counted_once()
    {
        var p = new OrderStateProjection();
        var fill = Fill("O", "F1", 100m, 150m);

        var s = Apply(p, "O", Update("O", OrderExecType.New), fill, fill, Fill("O", "F1", 100m, 150m));

        Assert.That((s.CumQty, s.FillCount), Is.EqualTo((100m, 1)));
    }

    [Test]
    public void Every_arrival_order_of_the_same_events_gives_the_same_status()
    {
        ExecutionEvent[] events =
        [
            Update("O", OrderExecType.New),
            Fill("O", "F1", 100m, 150m),
            Fill("O", "F2", 100m, 152m, second: 2),
            Fill("O", "C2", 100m, 151m, second: 3, exec: FillExecType.TradeCorrect, refFill: "F2"),
            Fill("O", "B1", 0m, 0m, second: 4, exec: FillExecType.TradeCancel, refFill: "F1"),
            Update("O", OrderExecType.Replaced, qty: 400m, second: 5),
        ];
        var expected = Apply(new OrderStateProjection(), "O", events);
        Assert.That((expected.CumQty, expected.AvgPx, expected.OrderQty, expected.LeavesQty), Is.EqualTo((100m, 151m, 400m, 300m)));

        foreach (var permutation in Permutations(events))
        {
            var p = new OrderStateProjection();
            foreach (var e in permutation)
            {
                p.Apply(e);
            }

            Assert.That(p.GetStatus("O"), Is.EqualTo(expected), string.Join(", ", permutation.Select(e => e.EventId)));
        }
    }

    [Test]
    public void Unknown_orders_and_fills_and_busts_are_not_found()
    {
        var p = new OrderStateProjection();
        Apply(p, "O", Fill("O", "F1", 10m, 1m), Fill("O", "B1", 0m, 0m, exec: FillExecType.TradeCancel, refFill: "F1"));

        Assert.That(p.GetStatus("nope"), Is.Null);
        Assert.That(p.GetFill("nope"), Is.Null);
        Assert.That(p.GetFill("B1"), Is.Null, "a bust is not a fill");
    }

    private static IEnumerable<ExecutionEvent[]> Permutations(ExecutionEvent[] items)
    {
        if (items.Length <= 1)
        {
            yield return items;
            yield break;
        }

        for (var i = 0; i < items.Length; i++)
        {
            var rest = items.Where((_, k) => k != i).ToArray();
            foreach (var tail in Permutations(rest))
            {
                yield return [items[i], .. tail];
            }
        }
    }
}

/// <summary>The projection's memory stays bounded; retention counts on the service's clock, not the events' times.</summary>
[Category("Unit")]
public sealed class OrderEvictionTests
{
    private static readonly DateTime T0 = new(2025, 6, 21, 10, 0, 0, DateTimeKind.Utc);

    private static ExecutionEvent Update(string order, OrderExecType exec, DateTime at, TimeInForce tif = TimeInForce.Day) =>
        Wrap(new OrderUpdate(order, "PF001", "AAPL", Side.Buy, OrderType.Limit, 100m, 150m, tif, exec, "NYSE", null, at));

    private static ExecutionEvent Fill(string order, string fill, DateTime at) =>
        Wrap(new FillNotification(order, fill, "AAPL", Side.Buy, 100m, 150m, "NYSE", at, 1m, FillExecType.Trade, null, "PF001", "USD"));

    private static ExecutionEvent Wrap(ExecutionPayload data) =>
        new(Guid.NewGuid().ToString(), T0, data.DataType, data, new RoutingInfo("t", "a.b.c", [], 1, DeliveryGuarantee.AtLeastOnce), new ExecutionMetadata("oms", null, false, true, []));

    private static readonly TimeSpan Retention = TimeSpan.FromHours(24);

    [Test]
    public void Done_orders_are_forgotten_a_retention_after_the_service_last_learnt_of_them_open_and_recent_ones_kept()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
        var p = new OrderStateProjection(clock);
        p.Apply(Update("old-filled", OrderExecType.New, T0));
        p.Apply(Fill("old-filled", "F-old", T0));
        p.Apply(Update("old-canceled", OrderExecType.Canceled, T0));
        p.Apply(Update("old-open", OrderExecType.New, T0));
        p.Apply(Update("gtc-done-for-day", OrderExecType.New, T0, TimeInForce.Gtc));
        p.Apply(Update("gtc-done-for-day", OrderExecType.DoneForDay, T0.AddHours(6), TimeInForce.Gtc));
        clock.Advance(TimeSpan.FromHours(25));
        p.Apply(Update("recent-filled", OrderExecType.New, T0)); // event times as old as the others: the service learnt of it now
        p.Apply(Fill("recent-filled", "F-recent", T0));

        var evicted = p.Evict(doneBefore: clock.GetUtcNow().UtcDateTime - Retention, maxOrders: 1_000);

        Assert.That(evicted, Is.EqualTo(2));
        Assert.That(p.GetStatus("old-filled"), Is.Null);
        Assert.That(p.GetFill("F-old"), Is.Null, "its fills go with it");
        Assert.That(p.GetStatus("old-canceled"), Is.Null);
        Assert.That(p.GetStatus("old-open"), Is.Not.Null, "an open order is kept however old");
        Assert.That(p.GetStatus("gtc-done-for-day")!.Status, Is.EqualTo("DONE_FOR_DAY"), "a GTC order done for the day is still open");
        Assert.That(p.GetStatus("recent-filled"), Is.Not.Null);
    }

    [Test]
    public void Orders_whose_events_are_older_than_the_retention_stay_when_they_have_just_arrived()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
        var p = new OrderStateProjection(clock);
        p.Apply(Update("last-year", OrderExecType.New, T0));
        p.Apply(Fill("last-year", "F1", T0));

        clock.Advance(TimeSpan.FromMinutes(5));
        Assert.That(p.Evict(doneBefore: clock.GetUtcNow().UtcDateTime - Retention, maxOrders: 1_000), Is.Zero);
        Assert.That(p.GetStatus("last-year")!.Status, Is.EqualTo("FILLED"));
    }

    [Test]
    public void Past_the_cap_the_least_recently_active_orders_are_forgotten()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
        var p = new OrderStateProjection(clock);
        for (var i = 0; i < 10; i++)
        {
            p.Apply(Update($"O{i}", OrderExecType.New, T0.AddMinutes(-i))); // event times in the opposite order of arrival
            clock.Advance(TimeSpan.FromSeconds(1));
        }

        p.Evict(doneBefore: T0, maxOrders: 7);

        Assert.That(p.Count, Is.EqualTo(7));
        Assert.That(p.GetStatus("O0"), Is.Null);
        Assert.That(p.GetStatus("O9"), Is.Not.Null);
    }
}
