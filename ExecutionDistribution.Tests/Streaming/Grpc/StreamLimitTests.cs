using System.Net.WebSockets;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Streaming;
using ExecutionDistribution.Tests.Streaming.WebSockets;
using ExecutionDistribution.Tests.Support;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;

namespace ExecutionDistribution.Tests.Streaming.Grpc;

/// <summary>Limits per client answer ResourceExhausted (gRPC) or close 1008 (WebSocket), naming the setting.</summary>
[Category("Unit")]
public sealed class StreamLimitTests
{
    [Test]
    public async Task A_client_over_its_websocket_stream_limit_is_closed_with_1008()
    {
        await using var host = await ServiceHost.StartAsync("--WebSocket:MaxStreamsPerClient=2");
        await using var first = await StreamClient.ConnectAsync(host, "order_ids=a");
        await using var second = await StreamClient.ConnectAsync(host, "order_ids=b");
        await first.ReceiveAsync();
        await second.ReceiveAsync();

        await using var third = await StreamClient.ConnectAsync(host, "order_ids=c");
        var close = await third.ReceiveCloseAsync();

        Assert.That(close.Status, Is.EqualTo(WebSocketCloseStatus.PolicyViolation));
        Assert.That(close.Reason, Does.Contain("WebSocket:MaxStreamsPerClient"));
    }

    [Test]
    public async Task A_client_over_its_grpc_stream_limit_gets_resource_exhausted_and_a_closed_stream_frees_its_place()
    {
        await using var host = await ServiceHost.StartAsync("--Grpc:MaxStreamsPerClient=1");
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var client = new ExecutionStream.ExecutionStreamClient(channel);
        var filter = new Filter();
        filter.OrderIds.Add("limit");

        var first = client.StreamExecution(new StreamRequest { Filter = filter });
        await first.ResponseHeadersAsync;
        using var second = client.StreamExecution(new StreamRequest { Filter = filter });
        var refused = Assert.ThrowsAsync<RpcException>(async () => await second.ResponseStream.MoveNext(CancellationToken.None));
        Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
        Assert.That(refused.Status.Detail, Does.Contain("Grpc:MaxStreamsPerClient"));

        first.Dispose();
        var limiter = host.App.Services.GetRequiredKeyedService<ExecutionDistribution.Streaming.StreamLimiter>("Grpc");
        await Eventually.WaitUntilAsync(() => limiter.Open == 0, "the closed stream gives its place back");
        using var third = client.StreamExecution(new StreamRequest { Filter = filter });
        Assert.That(await third.ResponseHeadersAsync, Is.Not.Null, "a new stream is accepted");
    }

    [Test]
    public async Task A_filter_over_its_size_limit_gets_resource_exhausted()
    {
        await using var host = await ServiceHost.StartAsync();
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var filter = new Filter();
        filter.OrderIds.AddRange(Enumerable.Range(0, 10_001).Select(i => $"O-{i}"));

        using var call = new ExecutionStream.ExecutionStreamClient(channel).StreamExecution(new StreamRequest { Filter = filter });
        var refused = Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNext(CancellationToken.None));

        Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
        Assert.That(refused.Status.Detail, Does.StartWith("filter.order_ids"));
    }
}
