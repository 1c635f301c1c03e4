using ExecutionDistribution.Contract;
using ExecutionDistribution.Orders;

namespace ExecutionDistribution.Tests.Orders;

/// <summary>
/// The order status follows FIX 4.4's order state change matrices step by step, and depends only on
/// the set of events: any arrival order, with repeats, gives each step's state.
/// </summary>
[Category("Unit")]
public sealed class FixOrderStateTests
{
    private static IEnumerable<FixScenario> Scenarios() => FixScenarios.All();

    internal static void AssertState(OrderExecutionStatus? actual, Expected expected, string because)
    {
        Assert.That(actual, Is.Not.Null, because);
        Assert.That((actual!.Status, actual.CumQty, actual.LeavesQty, actual.AvgPx), Is.EqualTo((expected.Status, expected.Cum, expected.Leaves, expected.AvgPx)), because);
        if (actual.OrderQty is { } qty && actual.LeavesQty is { } leaves && leaves > 0)
        {
            Assert.That(actual.CumQty + leaves, Is.EqualTo(qty), $"{because}: cum_qty + leaves_qty = order_qty while the order is open");
        }
    }

    [TestCaseSource(nameof(Scenarios))]
    public void Each_step_gives_the_status_and_quantities_the_FIX_matrix_states(FixScenario scenario)
    {
        var projection = new OrderStateProjection();
        foreach (var step in scenario.Steps)
        {
            foreach (var e in step.Events)
            {
                projection.Apply(e);
            }

            AssertState(projection.GetStatus(scenario.OrderId), step.After, $"after {step.What}");
        }
    }

    [TestCaseSource(nameof(Scenarios))]
    public void Any_arrival_order_with_repeats_gives_the_same_state_at_every_step(FixScenario scenario)
    {
        var random = new Random(20250623);
        var sent = new List<ExecutionEvent>();
        foreach (var step in scenario.Steps)
        {
            sent.AddRange(step.Events);
            for (var trial = 0; trial < 25; trial++)
            {
                // Some events twice (a producer's retry, a Kafka redelivery), all in a random order.
                var arrivals = sent.Concat(sent.Where(_ => random.Next(3) == 0)).OrderBy(_ => random.Next()).ToList();
                var projection = new OrderStateProjection();
                foreach (var e in arrivals)
                {
                    projection.Apply(e);
                }

                AssertState(projection.GetStatus(scenario.OrderId), step.After, $"after {step.What}, arrived as {string.Join(" ", arrivals.Select(e => e.EventId[^3..]))}");
            }
        }
    }

    [Test]
    public void A_restatement_needs_its_reason_and_only_a_restatement_has_one()
    {
        static string Update(string exec, string? reason)
        {
            var data = new System.Text.Json.Nodes.JsonObject
            {
                ["order_id"] = "O1", ["portfolio_id"] = "P", ["instrument_id"] = "AAPL", ["side"] = "BUY", ["order_qty"] = 100, ["limit_price"] = 1,
                ["time_in_force"] = "GTD", ["exec_type"] = exec, ["update_time"] = "2025-06-23T09:30:00Z",
            };
            if (reason is not null)
            {
                data["restatement_reason"] = reason;
            }

            return new System.Text.Json.Nodes.JsonObject
            {
                ["event_id"] = "e1", ["timestamp"] = "2025-06-23T09:30:00Z", ["data_type"] = "ORDER_UPDATE",
                ["routing"] = new System.Text.Json.Nodes.JsonObject { ["topic"] = "t", ["routing_key"] = "a.b.c" }, ["data"] = data,
                ["metadata"] = new System.Text.Json.Nodes.JsonObject { ["source_service"] = "oms" },
            }.ToJsonString();
        }

        var restated = ExecutionEventParser.Parse(System.Text.Encoding.UTF8.GetBytes(Update("RESTATED", "GTC_RENEWAL")));
        Assert.That(restated.IsValid, string.Join("; ", restated.Problems));
        var update = (OrderUpdate)restated.Event!.Data;
        Assert.That((update.ExecType, update.RestatementReason, update.TimeInForce), Is.EqualTo((OrderExecType.Restated, RestatementReason.GtcRenewal, TimeInForce.Gtd)));
        Assert.That(System.Text.Encoding.UTF8.GetString(restated.Event.EnvelopeJson.Span), Does.Contain("\"restatement_reason\":\"GTC_RENEWAL\""), "written back as received");

        Assert.That(ExecutionEventParser.Parse(System.Text.Encoding.UTF8.GetBytes(Update("RESTATED", null))).Problems.Select(p => p.Path), Does.Contain("data.restatement_reason"));
        Assert.That(ExecutionEventParser.Parse(System.Text.Encoding.UTF8.GetBytes(Update("NEW", "GTC_RENEWAL"))).Problems.Select(p => p.Path), Does.Contain("data.restatement_reason"));
        Assert.That(ExecutionEventParser.Parse(System.Text.Encoding.UTF8.GetBytes(Update("CANCEL_REJECTED", null))).Event, Is.Not.Null);
        Assert.That(ExecutionEventParser.Parse(System.Text.Encoding.UTF8.GetBytes(Update("REPLACE_REJECTED", null))).Event, Is.Not.Null);
    }
}
