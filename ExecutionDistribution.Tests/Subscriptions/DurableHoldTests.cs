using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Subscriptions;
using ExecutionDistribution.Tests.Streaming.Grpc;
using ExecutionDistribution.Tests.Support;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;

namespace ExecutionDistribution.Tests.Subscriptions;

/// <summary>
/// What a durable at_least_once subscription holds back from the Kafka safe point: what it was handed
/// and has not acknowledged, and nothing it does not take. Each test has its own service (the hold is
/// the minimum over every subscription of the instance).
/// </summary>
[Category("Unit")]
public sealed class DurableHoldTests
{
    [Test]
    public async Task A_subscription_holds_what_it_was_handed_until_it_is_acknowledged_and_then_nothing_it_does_not_take()
    {
        await using var host = await ServiceHost.StartAsync();
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var registry = host.App.Services.GetRequiredService<SubscriptionRegistry>();
        var (id, order) = await ManagedSubscriptions.CreateWatchingNewOrderAsync(channel, "hold", "risk_management");
        var streams = new ExecutionStream.ExecutionStreamClient(channel);
        using var call = streams.StreamExecution(new StreamRequest { SubscriptionId = id });
        using var reader = new MessageReader(call);
        await reader.WaitForFirstAsync(host);

        host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-mine"));
        await reader.ReceiveDeliveriesAsync(1);
        var mine = host.Core.Head - 1;
        for (var i = 0; i < 50; i++)
        {
            host.Core.TryPublish(Events.Fill($"{order}-someone-else"));
        }

        await Eventually.WaitUntilAsync(() => host.Core.RoutedHead == mine + 51, "the other events are dispatched");
        var unacknowledged = registry.SafeBefore(host.Core.LogEpoch, host.Core.Tail);
        await streams.AcknowledgeAsync(new AckRequest { SubscriptionId = id, ResumeToken = reader.LastResumeToken });

        Assert.That(unacknowledged, Is.LessThanOrEqualTo(mine), "the delivered, unacknowledged event is held");
        await Eventually.WaitUntilAsync(() => registry.SafeBefore(host.Core.LogEpoch, host.Core.Tail) == host.Core.Head,
            "once acknowledged, the events after it that the subscription does not take are not held");
    }
}
