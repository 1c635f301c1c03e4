using System.Net.WebSockets;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Tests.Support;
using Grpc.Net.Client;

namespace ExecutionDistribution.Tests.Streaming.WebSockets;

/// <summary>A WebSocket stream of a managed subscription: acknowledgements, redelivery, exclusivity.</summary>
[Category("Unit")]
public sealed class WebSocketSubscriptionTests
{
    private ServiceHost _host = null!;
    private GrpcChannel _channel = null!;

    [OneTimeSetUp]
    public async Task StartHost()
    {
        _host = await ServiceHost.StartAsync();
        _channel = GrpcChannel.ForAddress(_host.GrpcAddress);
    }

    [OneTimeTearDown]
    public async Task StopHost()
    {
        _channel.Dispose();
        await _host.DisposeAsync();
    }

    private Task<(string Id, string Order)> CreateAsync() => ManagedSubscriptions.CreateWatchingNewOrderAsync(_channel, "wsub", "compliance_surveillance");

    [Test]
    public async Task A_subscription_streamed_over_websocket_redelivers_what_was_not_acknowledged()
    {
        var (id, order) = await CreateAsync();
        for (var i = 0; i < 3; i++)
        {
            _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-before-{i}"));
        }

        await using (var first = await StreamClient.ConnectAsync(_host, $"subscription_id={id}"))
        {
            await first.ReceiveAsync();
            var backlog = await first.ReceiveEventsAsync(3);
            Assert.That(backlog.Select(e => e.EventId), Is.EqualTo(Enumerable.Range(0, 3).Select(i => $"{order}-before-{i}")), "published after creation, before any stream");

            await first.SendAsync($$"""{"type":"ack","resume_token":"{{first.LastResumeToken}}"}""");
            var acked = await first.ReceiveUntilAsync(f => (string?)f["type"] == "acked");
            Assert.That((long)acked["acknowledged_sequence"]!, Is.EqualTo(3));

            for (var i = 0; i < 2; i++)
            {
                _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-unacked-{i}"));
            }

            await first.ReceiveEventsAsync(2);
        }

        await Eventually.WaitUntilAsync(() => !new ExecutionStream.ExecutionStreamClient(_channel)
            .ManageSubscription(new SubscriptionRequest { Action = SubscriptionAction.Get, SubscriptionId = id }).Subscription.Streaming, "the first stream is gone");
        await using var second = await StreamClient.ConnectAsync(_host, $"subscription_id={id}");
        await second.ReceiveAsync();
        var redelivered = await second.ReceiveEventsAsync(2);

        Assert.That(redelivered.Select(e => e.EventId), Is.EqualTo(new[] { $"{order}-unacked-0", $"{order}-unacked-1" }));
        Assert.That(redelivered.Select(e => e.Sequence), Is.EqualTo(new long[] { 4, 5 }));
    }

    [Test]
    public async Task A_subscription_has_one_stream_and_its_parameters_are_checked()
    {
        var (id, _) = await CreateAsync();
        await using var attached = await StreamClient.ConnectAsync(_host, $"subscription_id={id}");
        await attached.ReceiveAsync();

        await using var second = await StreamClient.ConnectAsync(_host, $"subscription_id={id}");
        await using var mixed = await StreamClient.ConnectAsync(_host, $"subscription_id={id}&order_ids=x");
        await using var unknown = await StreamClient.ConnectAsync(_host, "subscription_id=nobody");

        var closes = new[] { await second.ReceiveCloseAsync(), await mixed.ReceiveCloseAsync(), await unknown.ReceiveCloseAsync() };
        Assert.That(closes.Select(c => c.Status), Has.All.EqualTo(WebSocketCloseStatus.PolicyViolation));
        Assert.That(closes[0].Reason, Does.Contain("already has an active stream"));
        Assert.That(closes[1].Reason, Does.Contain("not both"));
        Assert.That(closes[2].Reason, Does.Contain("does not exist"));
    }

    [Test]
    public async Task Acknowledging_on_an_ad_hoc_stream_is_answered_with_an_error_frame()
    {
        await using var client = await StreamClient.ConnectAsync(_host, $"order_ids=adhoc-{Guid.NewGuid():N}");
        await client.ReceiveAsync();

        await client.SendAsync($$"""{"type":"ack","resume_token":"{{client.LastResumeToken}}"}""");
        var error = await client.ReceiveUntilAsync(f => (string?)f["type"] == "error");

        Assert.That((string?)error["message"], Does.Contain("subscription_id"));
    }
}
