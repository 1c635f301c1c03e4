using ExecutionDistribution.Contract;
using ExecutionDistribution.Orders;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Orders;

/// <summary>The projection's memory estimate follows what orders really take, and its bound by bytes holds.</summary>
[Category("Unit")]
[NonParallelizable]
public sealed class OrderMemoryTests
{
    private static readonly DateTime T0 = new(2025, 6, 21, 10, 0, 0, DateTimeKind.Utc);

    // A typical order of the standard stream: its new-order update and three fills.
    private static void AddOrder(OrderStateProjection p, int i)
    {
        var order = $"ORD-0042-{i:D9}";
        p.Apply(Wrap(new OrderUpdate(order, "PF042", "AAPL", Side.Buy, OrderType.Limit, 300m, 150.25m, TimeInForce.Day, OrderExecType.New, "NYSE", null, T0)));
        for (var f = 0; f < 3; f++)
        {
            p.Apply(Wrap(new FillNotification(order, $"F{i:D9}-{f}", "AAPL", Side.Buy, 100m, 150.25m, "NYSE", T0.AddSeconds(f), 0.5m, FillExecType.Trade, null, "PF042", "USD")));
        }
    }

    private static ExecutionEvent Wrap(ExecutionPayload data) =>
        new(Guid.NewGuid().ToString(), T0, data.DataType, data, new RoutingInfo("t", "a.b.c", [], 1, DeliveryGuarantee.AtLeastOnce), new ExecutionMetadata("oms", null, false, true, []));

    [Test]
    public void The_estimate_is_within_a_factor_of_one_and_a_half_of_the_memory_orders_take()
    {
        const int n = 20_000;
        var p = new OrderStateProjection();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        for (var i = 0; i < n; i++)
        {
            AddOrder(p, i);
        }

        foreach (var id in Enumerable.Range(0, n).Select(i => $"ORD-0042-{i:D9}"))
        {
            _ = p.GetStatus(id); // statuses are derived and cached, as lookups and the store do
        }

        var measured = (GC.GetTotalMemory(forceFullCollection: true) - before) / (double)n;
        var estimated = p.EstimatedBytes / (double)n;
        TestContext.Out.WriteLine($"per order: measured {measured:N0} bytes, estimated {estimated:N0}");
        Assert.That(estimated / measured, Is.InRange(1 / 1.5, 1.5));
        GC.KeepAlive(p);
    }

    [Test]
    public void Past_the_byte_bound_done_orders_go_first_then_the_least_recently_active()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
        var p = new OrderStateProjection(clock);
        for (var i = 0; i < 100; i++)
        {
            AddOrder(p, i); // filled: 300 in three fills of 100
            clock.Advance(TimeSpan.FromSeconds(1));
        }

        for (var i = 100; i < 200; i++)
        {
            p.Apply(Wrap(new OrderUpdate($"ORD-0042-{i:D9}", "PF042", "AAPL", Side.Buy, OrderType.Limit, 300m, 150.25m, TimeInForce.Day, OrderExecType.New, "NYSE", null, T0)));
            clock.Advance(TimeSpan.FromSeconds(1));
        }

        var open = p.EstimatedBytes - Enumerable.Range(0, 100).Sum(_ => 700L + 400 + (3 * 330));
        p.Evict(doneBefore: DateTime.MinValue, maxOrders: 1_000_000, maxBytes: open + (10 * (700L + 400 + (3 * 330))));

        Assert.That(p.EstimatedBytes, Is.LessThanOrEqualTo(open + (10 * (700L + 400 + (3 * 330)))));
        Assert.That(p.GetStatus("ORD-0042-000000089"), Is.Null, "older done orders went");
        Assert.That(p.GetStatus("ORD-0042-000000099")!.Status, Is.EqualTo("FILLED"), "the most recent done orders stay");
        Assert.That(Enumerable.Range(100, 100).All(i => p.GetStatus($"ORD-0042-{i:D9}") is not null), Is.True, "open orders stay while done ones can go");
    }

    [Test]
    public void A_sweep_over_many_orders_evicts_the_oldest_to_the_bound_and_allocates_little()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
        var p = new OrderStateProjection(clock);
        const int n = 50_000;
        for (var i = 0; i < n; i++)
        {
            AddOrder(p, i); // done (filled), each a second after the previous
            clock.Advance(TimeSpan.FromSeconds(1));
        }

        var bound = p.EstimatedBytes * 8 / 10;
        for (var i = 0; i < n; i++)
        {
            _ = p.GetStatus($"ORD-0042-{i:D9}"); // statuses derived once, as lookups and the feeder do; the sweep reads them
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread();
        p.Evict(doneBefore: DateTime.MinValue, maxOrders: 1_000_000, maxBytes: bound);
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;

        Assert.That(p.EstimatedBytes, Is.LessThanOrEqualTo(bound));
        Assert.That(p.Count, Is.GreaterThan(n * 7 / 10), "about a fifth went, not more");
        Assert.That(Enumerable.Range(n / 2, n / 2).All(i => p.GetStatus($"ORD-0042-{i:D9}") is not null), Is.True, "the newer half stays");
        Assert.That(allocated, Is.LessThan(1_000_000), "no sort of every order");
    }
}
