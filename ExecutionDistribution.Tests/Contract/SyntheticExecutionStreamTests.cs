using ExecutionDistribution.Contract;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;

namespace ExecutionDistribution.Tests.Contract;

[Category("Unit")]
public sealed class SyntheticExecutionStreamTests
{
    [Test]
    public void Same_seed_gives_the_same_stream()
    {
        var a = new SyntheticExecutionStream(seed: 99, liveOrders: 5_000);
        var b = new SyntheticExecutionStream(seed: 99, liveOrders: 5_000);

        for (var i = 0; i < 2_000; i++)
        {
            Assert.That(a.Next().EnvelopeJson.ToArray(), Is.EqualTo(b.Next().EnvelopeJson.ToArray()), $"event {i}");
        }
    }

    [Test]
    public void Different_seeds_give_different_streams()
    {
        var a = new SyntheticExecutionStream(seed: 1, liveOrders: 1_000).Next();
        var b = new SyntheticExecutionStream(seed: 2, liveOrders: 1_000).Next();

        Assert.That(a.EventId, Is.Not.EqualTo(b.EventId));
    }

    [Test]
    public void Data_type_mix_follows_the_standard_workload()
    {
        var stream = new SyntheticExecutionStream(seed: 5, liveOrders: 10_000);
        const int n = 100_000;
        var counts = new int[6];
        for (var i = 0; i < n; i++)
        {
            counts[(int)stream.Next().DataType]++;
        }

        double[] expected = [0.40, 0.40, 0.10, 0.05, 0.03, 0.02];
        for (var t = 0; t < 6; t++)
        {
            Assert.That(counts[t] / (double)n, Is.EqualTo(expected[t]).Within(0.01), ((ExecutionDataType)t).Name());
        }
    }

    [Test]
    public void Instruments_follow_zipf_with_the_top_rank_most_frequent()
    {
        var stream = new SyntheticExecutionStream(seed: 3, liveOrders: 20_000);
        var counts = new Dictionary<string, int>();
        for (var i = 0; i < 50_000; i++)
        {
            if (stream.Next().InstrumentId is { } instrument)
            {
                counts[instrument] = counts.GetValueOrDefault(instrument) + 1;
            }
        }

        var top = counts.OrderByDescending(kv => kv.Value).First();
        Assert.That(top.Key, Is.EqualTo(stream.InstrumentSymbols[0]));
        Assert.That(counts.Count, Is.GreaterThan(400), "most of the 500 instruments appear");
    }

    [Test]
    public void Orders_fill_to_their_quantity_and_then_are_replaced()
    {
        var stream = new SyntheticExecutionStream(seed: 11, liveOrders: 50);
        var filled = new Dictionary<string, decimal>();
        var completed = 0;
        for (var i = 0; i < 20_000; i++)
        {
            var e = stream.Next();
            if (e.Data is FillNotification f)
            {
                filled[f.OrderId] = filled.GetValueOrDefault(f.OrderId) + f.Quantity;
                if (e.Routing.RoutingKey.EndsWith(".complete", StringComparison.Ordinal))
                {
                    completed++;
                }
            }
        }

        Assert.That(completed, Is.GreaterThan(100), "orders complete and are replaced by new ones");
        Assert.That(filled.Values, Has.All.GreaterThan(0m));
    }

    [Test]
    public void Every_order_is_announced_before_it_is_filled_and_a_pending_request_is_answered_before_its_next_fill()
    {
        var stream = new SyntheticExecutionStream(seed: 17, liveOrders: 2_000);
        var announced = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Dictionary<string, OrderExecType>(StringComparer.Ordinal);
        var fills = 0;
        for (var i = 0; i < 100_000; i++)
        {
            var e = stream.Next();
            switch (e.Data)
            {
                // Plain checks, failing with the event's index: NUnit's Does.Contain walks a set, and 100,000 of them took half a minute.
                case OrderUpdate u:
                    Check(u.ExecType == OrderExecType.New == announced.Add(u.OrderId), i, "NEW first, and once");
                    if (pending.Remove(u.OrderId, out var request))
                    {
                        Check(u.ExecType == (request == OrderExecType.PendingCancel ? OrderExecType.CancelRejected : OrderExecType.Replaced), i, "the update after a request answers it");
                    }
                    else if (u.ExecType is OrderExecType.PendingCancel or OrderExecType.PendingReplace)
                    {
                        pending[u.OrderId] = u.ExecType;
                    }

                    break;
                case FillNotification f:
                    fills++;
                    Check(announced.Contains(f.OrderId), i, "a fill of an order never announced");
                    Check(!pending.ContainsKey(f.OrderId), i, "a fill while a request is pending");
                    break;
                case ExecutionReport or SettlementUpdate or TcaResult:
                    Check(announced.Contains(e.OrderId!), i, $"{e.DataType.Name()} of an order never announced");
                    break;
            }
        }

        Assert.That(fills, Is.GreaterThan(30_000));
    }

    private static void Check(bool holds, int index, string what)
    {
        if (!holds)
        {
            Assert.Fail($"event {index}: {what}");
        }
    }
}
