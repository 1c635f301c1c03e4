using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Subscriptions;

namespace ExecutionDistribution.Audit;

/// <summary>
/// The audit of one stream of one subscription (gRPC or WebSocket, alone on its connection or not):
/// each batch it writes becomes one range row per outcome (delivered, or redelivered for sequences
/// its subscription had been sent before; failed when the write failed), and, for at_least_once
/// streams of managed subscriptions, each acknowledgement one acknowledged range. The stream's filter
/// is recorded once, with its first range, so the ranges name exactly the events they carried.
/// Deliveries of events re-read from Kafka are recorded one by one (their positions count in an
/// earlier log). Not on the dispatch path: called by the stream's sender and by the acknowledgement path.
/// </summary>
internal sealed class StreamAudit : IAcknowledgementListener
{
    /// <summary>Most audited deliveries awaiting acknowledgement that one stream keeps.</summary>
    public const int MaxUnacknowledged = 1_048_576;

    private readonly AuditTrail _trail;
    private readonly SubscriptionRegistry? _registry;
    private readonly string _subscriptionId;
    private readonly SubscriptionFilter _filter;
    private readonly DeliveryGuarantee _guarantee;
    private readonly bool _tracksAcks;
    private readonly long _sentBefore;
    private readonly Lock _gate = new();
    private readonly Queue<Pending> _unacknowledged = new();
    private Guid _stream;
    private long _untracked;

    /// <summary>Who opened the stream (its token's subject), recorded with it.</summary>
    public string? Caller { get; init; }

    /// <summary>Creates the audit of a stream.</summary>
    /// <param name="trail">Where rows go.</param>
    /// <param name="subscriptionId">The subscription (managed id, or the stream's own id).</param>
    /// <param name="registry">The registry, for a managed subscription (its sent-before mark and acknowledgements).</param>
    /// <param name="guarantee">The stream's guarantee: acknowledgements are tracked for at_least_once.</param>
    /// <param name="filter">What the stream's subscriber takes.</param>
    public StreamAudit(AuditTrail trail, string subscriptionId, SubscriptionRegistry? registry, DeliveryGuarantee guarantee, SubscriptionFilter filter)
    {
        _trail = trail;
        _subscriptionId = subscriptionId;
        _registry = registry;
        _filter = filter;
        _guarantee = guarantee;
        _tracksAcks = registry is not null && guarantee == DeliveryGuarantee.AtLeastOnce;
        _sentBefore = registry?.SentThrough(subscriptionId) ?? 0;
    }

    /// <summary>Audited deliveries whose acknowledgement could not be tracked (over <see cref="MaxUnacknowledged"/>).</summary>
    public long Untracked => Interlocked.Read(ref _untracked);

    /// <summary>The deliveries were written to the client (<paramref name="reread"/>: events re-read from Kafka).</summary>
    public void Delivered(ReadOnlySpan<Delivery> deliveries, bool reread = false)
    {
        long last = 0;
        var audited = false;
        foreach (var d in deliveries)
        {
            last = Math.Max(last, d.Sequence);
            audited |= _trail.Wants(d.Event);
        }

        if (audited)
        {
            lock (_gate)
            {
                Record(deliveries, DeliveryStatuses.Delivered, reread);
                if (_tracksAcks)
                {
                    foreach (var d in deliveries)
                    {
                        if (!_trail.Wants(d.Event))
                        {
                            continue;
                        }

                        if (_unacknowledged.Count < MaxUnacknowledged)
                        {
                            _unacknowledged.Enqueue(new Pending(d.Sequence, d.Event.Position, reread ? d.Event : null));
                        }
                        else
                        {
                            _untracked++;
                        }
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
    public void Failed(ReadOnlySpan<Delivery> deliveries, bool reread = false)
    {
        lock (_gate)
        {
            Record(deliveries, DeliveryStatuses.Failed, reread);
        }
    }

    /// <summary>The client acknowledged everything through <paramref name="sequence"/>.</summary>
    public void Acknowledged(long sequence)
    {
        lock (_gate)
        {
            var run = default(Run);
            while (_unacknowledged.TryPeek(out var p) && p.Sequence <= sequence)
            {
                _unacknowledged.Dequeue();
                if (p.Reread is { } e)
                {
                    _trail.RecordSingle(e, _subscriptionId, DeliveryStatuses.Acknowledged, p.Sequence <= _sentBefore ? 1 : 0);
                    continue;
                }

                if (run.Count > 0 && (p.Sequence <= _sentBefore) != (run.Last <= _sentBefore))
                {
                    Flush(ref run, DeliveryStatuses.Acknowledged);
                }

                run.Add(p.Sequence, p.Position);
            }

            Flush(ref run, DeliveryStatuses.Acknowledged);
        }
    }

    /// <summary>False while the audit queue is full.</summary>
    public bool HasRoom => _trail.HasRoom;

    /// <summary>Waits while the audit queue is full.</summary>
    public ValueTask WaitForRoomAsync(CancellationToken cancellationToken) => _trail.WaitForRoomAsync(cancellationToken);

    // One range per outcome: deliveries again (sequences the subscription was sent before) and first ones.
    private void Record(ReadOnlySpan<Delivery> deliveries, string status, bool reread)
    {
        if (reread || HasUnknownPosition(deliveries))
        {
            foreach (var d in deliveries)
            {
                if (_trail.Wants(d.Event))
                {
                    var repeat = d.Sequence <= _sentBefore;
                    _trail.RecordSingle(d.Event, _subscriptionId, Again(status, repeat), repeat ? 1 : 0);
                }
            }

            return;
        }

        Run again = default, first = default;
        foreach (var d in deliveries)
        {
            if (d.Sequence <= _sentBefore)
            {
                again.Add(d.Sequence, d.Event.Position);
            }
            else
            {
                first.Add(d.Sequence, d.Event.Position);
            }
        }

        Flush(ref again, status);
        Flush(ref first, status);
    }

    private void Flush(ref Run run, string status)
    {
        if (run.Count == 0)
        {
            return;
        }

        if (_stream == Guid.Empty)
        {
            _stream = _trail.RecordStream(_subscriptionId, FilterJson.Write(_filter), _guarantee, Caller);
        }

        var again = run.Last <= _sentBefore;
        _trail.RecordRange(_stream, _subscriptionId, Again(status, again), again ? 1 : 0, run.FirstPosition, run.LastPosition, run.First, run.Last, run.Count);
        run = default;
    }

    private static string Again(string status, bool again) => again && status == DeliveryStatuses.Delivered ? DeliveryStatuses.Redelivered : status;

    private static bool HasUnknownPosition(ReadOnlySpan<Delivery> deliveries)
    {
        foreach (var d in deliveries)
        {
            if (d.Event.Position < 0)
            {
                return true;
            }
        }

        return false;
    }

    private readonly record struct Pending(long Sequence, long Position, ExecutionEvent? Reread);

    // Sequences and positions from first to last of a run of deliveries (a batch's, or an acknowledgement's).
    private struct Run
    {
        public long First;
        public long Last;
        public long FirstPosition;
        public long LastPosition;
        public int Count;

        public void Add(long sequence, long position)
        {
            if (Count == 0)
            {
                (First, Last, FirstPosition, LastPosition) = (sequence, sequence, position, position);
            }
            else
            {
                (First, Last) = (Math.Min(First, sequence), Math.Max(Last, sequence));
                (FirstPosition, LastPosition) = (Math.Min(FirstPosition, position), Math.Max(LastPosition, position));
            }

            Count++;
        }
    }
}
