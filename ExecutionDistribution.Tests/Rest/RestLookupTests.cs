using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using ExecutionDistribution.Tests.Contract;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Rest;

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
        var details = await host.Client.GetFromJsonAsync<JsonObject>($"/api/v1/execution/fills/{order}-F1");
        Assert.That((string?)details!["state"], Is.EqualTo("LIVE"));
        Assert.That((string?)details["order_id"], Is.EqualTo(order));

        using var unknownOrder = await host.Client.GetAsync(new Uri("/api/v1/execution/nobody/status", UriKind.Relative));
        using var unknownFill = await host.Client.GetAsync(new Uri("/api/v1/execution/fills/nothing", UriKind.Relative));
        Assert.That(unknownOrder.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(unknownOrder.Content.Headers.ContentType!.MediaType, Is.EqualTo("application/problem+json"));
        Assert.That(unknownFill.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }
}
