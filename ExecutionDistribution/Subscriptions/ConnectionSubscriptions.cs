using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Distribution;

namespace ExecutionDistribution.Subscriptions;

/// <summary>Why a connection did not open a subscription.</summary>
internal enum RefusalKind
{
    /// <summary>The connection is closing.</summary>
    Closing,

    /// <summary>A limit was reached (subscriptions per connection, or the core's).</summary>
    Limit,

    /// <summary>The subscription already streams, here or elsewhere.</summary>
    Conflict,

    /// <summary>The dispatch core refused it (for instance, its resume point is gone).</summary>
    Rejected,
}

/// <summary>A refusal to open a subscription on a connection, with the reason the client is told.</summary>
internal sealed record OpenRefusal(string Reason, RefusalKind Kind);

/// <summary>A subscription admitted to a connection and not yet reading: attached to its managed subscription, if any.</summary>
internal sealed class Admission(string id, bool managed, CancellationTokenSource? changed, StreamAudit audit)
{
    public string Id { get; } = id;

    /// <summary>A subscription created with the management API (its acknowledgements are recorded).</summary>
    public bool Managed { get; } = managed;

    public CancellationTokenSource? Changed { get; } = changed;

    public StreamAudit Audit { get; } = audit;
}

/// <summary>
/// The subscriptions one client connection carries (a WebSocket, or a multiplexed gRPC call), for
/// either transport: admission (limits, one stream per managed subscription), joining the dispatch
/// core, ending one, ending all, and letting go. The connection's send loop waits on <see cref="Group"/>.
/// </summary>
/// <remarks>
/// Opening takes three steps, so a transport can send in between: <see cref="Admit"/>, then (perhaps
/// after re-reading Kafka) <see cref="Join"/>, then its replies, then <see cref="Activate"/>, after
/// which the send loop reads the member. Membership changes take a lock; the send loop and the
/// dispatcher never do.
/// </remarks>
internal sealed class ConnectionSubscriptions(FanOutDispatcher core, SubscriptionRegistry registry, AuditTrail trail, int maxMembers, string limitKey)
{
    /// <summary>Why a managed subscription's stream ended under it.</summary>
    public const string ChangedReason = "subscription changed, paused or deleted; reconnect with your resume token";

    private readonly Lock _membership = new();
    private StreamMember[] _members = [];
    private Admission? _opening;
    private volatile bool _stopping;

    /// <summary>What the send loop waits on.</summary>
    public SubscriberGroup Group { get; } = new();

    /// <summary>The members now (a snapshot).</summary>
    public StreamMember[] Members => Volatile.Read(ref _members);

    /// <summary>True once <see cref="StopAll"/> was called.</summary>
    public bool Stopping => _stopping;

    /// <summary>
    /// The subscription admitted and not yet joined, if any: acknowledgements read meanwhile (re-reading
    /// Kafka can take long) go straight to the registry.
    /// </summary>
    public Admission? Opening => Volatile.Read(ref _opening);

    /// <summary>The member with this id, or null.</summary>
    public StreamMember? Find(string? id) => Array.Find(Members, m => m.Id == id);

    /// <summary>Admits a subscription: room on the connection, its id not streaming here, a managed one attached to this stream.</summary>
    public Admission? Admit(string id, ManagedSubscription? managed, DeliveryGuarantee guarantee, out OpenRefusal? refusal)
    {
        lock (_membership)
        {
            refusal = _stopping
                ? new OpenRefusal("the connection is closing", RefusalKind.Closing)
                : _members.Length >= maxMembers
                    ? new OpenRefusal($"this connection already carries {_members.Length} subscriptions, the most allowed ({limitKey})", RefusalKind.Limit)
                    : Array.Exists(_members, m => m.Id == id)
                        ? new OpenRefusal($"subscription_id: '{id}' is already streaming on this connection", RefusalKind.Conflict)
                        : null;
        }

        if (refusal is not null)
        {
            return null;
        }

        var changed = managed is null ? null : new CancellationTokenSource();
        var audit = new StreamAudit(trail, id, managed is null ? null : registry, guarantee);
        if (managed is not null && !registry.TryAttach(id, changed!, audit))
        {
            changed!.Dispose();
            refusal = new OpenRefusal($"subscription_id: '{id}' already has an active stream", RefusalKind.Conflict);
            return null;
        }

        var admission = new Admission(id, managed is not null, changed, audit);
        Volatile.Write(ref _opening, admission);
        return admission;
    }

    /// <summary>Lets go of an admission that will not join (a failed replay).</summary>
    public void Abandon(Admission admission)
    {
        Interlocked.CompareExchange(ref _opening, null, admission);
        if (admission.Changed is { } changed)
        {
            registry.Detach(admission.Id, changed);
            changed.Dispose();
        }
    }

    /// <summary>
    /// Subscribes to the dispatch core from <paramref name="resume"/> (null: from now) and makes it a
    /// member; not yet read by the send loop (<see cref="Activate"/>). Null with the refusal when the core refuses it.
    /// </summary>
    public StreamMember? Join(
        Admission admission, SubscriptionFilter filter, DeliveryGuarantee guarantee, ResumeToken? resume, int bufferCapacity, int batchSize, out OpenRefusal? refusal)
    {
        Subscriber subscriber;
        try
        {
            subscriber = core.Subscribe(admission.Id, filter, guarantee, resume?.Position, resume?.Sequence ?? 0, bufferCapacity);
        }
        catch (SubscriptionRejectedException ex)
        {
            Abandon(admission);
            refusal = new OpenRefusal(ex.Message, ex.Reason == SubscriptionRejection.LimitReached ? RefusalKind.Limit : RefusalKind.Rejected);
            return null;
        }

        refusal = null;
        var member = new StreamMember(admission.Id, subscriber, admission.Audit, admission.Changed, batchSize, core.LogEpoch)
        {
            ResumeToken = new ResumeToken(core.LogEpoch, subscriber.StartPosition, subscriber.InitialSequence).Encode(),
        };
        if (admission.Changed is { } changed)
        {
            registry.Bind(admission.Id, changed, subscriber);
            member.ChangedRegistration = changed.Token.Register(() => End(member, ChangedReason));
        }

        bool closing;
        lock (_membership)
        {
            Volatile.Write(ref _members, [.. _members, member]);
            closing = _stopping;
        }

        Interlocked.CompareExchange(ref _opening, null, admission); // acknowledgements now find the member
        if (closing)
        {
            // The connection closed while it opened: it drains and ends with the others.
            core.Unsubscribe(subscriber);
        }

        return member;
    }

    /// <summary>The send loop reads the member from now on (call it even when the replies failed, so it is released like any other).</summary>
    public void Activate(StreamMember member) => Group.Add(member.Subscriber);

    /// <summary>Ends one subscription (unsubscribed, or its managed subscription changed): the send loop drains what it has read, then removes it.</summary>
    public void End(StreamMember member, string reason)
    {
        member.EndReason ??= reason;
        core.Unsubscribe(member.Subscriber);
    }

    /// <summary>Ends the connection: every subscription drains and is removed, then the group closes.</summary>
    public void StopAll()
    {
        lock (_membership)
        {
            _stopping = true;
        }

        foreach (var member in Members)
        {
            core.Unsubscribe(member.Subscriber);
        }

        Group.Close();
    }

    /// <summary>Lets go of a member: unsubscribed, out of the group, detached from its managed subscription. Idempotent.</summary>
    public void Release(StreamMember member)
    {
        if (Interlocked.Exchange(ref member.Released, 1) == 1)
        {
            return;
        }

        core.Unsubscribe(member.Subscriber);
        Group.Remove(member.Subscriber);
        lock (_membership)
        {
            Volatile.Write(ref _members, Array.FindAll(_members, m => !ReferenceEquals(m, member)));
        }

        member.ChangedRegistration.Dispose();
        if (member.Changed is { } changed)
        {
            registry.Detach(member.Id, changed);
            changed.Dispose();
        }
    }

    /// <summary>Releases every member; at the connection's end.</summary>
    public void ReleaseAll()
    {
        foreach (var member in Members)
        {
            Release(member);
        }
    }
}
