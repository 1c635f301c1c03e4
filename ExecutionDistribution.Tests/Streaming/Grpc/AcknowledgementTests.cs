using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Tests.Support;
using Grpc.Core;
using Grpc.Net.Client;

namespace ExecutionDistribution.Tests.Streaming.Grpc;

/// <summary>at_least_once acknowledgements of subscriptions: what is not acknowledged is delivered again.</summary>
[Category("Unit")]
public sealed class AcknowledgementTests
{
    private ServiceHost _host = null!;
    private GrpcChannel _channel = null!;
    private ExecutionStream.ExecutionStreamClient _client = null!;

    [OneTimeSetUp]
    public async Task StartHost()
    {
        _host = await ServiceHost.StartAsync();
        _channel = GrpcChannel.ForAddress(_host.GrpcAddress);
        _client = new ExecutionStream.ExecutionStreamClient(_channel);
    }

    [OneTimeTearDown]
    public async Task StopHost()
    {
        _channel.Dispose();
        await _host.DisposeAsync();
    }

    private Task<(string Id, string Order)> CreateSubscriptionAsync() => ManagedSubscriptions.CreateWatchingNewOrderAsync(_channel, "ack", "risk_management");

    [Test]
    public async Task A_subscription_receives_what_was_published_after_its_creation_even_with_no_stream_attached()
    {
        var (id, order) = await CreateSubscriptionAsync();
        for (var i = 0; i < 5; i++)
        {
            _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-{i}"));
        }

        using var call = _client.StreamExecution(new StreamRequest { SubscriptionId = id });
        using var reader = new MessageReader(call);
        var received = await reader.ReceiveDeliveriesAsync(5);

        Assert.That(received.Select(d => d.EventId), Is.EqualTo(Enumerable.Range(0, 5).Select(i => $"{order}-{i}")));
        Assert.That(received.Select(d => d.Sequence), Is.EqualTo(new long[] { 1, 2, 3, 4, 5 }));
    }

    [Test]
    public async Task Events_not_acknowledged_are_delivered_again_after_reconnecting()
    {
        var (id, order) = await CreateSubscriptionAsync();
        using (var call = _client.StreamExecution(new StreamRequest { SubscriptionId = id }))
        {
            using var reader = new MessageReader(call);
            await reader.WaitForFirstAsync(_host);
            for (var i = 0; i < 5; i++)
            {
                _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-acked-{i}"));
            }

            await reader.ReceiveDeliveriesAsync(5);
            var ack = await _client.AcknowledgeAsync(new AckRequest { SubscriptionId = id, ResumeToken = reader.LastResumeToken });
            Assert.That(ack.AcknowledgedSequence, Is.EqualTo(5));

            for (var i = 0; i < 5; i++)
            {
                _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-unacked-{i}"));
            }

            await reader.ReceiveDeliveriesAsync(5); // received, then the client goes away without acknowledging
        }

        await Eventually.WaitUntilAsync(() => !_client.ManageSubscription(new SubscriptionRequest { Action = SubscriptionAction.Get, SubscriptionId = id }).Subscription.Streaming,
            "the first stream is gone");
        using var again = _client.StreamExecution(new StreamRequest { SubscriptionId = id });
        using var second = new MessageReader(again);
        var redelivered = await second.ReceiveDeliveriesAsync(5);

        Assert.That(redelivered.Select(d => d.EventId), Is.EqualTo(Enumerable.Range(0, 5).Select(i => $"{order}-unacked-{i}")));
        Assert.That(redelivered.Select(d => d.Sequence), Is.EqualTo(new long[] { 6, 7, 8, 9, 10 }));
    }

    [Test]
    public async Task An_acknowledgement_never_moves_back()
    {
        var (id, order) = await CreateSubscriptionAsync();
        using var call = _client.StreamExecution(new StreamRequest { SubscriptionId = id });
        using var reader = new MessageReader(call);
        await reader.WaitForFirstAsync(_host);
        _host.Core.TryPublish(Events.Fill(order));
        await reader.ReceiveDeliveriesAsync(1);
        var early = reader.LastResumeToken;
        _host.Core.TryPublish(Events.Fill(order));
        await reader.ReceiveDeliveriesAsync(1);
        var late = reader.LastResumeToken;

        await _client.AcknowledgeAsync(new AckRequest { SubscriptionId = id, ResumeToken = late });
        var response = await _client.AcknowledgeAsync(new AckRequest { SubscriptionId = id, ResumeToken = early });

        Assert.That(response.AcknowledgedSequence, Is.EqualTo(2));
        Assert.That(response.AcknowledgedToken, Is.EqualTo(late));
    }

    [Test]
    public async Task Acknowledging_an_unknown_subscription_or_a_bad_token_is_refused()
    {
        var (id, _) = await CreateSubscriptionAsync();
        var token = _host.Core.TokenAtHead(1).Encode();

        var unknown = Assert.ThrowsAsync<RpcException>(async () => await _client.AcknowledgeAsync(new AckRequest { SubscriptionId = "nobody", ResumeToken = token }));
        var garbage = Assert.ThrowsAsync<RpcException>(async () => await _client.AcknowledgeAsync(new AckRequest { SubscriptionId = id, ResumeToken = "garbage" }));

        Assert.That(unknown!.StatusCode, Is.EqualTo(StatusCode.NotFound));
        Assert.That(garbage!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(garbage.Status.Detail, Does.StartWith("resume_token"));
    }
}
