using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Tests.Support;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Tests.Hosting;

/// <summary>The Kestrel limits of appsettings.json are the server's: one HTTP/2 connection carries more than Kestrel's default 100 gRPC calls.</summary>
[Category("Unit")]
public sealed class KestrelLimitsTests
{
    [Test]
    public async Task The_configured_streams_per_connection_are_what_the_server_allows()
    {
        await using var host = await ServiceHost.StartAsync("--Kestrel:Limits:Http2:MaxStreamsPerConnection=300");

        var limits = host.App.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits;

        Assert.That(limits.Http2.MaxStreamsPerConnection, Is.EqualTo(300));
    }

    [Test]
    public async Task One_connection_carries_150_concurrent_grpc_streams()
    {
        await using var host = await ServiceHost.StartAsync();
        // One connection only: the client waits for a free stream rather than opening a second connection.
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = false },
        });
        var client = new ExecutionStream.ExecutionStreamClient(channel);
        var filter = new Filter();
        filter.OrderIds.Add($"streams-{Guid.NewGuid():N}");

        var calls = Enumerable.Range(0, 150).Select(_ => client.StreamExecution(new StreamRequest { Filter = filter })).ToList();
        try
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var started = await Task.WhenAll(calls.Select(c => c.ResponseHeadersAsync.WaitAsync(deadline.Token)));

            Assert.That(started, Has.Length.EqualTo(150), "every call got its response headers on the one connection");
        }
        finally
        {
            calls.ForEach(c => c.Dispose());
        }
    }
}
