using ExecutionDistribution.Grpc.V1;
using Grpc.Net.Client;

namespace ExecutionDistribution.Tests.Support;

/// <summary>Creates managed subscriptions through the real gRPC API, each watching its own new order id.</summary>
internal static class ManagedSubscriptions
{
    public static async Task<(string Id, string Order)> CreateWatchingNewOrderAsync(GrpcChannel channel, string prefix, string workflow)
    {
        var id = $"{prefix}-{Guid.NewGuid():N}";
        var order = $"{prefix}-order-{Guid.NewGuid():N}";
        var filter = new Filter();
        filter.OrderIds.Add(order);
        await new ExecutionStream.ExecutionStreamClient(channel).ManageSubscriptionAsync(new SubscriptionRequest
        {
            Action = SubscriptionAction.Create,
            SubscriptionId = id,
            TopicName = "#",
            SubscriberWorkflow = workflow,
            Filter = filter,
        });
        return (id, order);
    }
}
