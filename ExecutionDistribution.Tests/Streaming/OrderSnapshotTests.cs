using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Orders;
using ExecutionDistribution.Tests.Streaming.WebSockets;
using ExecutionDistribution.Tests.Support;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;

namespace ExecutionDistribution.Tests.Streaming;

/// <summary>Streams watching orders get the orders' current state first, then the events after it, with nothing lost or doubled at the seam.</summary>
[Category("Unit")]
public sealed class OrderSnapshotTests
{
    private ServiceHost _host = null!;

    [OneTimeSetUp]
    public async Task StartHost() => _host = await ServiceHost.StartAsync();

    [OneTimeTearDown]
    public async Task StopHost() => await _host.DisposeAsync();

    private async Task<string> OrderWithOneFillAsync()
    {
        var order = $"snap-{Guid.NewGuid():N}";
        _host.Core.TryPublish(Events.Order(order, eventId: $"{order}-new"));
        _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-fill-1"));
        var projection = _host.App.Services.GetRequiredService<OrderStateProjection>();
        await Eventually.WaitUntilAsync(() => projection.GetStatus(order)?.FillCount == 1, "the projection has the order");
        return order;
    }

    [Test]
    public async Task A_websocket_stream_of_orders_starts_with_their_state_then_only_newer_events()
    {
        var order = await OrderWithOneFillAsync();

        await using var client = await StreamClient.ConnectAsync(_host, $"order_ids={order},unknown-order");
        await client.ReceiveAsync();
        var snapshot = await client.ReceiveAsync();
        _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-fill-2"));
        var next = await client.ReceiveEventsAsync(1);

        Assert.That((string?)snapshot["type"], Is.EqualTo("snapshot"));
        var orders = snapshot["orders"]!.AsArray();
        Assert.That(orders, Has.Count.EqualTo(1), "only known orders are in the snapshot");
        Assert.That((string?)orders[0]!["order_id"], Is.EqualTo(order));
        Assert.That((decimal?)orders[0]!["cum_qty"], Is.EqualTo(100m));
        Assert.That((string?)orders[0]!["status"], Is.EqualTo("FILLED"), "a 100 order with a 100 fill");
        Assert.That(next.Single(), Is.EqualTo(($"{order}-fill-2", 1L)), "the fill already in the snapshot is not delivered again");
    }

    [Test]
    public async Task A_grpc_stream_of_orders_starts_with_their_state_then_only_newer_events()
    {
        var order = await OrderWithOneFillAsync();
        using var channel = GrpcChannel.ForAddress(_host.GrpcAddress);
        var filter = new Filter();
        filter.OrderIds.Add(order);
        using var call = new ExecutionStream.ExecutionStreamClient(channel).StreamExecution(new StreamRequest { Filter = filter });

        Assert.That(await call.ResponseStream.MoveNext(CancellationToken.None), Is.True);
        var first = call.ResponseStream.Current;
        _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-fill-2"));
        using var reader = new ExecutionDistribution.Tests.Streaming.Grpc.MessageReader(call);
        var next = await reader.ReceiveDeliveriesAsync(1);

        Assert.That(first.BodyCase, Is.EqualTo(ExecutionMessage.BodyOneofCase.Snapshot));
        var state = first.Snapshot.Orders.Single();
        Assert.That((state.OrderId, state.Status, state.CumQty, state.FillCount), Is.EqualTo((order, "FILLED", "100", 1)));
        Assert.That(next.Single().EventId, Is.EqualTo($"{order}-fill-2"));
        Assert.That(next.Single().Sequence, Is.EqualTo(1));
    }
}
