using Microsoft.AspNetCore.Authorization;

namespace ExecutionDistribution.Security;

/// <summary>
/// The scopes a token grants (its <c>scope</c> claim, space-separated, or <c>scp</c>), one per kind of
/// operation. Each is also the name of the authorization policy an endpoint, gRPC method or
/// WebSocket message declares.
/// </summary>
public static class Scopes
{
    /// <summary>POST executions (they change order status).</summary>
    public const string Publish = "executions:publish";

    /// <summary>Streams, order status, fills, reports and topic statistics, within the caller's entitlements.</summary>
    public const string Read = "executions:read";

    /// <summary>Create, change, pause, delete and acknowledge managed subscriptions (the caller's own).</summary>
    public const string ManageSubscriptions = "subscriptions:manage";

    /// <summary>Create, change and delete topics.</summary>
    public const string ManageTopics = "topics:manage";

    /// <summary>Read the delivery audit.</summary>
    public const string ReadAudit = "audit:read";

    /// <summary>The distribution's statistics, subscribers and memory.</summary>
    public const string Operations = "operations:read";

    /// <summary>Revoke access (by subject or token id).</summary>
    public const string Admin = "admin";

    /// <summary>Every scope, in the order documented.</summary>
    public static readonly string[] All = [Publish, Read, ManageSubscriptions, ManageTopics, ReadAudit, Operations, Admin];

    /// <summary>Adds one policy per scope: an authenticated caller whose token grants it.</summary>
    internal static void AddPolicies(AuthorizationOptions options)
    {
        // Secure by default: an endpoint that declares nothing still needs an authenticated caller;
        // what anyone may reach (health, metrics, the API description, the dashboard page) says so.
        options.FallbackPolicy = new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build();
        foreach (var scope in All)
        {
            options.AddPolicy(scope, policy => policy.RequireAuthenticatedUser().RequireAssertion(c => CallerRights.Of(c.User).Has(scope)));
        }
    }
}
