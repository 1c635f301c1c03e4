using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Tests.Support;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Tests.Audit;

/// <summary>
/// Ranges answer per delivery: an event is reported for a subscription exactly when a range of its
/// stream covers the event and the stream's filter takes it; acknowledgements and drops as they happened.
/// </summary>
[Category("Unit")]
public sealed class AuditRangeTests
{
    [Test]
    public async Task Outcomes_name_exactly_the_events_each_stream_took_between_its_positions()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"audit-ranges-{Guid.NewGuid():N}");
        try
        {
            var trail = new AuditTrail(Options.Create(new AuditOptions()), TimeProvider.System) { LogEpoch = Guid.NewGuid() };
            var store = new FileAuditStore(new AuditSegments(folder, "audit", 1 << 20, 1 << 30, TimeSpan.FromDays(1), AuditFullPolicy.BackPressure, TimeProvider.System));

            // Ten events of the log, alternately of orders A and B; a stream watching A and one taking everything.
            var events = Enumerable.Range(0, 10).Select(i => Events.Fill(i % 2 == 0 ? "A" : "B", eventId: $"e{i}")).ToArray();
            for (var i = 0; i < events.Length; i++)
            {
                events[i].Position = 100 + i;
                trail.RecordEvent(events[i]);
            }

            var watchA = new StreamAudit(trail, "watch-a", null, DeliveryGuarantee.AtLeastOnce, new FilterSpec { OrderIds = ["A"] }.Build(out _)!);
            var everything = new StreamAudit(trail, "everything", null, DeliveryGuarantee.AtMostOnce, SubscriptionFilter.All);
            var a = events.Where(e => e.OrderId == "A").Select((e, i) => new Delivery(e, i + 1)).ToArray();
            watchA.Delivered(a.AsSpan(0, 3));
            watchA.Failed(a.AsSpan(3));
            everything.Delivered([.. events.Where(e => e.EventId != "e5").Select((e, i) => new Delivery(e, i + 1))]);
            trail.RecordSingle(events[5], "everything", DeliveryStatuses.Dropped);

            var rows = new List<AuditRow>();
            trail.Drain(rows, int.MaxValue);
            Assert.That(rows.Count(r => r.Kind == AuditRowKind.Range), Is.EqualTo(3), "one range per message, not one row per delivery");
            Assert.That(await store.WriteAsync(rows, mayRepeat: false, CancellationToken.None), Is.True);

            async Task<string[]> Outcomes(string eventId) =>
                [.. (await store.QueryAsync(new AuditQuery(eventId, null, null, null, null, 100), CancellationToken.None)).Select(r => $"{r.SubscriptionId}:{r.DeliveryStatus}").Order()];

            Assert.That(await Outcomes("e0"), Is.EqualTo(new[] { "everything:delivered", "watch-a:delivered" }));
            Assert.That(await Outcomes("e1"), Is.EqualTo(new[] { "everything:delivered" }), "inside watch-a's range, but its filter does not take order B");
            Assert.That(await Outcomes("e6"), Is.EqualTo(new[] { "everything:delivered", "watch-a:failed" }));
            Assert.That(await Outcomes("e5"), Is.EqualTo(new[] { "everything:dropped" }), "a drop outweighs the range around it");

            var byOrder = await store.QueryAsync(new AuditQuery(null, "A", "watch-a", null, null, 100), CancellationToken.None);
            Assert.That(byOrder.Select(r => $"{r.EventId}:{r.DeliveryStatus}").Order(), Is.EqualTo(new[] { "e0:delivered", "e2:delivered", "e4:delivered", "e6:failed", "e8:failed" }));
            Assert.That(byOrder.Select(r => r.Id), Is.Unique);
        }
        finally
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    [Test]
    public async Task Without_postgres_a_full_local_store_degrades_health_and_holds_rows_back_without_losing_any()
    {
        await using var host = await ServiceHost.StartAsync("--Audit:Local:MaxBytes=1048576", "--Audit:RetryInterval=00:00:00.050");
        for (var i = 0; i < 3_000; i++)
        {
            await host.Core.PublishAsync(Events.Fill($"full-{i % 10}"), CancellationToken.None);
        }

        JsonObject Stats() => host.Client.GetFromJsonAsync<JsonObject>("/api/v1/audit/stats").GetAwaiter().GetResult()!;
        await Eventually.WaitUntilAsync(() => (bool)Stats()["full"]!, "the local store reaches its cap");
        using var health = await host.Client.GetAsync(new Uri("/health", UriKind.Relative));
        var text = await health.Content.ReadAsStringAsync();
        Assert.That(text, Does.Contain("Degraded"), text);

        var stats = Stats();
        Assert.That((long)stats["local"]!["bytes"]!, Is.LessThanOrEqualTo(1_048_576));
        Assert.That((long)stats["local"]!["dropped_segments"]!, Is.Zero, "back-pressure drops nothing");
        Assert.That((long)stats["recorded"]!, Is.GreaterThan((long)stats["written"]!), "rows wait");
    }
}
