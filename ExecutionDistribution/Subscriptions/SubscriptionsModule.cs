namespace ExecutionDistribution.Subscriptions;

/// <summary>
/// Registers the subscriptions managed through the APIs (gRPC ManageSubscription today), shared by
/// every transport that streams them. In memory for now; issue 5 stores them in PostgreSQL.
/// </summary>
internal static class SubscriptionsModule
{
    public static WebApplicationBuilder AddSubscriptionsModule(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<SubscriptionRegistry>();
        return builder;
    }
}
