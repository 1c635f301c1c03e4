using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Subscriptions;

namespace ExecutionDistribution.Audit;

/// <summary>
/// The audit of one stream (gRPC or WebSocket): records what it wrote (delivered, or redelivered when
/// its subscription had been sent that sequence before), what failed to be written, and, for
/// at_least_once streams of managed subscriptions, what the client acknowledged. Not on the dispatch
/// path: called by the stream's sender and by the acknowledgement path.
/// </summary>
internal sealed class StreamAudit : IAcknowledgementListener
{
    /// <summary>Most audited deliveries awaiting acknowledgement that one stream keeps.</summary>
    public const int MaxUnacknowledged = 1_048_576;

    private readonly AuditTrail _trail;
    private readonly SubscriptionRegistry? _registry;
    private readonly string _subscriptionId;
    private readonly bool _tracksAcks;
    private readonly long _sentBefore;
    private readonly Lock _gate = new();
    private readonly Queue<Delivery> _unacknowledged = new();
    private long _untracked;

    /// <summary>Creates the audit of a stream.</summary>
    /// <param name="trail">Where rows go.</param>
    /// <param name="subscriptionId">The subscription (managed id, or the stream's own id).</param>
    /// <param name="registry">The registry, for a managed subscription (its sent-before mark and acknowledgements).</param>
    /// <param name="guarantee">The stream's guarantee: acknowledgements are tracked for at_least_once.</param>
    public StreamAudit(AuditTrail trail, string subscriptionId, SubscriptionRegistry? registry, DeliveryGuarantee guarantee)
    {
        _trail = trail;
        _subscriptionId = subscriptionId;
        _registry = registry;
        _tracksAcks = registry is not null && guarantee == DeliveryGuarantee.AtLeastOnce;
        _sentBefore = registry?.SentThrough(subscriptionId) ?? 0;
    }

    /// <summary>Audited deliveries whose acknowledgement could not be tracked (over <see cref="MaxUnacknowledged"/>).</summary>
    public long Untracked => Interlocked.Read(ref _untracked);

    /// <summary>The deliveries were written to the client.</summary>
    public void Delivered(ReadOnlySpan<Delivery> deliveries)
    {
        var last = _trail.RecordDelivered(deliveries, _subscriptionId, _sentBefore);
        if (_tracksAcks)
        {
            lock (_gate)
            {
                foreach (var d in deliveries)
                {
                    if (!_trail.Wants(d.Event))
                    {
                        continue;
                    }

                    if (_unacknowledged.Count < MaxUnacknowledged)
                    {
                        _unacknowledged.Enqueue(d);
                    }
                    else
                    {
                        _untracked++;
                    }
                }
            }
        }

        if (last > 0)
        {
            _registry?.Sent(_subscriptionId, last);
        }
    }

    /// <summary>Writing the deliveries failed (the client went away).</summary>
    public void Failed(ReadOnlySpan<Delivery> deliveries)
    {
        foreach (var d in deliveries)
        {
            if (_trail.Wants(d.Event))
            {
                _trail.Record(d.Event, _subscriptionId, DeliveryStatuses.Failed, d.Sequence <= _sentBefore ? 1 : 0);
            }
        }
    }

    /// <summary>The client acknowledged everything through <paramref name="sequence"/>.</summary>
    public void Acknowledged(long sequence)
    {
        lock (_gate)
        {
            while (_unacknowledged.TryPeek(out var d) && d.Sequence <= sequence)
            {
                _unacknowledged.Dequeue();
                _trail.Record(d.Event, _subscriptionId, DeliveryStatuses.Acknowledged, d.Sequence <= _sentBefore ? 1 : 0);
            }
        }
    }

    /// <summary>False while the audit queue is full.</summary>
    public bool HasRoom => _trail.HasRoom;

    /// <summary>Waits while the audit queue is full.</summary>
    public ValueTask WaitForRoomAsync(CancellationToken cancellationToken) => _trail.WaitForRoomAsync(cancellationToken);
}
