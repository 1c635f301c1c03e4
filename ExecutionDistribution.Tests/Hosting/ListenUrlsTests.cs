using System.Net;
using System.Net.Sockets;
using ExecutionDistribution.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace ExecutionDistribution.Tests.Hosting;

/// <summary><c>--urls</c>, <c>ASPNETCORE_URLS</c> and <c>ASPNETCORE_HTTP_PORTS</c> move the HTTP endpoint, as in any ASP.NET Core app.</summary>
[Category("Unit")]
public sealed class ListenUrlsTests
{
    [Test]
    public async Task The_urls_argument_moves_the_rest_endpoint_and_leaves_grpc_where_it_was()
    {
        var port = FreePort();
        var app = ExecDistApplication.Build(["--urls", $"http://127.0.0.1:{port}", "--Kestrel:Endpoints:Grpc:Url=http://127.0.0.1:0", "--Kafka:Enabled=false",
            "--Logging:LogLevel:Default=Warning", $"--Audit:SpillDirectory={Path.Combine(Path.GetTempPath(), "execdist-tests", Guid.NewGuid().ToString("N"))}"]);
        await app.StartAsync();
        try
        {
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
            Assert.That(addresses, Has.Member($"http://127.0.0.1:{port}"));
            Assert.That(addresses, Has.No.Member("http://127.0.0.1:8080"));

            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            using var response = await client.GetAsync(new Uri("/api/v1/distribution/stats", UriKind.Relative));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
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
