using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Orders;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Api;

[Category("Unit")]
public sealed class ExecutionReportTests
{
    private static readonly DateTime Day1 = new(2025, 6, 21, 14, 0, 0, DateTimeKind.Utc);
    private static int _ids;

    private static ExecutionEvent Order(string order, string portfolio, decimal qty, OrderExecType exec = OrderExecType.New, DateTime? at = null) =>
        Wrap(new OrderUpdate(order, portfolio, "AAPL", Side.Buy, OrderType.Limit, qty, 150m, TimeInForce.Day, exec, "NYSE", null, at ?? Day1));

    private static ExecutionEvent Fill(string order, string portfolio, string id, string instrument, Side side, decimal qty, decimal price, string venue, DateTime at) =>
        Wrap(new FillNotification(order, id, instrument, side, qty, price, venue, at, 2m, FillExecType.Trade, null, portfolio, "USD"));

    private static ExecutionEvent Wrap(ExecutionPayload data) =>
        new($"r-{Interlocked.Increment(ref _ids)}", Day1, data.DataType, data, new RoutingInfo("t", "k.x.y", [], 1, DeliveryGuarantee.AtLeastOnce),
            new ExecutionMetadata("oms", null, false, true, []));

    [Test]
    public void A_report_sums_the_portfolios_live_fills_in_the_range()
    {
        var p = new OrderStateProjection();
        foreach (var e in new[]
        {
            Order("O1", "PF1", 200m),
            Fill("O1", "PF1", "F1", "AAPL", Side.Buy, 100m, 150m, "NYSE", Day1),
            Fill("O1", "PF1", "F2", "AAPL", Side.Buy, 100m, 152m, "ARCA", Day1.AddHours(1)),
            Order("O2", "PF1", 100m),
            Fill("O2", "PF1", "F3", "MSFT", Side.Sell, 50m, 400m, "NYSE", Day1),
            Order("O3", "PF1", 100m, OrderExecType.Canceled),
            Fill("O4", "PF1", "F4", "AAPL", Side.Buy, 10m, 150m, "NYSE", Day1.AddDays(5)), // outside the range
            Order("O9", "PF2", 100m),
            Fill("O9", "PF2", "F9", "AAPL", Side.Buy, 100m, 150m, "NYSE", Day1), // another portfolio
        })
        {
            p.Apply(e);
        }

        var report = p.Report("PF1", DateOnly.FromDateTime(Day1), DateOnly.FromDateTime(Day1));

        Assert.Multiple(() =>
        {
            Assert.That(report.OrdersByStatus, Is.EquivalentTo(new Dictionary<string, int> { ["FILLED"] = 1, ["PARTIALLY_FILLED"] = 1, ["CANCELED"] = 1 }));
            Assert.That((report.FillCount, report.Quantity, report.Notional, report.Commissions), Is.EqualTo((3, 250m, 50_200m, 6m)));
            Assert.That(report.FillRate, Is.EqualTo(Math.Round(250m / 400m, 6)), "filled over ordered, for the orders active in the range");
            var aapl = report.ByInstrumentAndSide.Single(s => s.InstrumentId == "AAPL");
            Assert.That((aapl.Side, aapl.Quantity, aapl.Vwap, aapl.Notional), Is.EqualTo(("BUY", 200m, 151m, 30_200m)));
            var nyse = report.ByVenue.Single(v => v.Venue == "NYSE");
            Assert.That((nyse.Fills, nyse.Quantity, nyse.Share), Is.EqualTo((2, 150m, 0.6m)));
        });
    }

    [TestCase("start_date=2025-06-21", "end_date")]
    [TestCase("start_date=21/06/2025&end_date=2025-06-22", "start_date")]
    [TestCase("start_date=2025-06-22&end_date=2025-06-21", "end_date")]
    [TestCase("start_date=2024-01-01&end_date=2025-06-21", "end_date")]
    public async Task Bad_or_reversed_dates_or_too_long_a_range_get_400_naming_the_parameter(string query, string parameter)
    {
        await using var host = await ServiceHost.StartAsync();

        using var response = await host.Client.GetAsync(new Uri($"/api/v1/execution/reports/PF1?{query}", UriKind.Relative));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var problem = await response.Content.ReadFromJsonAsync<JsonObject>();
        Assert.That(problem!["errors"]!.AsObject().ContainsKey(parameter), Is.True, problem.ToJsonString());
    }

    [Test]
    public async Task The_report_endpoint_answers_for_a_valid_range()
    {
        await using var host = await ServiceHost.StartAsync();
        host.Core.TryPublish(Fill("OR", "PF-REST", "FR", "AAPL", Side.Buy, 10m, 100m, "IEX", Day1));

        JsonObject? report = null;
        await Eventually.WaitUntilAsync(() =>
        {
            report = host.Client.GetFromJsonAsync<JsonObject>("/api/v1/execution/reports/PF-REST?start_date=2025-06-21&end_date=2025-06-21").GetAwaiter().GetResult();
            return (int?)report!["fill_count"] == 1;
        }, "the report includes the fill");

        Assert.That((decimal?)report!["notional"], Is.EqualTo(1_000m));
        Assert.That((string?)report["start_date"], Is.EqualTo("2025-06-21"));
    }
}
