using System.Net.WebSockets;
using ExecutionDistribution.Tests.Contract;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Api;

/// <summary>The dashboard at <c>/</c> in a real browser (Debian's Chromium driven by playwright-core): it goes live and its numbers move while events flow.</summary>
[Category("ExternalClient")]
public sealed class DashboardTests
{
    [Test]
    public async Task The_dashboard_shows_events_moving_and_the_streams_in_a_real_browser()
    {
        await using var host = await ServiceHost.StartAsync("--DemoFeed:Enabled=true", "--DemoFeed:EventsPerSecond=200");
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{host.BaseAddress.Authority}/api/v1/execution/stream?data_types=FILL_NOTIFICATION"), CancellationToken.None);
        var clients = Path.GetDirectoryName(ContractDocumentTests.FindRepositoryFile("ExecutionDistribution.Tests/Clients/dashboard.js"))!;
        var screenshot = Path.Combine(TestContext.CurrentContext.WorkDirectory, "dashboard.png");

        var result = await ExternalClient.RunAsync("node", [Path.Combine(clients, "dashboard.js"), host.BaseAddress.ToString(), screenshot], () => { }, clients);
        TestContext.AddTestAttachment(screenshot, "the dashboard while the demo feed runs");

        Assert.Multiple(() =>
        {
            Assert.That((string?)result["title"], Is.EqualTo("ExecDist"));
            Assert.That((double)result["eventsTotalLater"]!, Is.GreaterThan((double)result["eventsTotalFirst"]!), "the events total moves");
            Assert.That((double)result["eventsPerSecond"]!, Is.GreaterThan(0));
            Assert.That((double)result["deliveriesTotal"]!, Is.GreaterThan(0), "the stream's deliveries");
            Assert.That((string?)result["clients"], Does.Contain("websocket"));
            Assert.That((string?)result["slowest"], Does.Contain("at_least_once"), "the slowest subscribers");
            Assert.That(result["errors"]!.AsArray(), Is.Empty, "no script error");
            Assert.That(new FileInfo(screenshot).Length, Is.GreaterThan(10_000), "a screenshot was written");
        });
    }
}
