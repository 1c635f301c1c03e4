using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Subscriptions;

namespace ExecutionDistribution.Streaming;

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

    /// <summary>The events after its resume point could not all be re-read from Kafka.</summary>
    NotReReadable,
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

    /// <summary>Cancelled to end it before it joins (its client unsubscribed it, or the connection ends) while it re-reads Kafka.</summary>
    public CancellationTokenSource Ended { get; } = new();

    /// <summary>Where it stands while it re-reads Kafka: the token of the last frame sent (first, the client's); heartbeats carry it.</summary>
    public string ResumeToken { get; set; } = string.Empty;

    /// <summary>Why it was ended before it joined, if it was.</summary>
    public string? EndReason { get; set; }

    /// <summary>The client's request that ended it, if it says one.</summary>
    public string? EndRequestId { get; set; }
}

/// <summary>
/// The subscriptions one client connection carries (a WebSocket, or a multiplexed gRPC call), for
/// either transport: admission (limits, one stream per managed subscription), joining the dispatch
/// core, ending one, ending all, and letting go. Every subscriber it joins wakes the connection (<paramref name="reader"/>).
/// </summary>
/// <remarks>
/// Opening takes three steps, so a transport can send in between: <c>Admit</c>, then (perhaps
/// after re-reading Kafka) <see cref="Join"/>, then its replies, then <see cref="Activate"/>, after
/// which the connection reads the member. Membership changes take a lock; the connection's turns and
/// the dispatcher never do.
/// </remarks>
/// <param name="core">The dispatch core.</param>
/// <param name="registry">Managed subscriptions (one stream each; acknowledgements).</param>
/// <param name="trail">The delivery audit.</param>
/// <param name="maxMembers">Most subscriptions the connection carries.</param>
/// <param name="limitKey">The setting that says so (named in a refusal).</param>
/// <param name="reader">The connection: what its subscribers wake.</param>
/// <param name="logOrder">Several subscriptions merged by log position (a multiplexed connection).</param>
/// <param name="onChanged">Called after the connection stopped or let go of a member.</param>
internal sealed class ConnectionSubscriptions(
    FanOutDispatcher core, SubscriptionRegistry registry, AuditTrail trail, int maxMembers, string limitKey, ISubscriberReader reader, bool logOrder, Action onChanged)
{
    /// <summary>Why a managed subscription's stream ended under it.</summary>
    public const string ChangedReason = "subscription changed, paused or deleted; reconnect with your resume token";

    private readonly Lock _membership = new();
    private StreamMember[] _members = [];
    private StreamMember[] _active = [];
    private Admission[] _openings = [];
    private volatile bool _stopping;

    /// <summary>The members now (a snapshot).</summary>
    public StreamMember[] Members => Volatile.Read(ref _members);

    /// <summary>The members the connection reads (joined and activated; a snapshot).</summary>
    public StreamMember[] Active => Volatile.Read(ref _active);

    /// <summary>True once <see cref="StopAll"/> was called.</summary>
    public bool Stopping => _stopping;

    /// <summary>
    /// The subscriptions admitted and not yet joined (a snapshot): acknowledgements read meanwhile
    /// (re-reading Kafka can take long) go straight to the registry.
    /// </summary>
    public Admission[] Openings => Volatile.Read(ref _openings);

    /// <summary>The member with this id, or null.</summary>
    public StreamMember? Find(string? id) => Array.Find(Members, m => m.Id == id);

    /// <summary>The subscription with this id admitted and not yet joined, or null.</summary>
    public Admission? FindOpening(string? id) => Array.Find(Openings, a => a.Id == id);

    /// <summary>
    /// Admits a subscription: room on the connection (counting those still opening), its id not
    /// streaming or opening here, a managed one attached to this stream.
    /// </summary>
    public Admission? Admit(string id, ManagedSubscription? managed, DeliveryGuarantee guarantee, SubscriptionFilter filter, out OpenRefusal? refusal) =>
        Admit(id, managed, guarantee, NewAudit(id, managed, guarantee, filter), out refusal);

    /// <summary>The audit of a subscription's stream (acknowledged positions recorded for a managed one).</summary>
    public StreamAudit NewAudit(string id, ManagedSubscription? managed, DeliveryGuarantee guarantee, SubscriptionFilter filter) =>
        new(trail, id, managed is null ? null : registry, guarantee, filter) { Caller = (reader as Connection)?.Access?.Rights.Subject };

    /// <summary><see cref="Admit(string, ManagedSubscription?, DeliveryGuarantee, SubscriptionFilter, out OpenRefusal?)"/> with an audit made beforehand (<see cref="NewAudit"/>).</summary>
    public Admission? Admit(string id, ManagedSubscription? managed, DeliveryGuarantee guarantee, StreamAudit audit, out OpenRefusal? refusal)
    {
        var changed = managed is null ? null : new CancellationTokenSource();
        var admission = new Admission(id, managed is not null, changed, audit);
        lock (_membership)
        {
            var carried = _members.Length + _openings.Length;
            refusal = _stopping
                ? new OpenRefusal("the connection is closing", RefusalKind.Closing)
                : carried >= maxMembers
                    ? new OpenRefusal($"this connection already carries {carried} subscriptions, the most allowed ({limitKey})", RefusalKind.Limit)
                    : Array.Exists(_members, m => m.Id == id) || Array.Exists(_openings, a => a.Id == id)
                        ? new OpenRefusal($"subscription_id: '{id}' is already streaming on this connection", RefusalKind.Conflict)
                        : null;
            if (refusal is null)
            {
                Volatile.Write(ref _openings, [.. _openings, admission]);
            }
        }

        if (refusal is null && (changed is null || registry.TryAttach(id, changed, audit)))
        {
            return admission;
        }

        if (refusal is null)
        {
            refusal = new OpenRefusal($"subscription_id: '{id}' already has an active stream", RefusalKind.Conflict);
            RemoveOpening(admission);
        }

        changed?.Dispose();
        return null;
    }

    /// <summary>Lets go of an admission that will not join (a failed or ended replay).</summary>
    public void Abandon(Admission admission)
    {
        RemoveOpening(admission);
        if (admission.Changed is { } changed)
        {
            registry.Detach(admission.Id, changed);
            changed.Dispose();
        }

        onChanged();
    }

    /// <summary>Ends a subscription that has not joined yet: its re-reading stops between batches, and it is abandoned.</summary>
    public void EndOpening(Admission admission, string reason, string? requestId)
    {
        admission.EndReason ??= reason;
        admission.EndRequestId ??= requestId;
        admission.Ended.Cancel();
    }

    private void RemoveOpening(Admission admission)
    {
        lock (_membership)
        {
            Volatile.Write(ref _openings, Array.FindAll(_openings, a => !ReferenceEquals(a, admission)));
        }
    }

    /// <summary>
    /// Subscribes to the dispatch core from <paramref name="resume"/> (null: from now) and makes it a
    /// member; not yet read by the connection (<see cref="Activate"/>). Null with the refusal when the core refuses it.
    /// </summary>
    public StreamMember? Join(
        Admission admission, SubscriptionFilter filter, DeliveryGuarantee guarantee, ResumeToken? resume, int bufferCapacity, int batchSize, out OpenRefusal? refusal)
    {
        using var activity = StreamMetrics.Activities.StartActivity(resume is null ? "subscribe" : "resume");
        activity?.SetTag("execdist.subscription.id", admission.Id);
        activity?.SetTag("execdist.delivery_guarantee", guarantee.Name());
        activity?.SetTag("execdist.managed", admission.Managed);
        long? start = null;
        ResumeFloor? floor = null;
        if (resume is { } token)
        {
            // Decided before (ResumeRouting); the log may have moved on since, in which case the client resumes again.
            var point = core.Locate(token);
            if (point.Check != ResumeCheck.Available)
            {
                Abandon(admission);
                refusal = new OpenRefusal($"resume_token {point.Reason}; resume again with it", RefusalKind.NotReReadable);
                return null;
            }

            (start, floor) = (point.Position, point.Floor);
        }

        Subscriber subscriber;
        try
        {
            subscriber = core.Subscribe(admission.Id, filter, guarantee, start, resume?.Sequence ?? 0, bufferCapacity, reader, logOrder, floor);
        }
        catch (SubscriptionRejectedException ex)
        {
            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex.Message);
            Abandon(admission);
            refusal = new OpenRefusal(ex.Message, ex.Reason == SubscriptionRejection.LimitReached ? RefusalKind.Limit : RefusalKind.Rejected);
            return null;
        }

        refusal = null;
        var member = new StreamMember(admission.Id, subscriber, admission.Audit, admission.Changed, batchSize, core)
        {
            ResumeToken = (resume ?? core.TokenAt(subscriber.StartPosition, subscriber.InitialSequence)).Encode(),
        };
        if (admission.Changed is { } changed)
        {
            member.ChangedRegistration = changed.Token.Register(() => End(member, ChangedReason));
        }

        bool closing;
        lock (_membership)
        {
            // Acknowledgements find the member from now on.
            Volatile.Write(ref _members, [.. _members, member]);
            Volatile.Write(ref _openings, Array.FindAll(_openings, a => !ReferenceEquals(a, admission)));
            closing = _stopping;
        }

        if (closing)
        {
            // The connection closed while it opened: it drains and ends with the others.
            core.Unsubscribe(subscriber);
        }

        return member;
    }

    /// <summary>The connection reads the member from now on (call it even when the replies failed, so it is released like any other).</summary>
    public void Activate(StreamMember member)
    {
        lock (_membership)
        {
            if (Volatile.Read(ref member.Released) == 0)
            {
                Volatile.Write(ref _active, [.. _active, member]);
            }
        }

        // Anything it took before it was read woke the connection for nothing: look again.
        reader.Wake();
    }

    /// <summary>Ends one subscription (unsubscribed, or its managed subscription changed): the connection sends what it holds, then lets go of it.</summary>
    public void End(StreamMember member, string reason)
    {
        member.EndReason ??= reason;
        core.Unsubscribe(member.Subscriber);
    }

    /// <summary>Ends the connection: every subscription drains and is let go of.</summary>
    public void StopAll()
    {
        Admission[] openings;
        lock (_membership)
        {
            _stopping = true;
            openings = _openings;
        }

        foreach (var opening in openings)
        {
            opening.Ended.Cancel();
        }

        foreach (var member in Members)
        {
            core.Unsubscribe(member.Subscriber);
        }

        onChanged();
    }

    /// <summary>Lets go of a member: unsubscribed, no longer read, detached from its managed subscription. Idempotent.</summary>
    public void Release(StreamMember member)
    {
        if (Interlocked.Exchange(ref member.Released, 1) == 1)
        {
            return;
        }

        core.Unsubscribe(member.Subscriber);
        lock (_membership)
        {
            Volatile.Write(ref _members, Array.FindAll(_members, m => !ReferenceEquals(m, member)));
            Volatile.Write(ref _active, Array.FindAll(_active, m => !ReferenceEquals(m, member)));
        }

        member.ChangedRegistration.Dispose();
        if (member.Changed is { } changed)
        {
            registry.Detach(member.Id, changed);
            changed.Dispose();
        }

        onChanged();
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
