using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ExecutionDistribution.Security;
using ExecutionDistribution.Tests.Streaming.WebSockets;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Security;

/// <summary>
/// The audit says who received what as it was delivered: each outcome names who opened the stream,
/// and a stream narrowed to a portfolio is audited with the fills it received under their order's
/// portfolio (a fill's envelope does not name it), and with nothing of another portfolio. Both the
/// local audit store and PostgreSQL.
/// </summary>
public sealed class AuditAccessTests
{
    [Test]
    [Category("Unit")]
    public Task The_local_audit_names_who_opened_each_stream_and_what_its_entitlements_let_through() => RunAsync(postgres: false);

    [Test]
    [Category("Postgres")]
    public Task The_postgres_audit_names_who_opened_each_stream_and_what_its_entitlements_let_through() => RunAsync(postgres: true);

    private static async Task RunAsync(bool postgres)
    {
        await using var db = postgres ? new TestPostgres() : null;
        await using var host = await ServiceHost.StartAsync([.. TestAuth.Settings(), .. TestAuth.RevocationsFile(), .. db?.Settings() ?? []]);
        var run = Guid.NewGuid().ToString("N")[..8];
        var subject = $"desk-{run}";
        await using var ws = await StreamClient.ConnectAsync(host, "data_types=ORDER_UPDATE,FILL_NOTIFICATION", TestAuth.Token([Scopes.Read], [$"{run}-PA"], subject));
        var subscription = (string)(await ws.ReceiveAsync())["subscription_id"]!;
        foreach (var (order, portfolio) in new[] { ($"{run}-A", $"{run}-PA"), ($"{run}-B", $"{run}-PB") })
        {
            Assert.That(host.Core.TryPublish(Events.Order(order, portfolio: portfolio, eventId: $"{order}-new")), Is.True);
            Assert.That(host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-fill")), Is.True);
        }

        Assert.That((await ws.ReceiveEventsAsync(2)).Select(e => e.EventId), Is.EqualTo(new[] { $"{run}-A-new", $"{run}-A-fill" }));

        using var http = new HttpClient { BaseAddress = host.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TestAuth.Admin());
        List<JsonNode?> Delivered(string order) =>
            [.. http.GetFromJsonAsync<JsonArray>($"/api/v1/audit?order_id={order}&subscription_id={subscription}").GetAwaiter().GetResult()!
                .Where(r => (string?)r!["delivery_status"] == "delivered")];
        List<JsonNode?> ofA = [];
        await Eventually.WaitUntilAsync(() => (ofA = Delivered($"{run}-A")).Count >= 2, "the stream's deliveries are audited");

        Assert.That(ofA.Select(r => (string?)r!["event_id"]), Is.EquivalentTo(new[] { $"{run}-A-new", $"{run}-A-fill" }), "the fill, under its order's portfolio");
        Assert.That(ofA.Select(r => (string?)r!["caller"]), Has.All.EqualTo(subject), "who opened the stream");
        Assert.That(Delivered($"{run}-B"), Is.Empty, "nothing of the other portfolio");
    }
}
