using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Streaming;
using ExecutionDistribution.Subscriptions;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Tests.Streaming;

/// <summary>What a connection under test needs beside the core: a registry without storage and an audit trail that keeps every row.</summary>
internal static class Connections
{
    public static SubscriptionRegistry Registry() => new(new MemoryOnlySubscriptionStore(), new NoSubscriptionCache());

    public static AuditTrail Trail() => new(Options.Create(new AuditOptions { AllEvents = true }), TimeProvider.System);

    /// <summary>Opens an ad hoc subscription on <paramref name="connection"/>: admitted, joined and (unless told not to) read from now on.</summary>
    public static StreamMember Open(
        Connection connection, string id, DeliveryGuarantee guarantee = DeliveryGuarantee.AtLeastOnce, int perMessage = 256, int bufferCapacity = 1_024, bool activate = true)
    {
        var admission = connection.Subscriptions.Admit(id, null, guarantee, SubscriptionFilter.All, out var refusal)
            ?? throw new InvalidOperationException(refusal!.Reason);
        var member = connection.Subscriptions.Join(admission, SubscriptionFilter.All, guarantee, null, bufferCapacity, perMessage, out refusal)
            ?? throw new InvalidOperationException(refusal!.Reason);
        if (activate)
        {
            connection.Subscriptions.Activate(member);
        }

        return member;
    }
}
