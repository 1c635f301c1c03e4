using System.Net;
using System.Net.Sockets;
using ExecutionDistribution.Hosting;
using ExecutionDistribution.Tests.Support;
using Microsoft.Extensions.Configuration;

namespace ExecutionDistribution.Tests.Hosting;

/// <summary><c>--urls</c>, <c>ASPNETCORE_URLS</c> and <c>ASPNETCORE_HTTP_PORTS</c> move the HTTP endpoint, as in any ASP.NET Core app.</summary>
[Category("Unit")]
public sealed class ListenUrlsTests
{
    [Test]
    public async Task The_urls_argument_moves_the_rest_endpoint()
    {
        var port = FreePort();

        // After the host's own free-port endpoint settings, as a newcomer's --urls would come after appsettings.json.
        await using var host = await ServiceHost.StartAsync("--urls", $"http://127.0.0.1:{port}");

        Assert.That(host.BaseAddress.Port, Is.EqualTo(port), "REST answers on the port --urls named");
        using var response = await host.Client.GetAsync(new Uri("/api/v1/distribution/stats", UriKind.Relative));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public void Several_urls_and_http_ports_each_become_an_endpoint()
    {
        var urls = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["urls"] = "http://127.0.0.1:5000; http://[::1]:5001" }).Build();
        var ports = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["http_ports"] = "8080;9090" }).Build();
        var none = new ConfigurationBuilder().Build();

        Assert.That(ListenUrls.Given(urls), Is.EqualTo(new[] { "http://127.0.0.1:5000", "http://[::1]:5001" }));
        Assert.That(ListenUrls.Given(ports), Is.EqualTo(new[] { "http://*:8080", "http://*:9090" }));
        Assert.That(ListenUrls.Given(none), Is.Empty);
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
