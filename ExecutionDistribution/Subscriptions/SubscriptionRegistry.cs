using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;

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
/// <param name="Acknowledged">Where a stream without a token starts: the creation point, then the last acknowledgement (Kafka offsets per partition, valid on every instance).</param>
/// <param name="Owner">The subject that created it: it, and callers granted its workflow, may use it (null: created without authentication).</param>
internal sealed record ManagedSubscription(
    string SubscriptionId,
    string TopicName,
    string SubscriberWorkflow,
    FilterSpec Spec,
    SubscriptionFilter Filter,
    DeliveryGuarantee Guarantee,
    string Status,
    DateTime CreatedAt,
    ResumeToken Acknowledged,
    string? Owner = null);

/// <summary>Told when the client of an attached stream acknowledges (the audit records acknowledged rows).</summary>
internal interface IAcknowledgementListener
{
    /// <summary>Everything up to and including <paramref name="sequence"/> is acknowledged.</summary>
    void Acknowledged(long sequence);
}

/// <summary>
/// The subscriptions managed through the APIs, and which of them has a stream attached. Held in memory
/// for the streams, written through to the store (PostgreSQL when configured) before a change is
/// answered; acknowledged positions are written behind, every <see cref="FlushPositionsAsync"/> (a
/// crash forgets at most the last interval's acknowledgements: those events are delivered again).
/// A change that affects an attached stream (update, pause, delete) ends that stream; the client
/// reconnects with its resume token and gets the new definition with no gap.
/// </summary>
internal sealed class SubscriptionRegistry(ISubscriptionStore store, ISubscriptionCache cache, Hosting.IClusterCommands? commands = null)
{
    /// <summary>The kind of cluster command a change of a subscription travels as (its key: the subscription id).</summary>
    public const string CommandKind = "subscription";

    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _writes = new(1, 1);
    private readonly Dictionary<string, ManagedSubscription> _subscriptions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StreamSlot> _streams = new(StringComparer.Ordinal);
    private readonly HashSet<string> _positionsToSave = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _sent = new(StringComparer.Ordinal);

    /// <summary>The highest sequence ever written to a stream of the subscription in this run (0 when none).</summary>
    public long SentThrough(string id) => _sent.GetValueOrDefault(id);

    /// <summary>A stream of the subscription wrote through <paramref name="sequence"/>.</summary>
    public void Sent(string id, long sequence) => _sent.AddOrUpdate(id, sequence, (_, old) => Math.Max(old, sequence));

    /// <summary>Reads every stored subscription into memory (at start).</summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        var stored = await store.LoadAsync(cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            foreach (var s in stored)
            {
                var definition = new SubscriptionDefinition(s.SubscriptionId, s.TopicName, s.SubscriberWorkflow, s.Filter(), s.DeliveryGuarantee);
                var acknowledged = s.Acknowledged();
                var managed = SubscriptionRules.Build(definition, s.Status, DateTime.SpecifyKind(s.CreatedAt, DateTimeKind.Utc), acknowledged, out _, out _);
                if (managed is not null)
                {
                    _subscriptions[managed.SubscriptionId] = managed with { Owner = s.Owner };
                }
            }
        }
    }

    /// <summary>
    /// Reads subscription <paramref name="id"/> again from a store other instances share, before a
    /// stream of it opens here (unless one is attached here already): it may have been created,
    /// changed, deleted or acknowledged through another instance. The acknowledged point kept is the
    /// later of the two.
    /// </summary>
    public async Task RefreshAsync(string id, CancellationToken cancellationToken)
    {
        if (!store.IsShared || IsStreaming(id))
        {
            return;
        }

        var stored = await store.LoadAsync(id, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            if (stored is null)
            {
                _subscriptions.Remove(id);
                return;
            }

            var definition = new SubscriptionDefinition(stored.SubscriptionId, stored.TopicName, stored.SubscriberWorkflow, stored.Filter(), stored.DeliveryGuarantee);
            var acknowledged = stored.Acknowledged();
            if (_subscriptions.TryGetValue(id, out var known) && known.Acknowledged.Sequence > acknowledged.Sequence)
            {
                acknowledged = known.Acknowledged;
            }

            if (SubscriptionRules.Build(definition, stored.Status, DateTime.SpecifyKind(stored.CreatedAt, DateTimeKind.Utc), acknowledged, out _, out _) is { } managed)
            {
                _subscriptions[id] = managed with { Owner = stored.Owner };
            }
        }
    }

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

    /// <summary>Adds and stores a subscription; false when the id is taken.</summary>
    public async Task<bool> TryAddAsync(ManagedSubscription subscription, CancellationToken cancellationToken = default)
    {
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Get(subscription.SubscriptionId) is not null || !await store.InsertAsync(subscription, cancellationToken).ConfigureAwait(false))
            {
                return false;
            }

            lock (_gate)
            {
                _subscriptions[subscription.SubscriptionId] = subscription;
            }

            cache.Changed(subscription, streaming: false);
            commands?.Publish(new Hosting.ClusterCommand(CommandKind, subscription.SubscriptionId, "changed"));
            return true;
        }
        finally
        {
            _writes.Release();
        }
    }

    /// <summary>Stores a changed subscription, then replaces it and ends its stream, if any.</summary>
    public async Task ReplaceAsync(ManagedSubscription subscription, CancellationToken cancellationToken = default)
    {
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await store.UpdateAsync(subscription, cancellationToken).ConfigureAwait(false);
            lock (_gate)
            {
                // Keep the acknowledged point held now: it may have moved while the update was stored.
                var current = _subscriptions.GetValueOrDefault(subscription.SubscriptionId);
                _subscriptions[subscription.SubscriptionId] = current is null ? subscription : subscription with { Acknowledged = current.Acknowledged };
                EndStream(subscription.SubscriptionId);
            }

            cache.Changed(subscription, streaming: false);
            commands?.Publish(new Hosting.ClusterCommand(CommandKind, subscription.SubscriptionId, "changed"));
        }
        finally
        {
            _writes.Release();
        }
    }

    /// <summary>Deletes a subscription from the store and memory, ending its stream; false when unknown.</summary>
    public async Task<bool> RemoveAsync(string id, CancellationToken cancellationToken = default)
    {
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Get(id) is null)
            {
                return false;
            }

            await store.DeleteAsync(id, cancellationToken).ConfigureAwait(false);
            lock (_gate)
            {
                EndStream(id);
                _positionsToSave.Remove(id);
                _sent.TryRemove(id, out _);
                _subscriptions.Remove(id);
            }

            cache.Removed(id);
            commands?.Publish(new Hosting.ClusterCommand(CommandKind, id, "deleted"));
            return true;
        }
        finally
        {
            _writes.Release();
        }
    }

    /// <summary>
    /// Subscription <paramref name="id"/> was created, changed or deleted through another instance: its
    /// stream here, if any, ends (the client reconnects with its token and gets the new definition),
    /// and it is read again from the shared store.
    /// </summary>
    public async Task ChangedElsewhereAsync(string id, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            EndStream(id);
        }

        await RefreshAsync(id, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Moves the acknowledged point forward (never back; a token of a later run replaces one of an
    /// earlier run); returns the point now held, or null when the subscription is unknown.
    /// </summary>
    public ResumeToken? Acknowledge(string id, ResumeToken token)
    {
        IAcknowledgementListener? listener;
        ResumeToken held;
        lock (_gate)
        {
            if (!_subscriptions.TryGetValue(id, out var s))
            {
                return null;
            }

            // Sequence numbers go on across runs (a stream re-read over a restart keeps numbering), so the
            // acknowledged point moves only forward, whichever run issued the token.
            if (token.Sequence > s.Acknowledged.Sequence)
            {
                s = s with { Acknowledged = token };
                _subscriptions[id] = s;
                _positionsToSave.Add(id);
            }

            held = s.Acknowledged;
            listener = _streams.TryGetValue(id, out var stream) ? stream.Listener : null;
        }

        listener?.Acknowledged(held.Sequence);
        return held;
    }

    /// <summary>Writes the acknowledged positions that moved since the last flush; returns how many.</summary>
    public async Task<int> FlushPositionsAsync(CancellationToken cancellationToken)
    {
        List<ManagedSubscription> moved;
        lock (_gate)
        {
            if (_positionsToSave.Count == 0)
            {
                return 0;
            }

            moved = [.. _positionsToSave.Select(id => _subscriptions.GetValueOrDefault(id)).OfType<ManagedSubscription>()];
            _positionsToSave.Clear();
        }

        try
        {
            await store.SavePositionsAsync(moved, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            lock (_gate)
            {
                foreach (var s in moved)
                {
                    if (_subscriptions.ContainsKey(s.SubscriptionId))
                    {
                        _positionsToSave.Add(s.SubscriptionId);
                    }
                }
            }

            throw;
        }

        foreach (var s in moved)
        {
            cache.Changed(s, IsStreaming(s.SubscriptionId));
        }

        return moved.Count;
    }

    /// <summary>Claims the subscription for one stream; false when another stream has it.</summary>
    public bool TryAttach(string id, CancellationTokenSource stream, IAcknowledgementListener? listener = null)
    {
        lock (_gate)
        {
            return _streams.TryAdd(id, new StreamSlot(stream, listener));
        }
    }

    public void Detach(string id, CancellationTokenSource stream)
    {
        lock (_gate)
        {
            if (_streams.TryGetValue(id, out var current) && ReferenceEquals(current.Stream, stream))
            {
                _streams.Remove(id);
            }
        }
    }

    private void EndStream(string id)
    {
        if (_streams.Remove(id, out var stream))
        {
            stream.Stream.Cancel();
        }
    }
}

/// <summary>A stream attached to a subscription: how to end it, who hears its acknowledgements.</summary>
internal sealed record StreamSlot(CancellationTokenSource Stream, IAcknowledgementListener? Listener);

/// <summary>Told of every change to a subscription (the Redis cache writes <c>subscription:{id}</c>).</summary>
internal interface ISubscriptionCache
{
    /// <summary>A subscription was created or changed.</summary>
    void Changed(ManagedSubscription subscription, bool streaming);

    /// <summary>A subscription was deleted.</summary>
    void Removed(string subscriptionId);
}

/// <summary>No cache configured.</summary>
internal sealed class NoSubscriptionCache : ISubscriptionCache
{
    public void Changed(ManagedSubscription subscription, bool streaming)
    {
    }

    public void Removed(string subscriptionId)
    {
    }
}
