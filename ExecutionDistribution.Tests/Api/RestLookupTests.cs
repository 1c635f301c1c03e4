using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using ExecutionDistribution.Tests.Contract;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Api;

/// <summary>The spec's REST lookups over a real socket, fed by events posted to the service.</summary>
[Category("Unit")]
public sealed class RestLookupTests
{
    [Test]
    public async Task Order_status_and_fill_lookups_answer_after_events_are_ingested_and_404_otherwise()
    {
        await using var host = await ServiceHost.StartAsync();
        var order = $"order-{Guid.NewGuid():N}";
        var fill = JsonNode.Parse(ExecutionEventParserTests.SpecExample)!.AsObject();
        fill["event_id"] = $"{order}-fill";
        fill["data"]!["order_id"] = order;
        fill["data"]!["fill_id"] = $"{order}-F1";
        using (var posted = await host.Client.PostAsync("/api/v1/executions", new StringContent(fill.ToJsonString(), Encoding.UTF8, "application/json")))
        {
            Assert.That(posted.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        }

        JsonObject? status = null;
        await Eventually.WaitUntilAsync(() =>
        {
            using var response = host.Client.GetAsync(new Uri($"/api/v1/execution/{order}/status", UriKind.Relative)).GetAwaiter().GetResult();
            status = response.IsSuccessStatusCode ? response.Content.ReadFromJsonAsync<JsonObject>().GetAwaiter().GetResult() : null;
            return status is not null;
        }, "the order status is served");

        Assert.That((decimal?)status!["cum_qty"], Is.EqualTo(100m));
        Assert.That((decimal?)status["avg_px"], Is.EqualTo(150.25m));
        Assert.That((int?)status["fill_count"], Is.EqualTo(1));
        Assert.That((string?)status["updated_at"], Is.EqualTo("2025-06-21T10:00:00.000000Z"), "the contract's timestamp format");
        Assert.That((string?)status["status"], Is.EqualTo("PARTIALLY_FILLED"), "filled, but its quantity is not known yet");
        Assert.That(status.ContainsKey("leaves_qty") && status["leaves_qty"] is null, "leaves_qty is null while the order quantity is unknown, never 0");
        var details = await host.Client.GetFromJsonAsync<JsonObject>($"/api/v1/execution/fills/{order}-F1");
        Assert.That((string?)details!["state"], Is.EqualTo("LIVE"));
        Assert.That((string?)details["order_id"], Is.EqualTo(order));

        var update = JsonNode.Parse($$$"""
            {"event_id":"{{{order}}}-new","timestamp":"2025-06-21T09:59:00Z","data_type":"ORDER_UPDATE",
             "routing":{"topic":"execution/orders/updates","routing_key":"AAPL.order.new"},"metadata":{"source_service":"oms"},
             "data":{"order_id":"{{{order}}}","portfolio_id":"PF001","instrument_id":"AAPL","side":"BUY","order_qty":300,"limit_price":151,
                     "exec_type":"NEW","update_time":"2025-06-21T09:59:00Z"}}
            """)!;
        using (var posted = await host.Client.PostAsync("/api/v1/executions", new StringContent(update.ToJsonString(), Encoding.UTF8, "application/json")))
        {
            Assert.That(posted.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        }

        await Eventually.WaitUntilAsync(() =>
        {
            status = host.Client.GetFromJsonAsync<JsonObject>($"/api/v1/execution/{order}/status").GetAwaiter().GetResult();
            return (decimal?)status!["order_qty"] == 300m;
        }, "the order's new-order event is taken into account");
        Assert.That(((string?)status!["status"], (decimal?)status["leaves_qty"]), Is.EqualTo(("PARTIALLY_FILLED", 200m)), "recomputed once the quantity is known");

        using var unknownOrder = await host.Client.GetAsync(new Uri("/api/v1/execution/nobody/status", UriKind.Relative));
        using var unknownFill = await host.Client.GetAsync(new Uri("/api/v1/execution/fills/nothing", UriKind.Relative));
        Assert.That(unknownOrder.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(unknownOrder.Content.Headers.ContentType!.MediaType, Is.EqualTo("application/problem+json"));
        Assert.That(unknownFill.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }
}
