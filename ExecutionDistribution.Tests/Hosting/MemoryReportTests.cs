using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Hosting;

/// <summary>The service reports its memory: the process's, and each in-memory store's with its bound and policy.</summary>
[Category("Unit")]
public sealed class MemoryReportTests
{
    [Test]
    public async Task Each_store_reports_what_it_holds_its_bound_and_its_policy_and_the_figures_follow_the_load()
    {
        await using var host = await ServiceHost.StartAsync();
        var before = (await host.Client.GetFromJsonAsync<JsonObject>("/api/v1/memory"))!;
        Assert.That((long)before["process"]!["working_set_bytes"]!, Is.GreaterThan(0));
        Assert.That((long)before["process"]!["managed_heap_bytes"]!, Is.GreaterThan(0));
        var stores = before["stores"]!.AsObject();
        Assert.That(stores.Select(kv => kv.Key), Is.SupersetOf(new[] { "audit_queue", "orders", "retained_log", "subscriber_buffers" }));
        foreach (var (name, store) in stores)
        {
            Assert.That((string?)store!["policy"], Is.Not.Empty, name);
            Assert.That(store["max_items"] is not null || store["max_bytes"] is not null, name + " states a bound");
        }

        var orders = (long)stores["orders"]!["items"]!;
        for (var i = 0; i < 100; i++)
        {
            await host.Core.PublishAsync(Events.Order($"mem-{Guid.NewGuid():N}"), CancellationToken.None);
        }

        await Eventually.WaitUntilAsync(() =>
        {
            var now = host.Client.GetFromJsonAsync<JsonObject>("/api/v1/memory").GetAwaiter().GetResult()!["stores"]!;
            return (long)now["orders"]!["items"]! >= orders + 100 && (long)now["orders"]!["estimated_bytes"]! > 0
                && (long)now["retained_log"]!["items"]! >= 100 && (long)now["retained_log"]!["estimated_bytes"]! > 100 * 256;
        }, "the orders and the retained log report the new events");
    }
}
