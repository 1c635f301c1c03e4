using ExecutionDistribution.Contract;
using ExecutionDistribution.Distribution;

namespace ExecutionDistribution.Subscriptions;

/// <summary>A subscription as managed through ManageSubscription (the spec's execution_subscriptions row).</summary>
/// <param name="SubscriptionId">Its id.</param>
/// <param name="TopicName">Topic pattern AND-ed into the filter.</param>
/// <param name="SubscriberWorkflow">Who subscribes.</param>
/// <param name="Spec">The filter as given.</param>
/// <param name="Filter">The filter built from it (with the topic).</param>
/// <param name="Guarantee">Delivery guarantee.</param>
/// <param name="Status">active, paused or deleted.</param>
/// <param name="CreatedAt">When created, UTC.</param>
/// <param name="Acknowledged">Where a stream without a token starts: the creation point, then the last acknowledgement.</param>
internal sealed record ManagedSubscription(
    string SubscriptionId,
    string TopicName,
    string SubscriberWorkflow,
    FilterSpec Spec,
    SubscriptionFilter Filter,
    DeliveryGuarantee Guarantee,
    string Status,
    DateTime CreatedAt,
    ResumeToken Acknowledged);

/// <summary>
/// The subscriptions managed through the API, and which of them has a stream attached. In memory for
/// now: issue 5 stores them (and their acknowledged positions) in PostgreSQL's execution_subscriptions.
/// A change that affects an attached stream (update, pause, delete) ends that stream; the client
/// reconnects with its resume token and gets the new definition with no gap.
/// </summary>
internal sealed class SubscriptionRegistry
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ManagedSubscription> _subscriptions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CancellationTokenSource> _streams = new(StringComparer.Ordinal);

    /// <summary>
    /// What a stream of subscription <paramref name="id"/> runs with: its filter, its guarantee and where it
    /// starts (the client's token, else the subscription's acknowledged point). Null with a reason when
    /// it cannot stream (unknown, or not active).
    /// </summary>
    public ManagedSubscription? ResolveForStream(string id, out string? reason, out bool notFound)
    {
        var managed = Get(id);
        notFound = managed is null;
        reason = managed is null ? $"subscription '{id}' does not exist"
            : managed.Status != "active" ? $"subscription '{id}' is {managed.Status}"
            : null;
        return reason is null ? managed : null;
    }

    /// <summary>Every subscription, by id.</summary>
    public IReadOnlyList<ManagedSubscription> List()
    {
        lock (_gate)
        {
            return [.. _subscriptions.Values.OrderBy(s => s.SubscriptionId, StringComparer.Ordinal)];
        }
    }

    public ManagedSubscription? Get(string id)
    {
        lock (_gate)
        {
            return _subscriptions.GetValueOrDefault(id);
        }
    }

    public bool IsStreaming(string id)
    {
        lock (_gate)
        {
            return _streams.ContainsKey(id);
        }
    }

    public bool TryAdd(ManagedSubscription subscription)
    {
        lock (_gate)
        {
            return _subscriptions.TryAdd(subscription.SubscriptionId, subscription);
        }
    }

    /// <summary>Replaces a subscription and ends its stream, if any.</summary>
    public void Replace(ManagedSubscription subscription)
    {
        lock (_gate)
        {
            _subscriptions[subscription.SubscriptionId] = subscription;
            EndStream(subscription.SubscriptionId);
        }
    }

    /// <summary>Moves the acknowledged point forward (never back); returns the point now held.</summary>
    public ResumeToken? Acknowledge(string id, ResumeToken token)
    {
        lock (_gate)
        {
            if (!_subscriptions.TryGetValue(id, out var s))
            {
                return null;
            }

            if (token.Epoch == s.Acknowledged.Epoch && token.Sequence > s.Acknowledged.Sequence)
            {
                s = s with { Acknowledged = token };
                _subscriptions[id] = s;
            }

            return s.Acknowledged;
        }
    }

    public bool Remove(string id)
    {
        lock (_gate)
        {
            EndStream(id);
            return _subscriptions.Remove(id);
        }
    }

    /// <summary>Claims the subscription for one stream; false when another stream has it.</summary>
    public bool TryAttach(string id, CancellationTokenSource stream)
    {
        lock (_gate)
        {
            return _streams.TryAdd(id, stream);
        }
    }

    public void Detach(string id, CancellationTokenSource stream)
    {
        lock (_gate)
        {
            if (_streams.TryGetValue(id, out var current) && ReferenceEquals(current, stream))
            {
                _streams.Remove(id);
            }
        }
    }

    private void EndStream(string id)
    {
        if (_streams.Remove(id, out var stream))
        {
            stream.Cancel();
        }
    }
}
