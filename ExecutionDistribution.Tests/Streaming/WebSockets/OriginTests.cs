using System.Net;
using System.Net.WebSockets;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Streaming.WebSockets;

/// <summary>Browser pages of other origins cannot open streams unless WebSocket:AllowedOrigins lists them.</summary>
[Category("Unit")]
public sealed class OriginTests
{
    private static async Task<HttpStatusCode?> UpgradeAsync(ServiceHost host, string? origin)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (origin is not null)
        {
            socket.Options.SetRequestHeader("Origin", origin);
        }

        var uri = new UriBuilder(host.BaseAddress) { Scheme = "ws", Path = "/api/v1/execution/stream", Query = $"order_ids=origin-{Guid.NewGuid():N}" }.Uri;
        try
        {
            await socket.ConnectAsync(uri, CancellationToken.None);
            return socket.HttpStatusCode; // 101
        }
        catch (WebSocketException)
        {
            return socket.HttpStatusCode;
        }
    }

    [Test]
    public async Task Clients_without_an_origin_and_pages_of_the_services_own_origin_connect_and_others_get_403()
    {
        await using var host = await ServiceHost.StartAsync();
        var own = $"http://{host.BaseAddress.Authority}";

        Assert.That(await UpgradeAsync(host, null), Is.EqualTo(HttpStatusCode.SwitchingProtocols), "no Origin: not a browser");
        Assert.That(await UpgradeAsync(host, own), Is.EqualTo(HttpStatusCode.SwitchingProtocols), "the service's own origin");
        Assert.That(await UpgradeAsync(host, "https://elsewhere.example"), Is.EqualTo(HttpStatusCode.Forbidden), "another site's page");
    }

    [Test]
    public async Task Origins_listed_in_the_setting_connect()
    {
        await using var host = await ServiceHost.StartAsync("--WebSocket:AllowedOrigins:0=https://desk.example");

        Assert.That(await UpgradeAsync(host, "https://desk.example"), Is.EqualTo(HttpStatusCode.SwitchingProtocols));
        Assert.That(await UpgradeAsync(host, "https://other.example"), Is.EqualTo(HttpStatusCode.Forbidden));
    }
}
