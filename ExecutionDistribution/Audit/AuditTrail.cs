using System.Collections.Concurrent;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Persistence;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Audit;

/// <summary>
/// Where the audit is recorded (<see cref="AuditRow"/>). Recording never blocks and never touches PostgreSQL: rows go
/// to a lock-free ring allocated once (<see cref="BoundedRing{T}"/>) that <see cref="AuditWriter"/>
/// drains in batches. The ring is bounded at
/// <c>Audit:QueueCapacity</c>: stream senders wait for room before their next batch (their own
/// subscriber falls behind and takes its overflow policy); the dispatcher thread (drops) never waits,
/// so drop rows may go past the bound by at most the drops of that time; a row that finds the ring
/// full goes to an overflow queue drained after it. No row is discarded.
/// </summary>
public sealed class AuditTrail : IDropObserver
{
    private readonly BoundedRing<AuditRow> _ring;
    private readonly ConcurrentQueue<AuditRow> _overflow = new();
    private readonly bool _all;
    private readonly bool _enabled;
    private readonly int _capacity;
    private readonly TimeProvider _time;
    private long _queued;
    private long _recorded;

    /// <summary>Creates the trail.</summary>
    public AuditTrail(IOptions<AuditOptions> options, TimeProvider time)
    {
        _all = options.Value.AllEvents;
        _enabled = options.Value.Enabled;
        _capacity = options.Value.QueueCapacity;
        _ring = new BoundedRing<AuditRow>(_enabled ? _capacity : 2);
        _time = time;
    }

    /// <summary>Rows recorded since start.</summary>
    public long Recorded => Interlocked.Read(ref _recorded);

    /// <summary>Rows waiting to be written.</summary>
    public long Queued => Interlocked.Read(ref _queued);

    /// <summary>The log the positions of ranges count in (the core's epoch, set at start).</summary>
    public Guid LogEpoch { get; set; }

    /// <summary>True when the event's deliveries are audited (audit on, and audit_required or every event if configured).</summary>
    public bool Wants(ExecutionEvent e) => _enabled && (_all || e.Metadata.AuditRequired);

    /// <summary>Records an audited event once, as it entered the log: its position and its envelope.</summary>
    public void RecordEvent(ExecutionEvent e)
    {
        var now = Timestamps.UtcNow(_time);
        var ms = Elapsed(e);
        Add(new AuditRow(AuditRowKind.Event, AuditIds.Next(now), now, e.EventId, e.Routing.Topic, e.Routing.RoutingKey, e.OrderId,
            Status: DeliveryStatuses.Distributed, DeliveryTimeMs: ms, Epoch: LogEpoch, FirstPosition: e.Position, LastPosition: e.Position,
            IngestedAt: ms is { } m ? Timestamps.ToUtcMicroseconds(now.AddTicks(-(long)(m * TimeSpan.TicksPerMillisecond))) : null, Event: e, Portfolio: e.PortfolioId));
    }

    /// <summary>Records that a stream of <paramref name="subscriptionId"/> opened with <paramref name="filterJson"/>; returns its id.</summary>
    public Guid RecordStream(string subscriptionId, string filterJson, DeliveryGuarantee guarantee, string? caller = null)
    {
        var now = Timestamps.UtcNow(_time);
        var id = AuditIds.Next(now);
        Add(new AuditRow(AuditRowKind.Stream, id, now, SubscriptionId: subscriptionId, Status: guarantee.Name(), Epoch: LogEpoch, StreamId: id, Text: filterJson, Caller: caller));
        return id;
    }

    /// <summary>Records what a stream did with a run of deliveries (sequences and positions from first to last).</summary>
    public void RecordRange(Guid stream, string subscriptionId, string status, int retryCount, long firstPosition, long lastPosition, long firstSequence, long lastSequence, int count)
    {
        var now = Timestamps.UtcNow(_time);
        Add(new AuditRow(AuditRowKind.Range, AuditIds.Next(now), now, SubscriptionId: subscriptionId, Status: status, RetryCount: retryCount, Epoch: LogEpoch,
            FirstPosition: firstPosition, LastPosition: lastPosition, StreamId: stream, FirstSequence: firstSequence, LastSequence: lastSequence, Count: count));
    }

    /// <summary>Records one outcome of one event for one subscription. Never blocks.</summary>
    public void RecordSingle(ExecutionEvent e, string subscriptionId, string status, int retryCount = 0)
    {
        var now = Timestamps.UtcNow(_time);
        Add(new AuditRow(AuditRowKind.Single, AuditIds.Next(now), now, e.EventId, e.Routing.Topic, e.Routing.RoutingKey, e.OrderId,
            subscriptionId, status, retryCount, Elapsed(e)));
    }

    private void Add(in AuditRow row)
    {
        if (!_ring.TryEnqueue(row))
        {
            _overflow.Enqueue(row);
        }

        Interlocked.Increment(ref _queued);
        Interlocked.Increment(ref _recorded);
    }

    private double? Elapsed(ExecutionEvent e) =>
        e.IngestTimestamp > 0 ? Math.Round((_time.GetTimestamp() - e.IngestTimestamp) * 1000.0 / _time.TimestampFrequency, 3) : null;

    /// <summary>Dispatcher thread: an at_most_once subscriber dropped <paramref name="e"/>.</summary>
    public void Dropped(Subscriber subscriber, ExecutionEvent e)
    {
        if (Wants(e))
        {
            RecordSingle(e, subscriber.Id, DeliveryStatuses.Dropped);
        }
    }

    /// <summary>False while the audit queue is full (a stream should wait: <see cref="WaitForRoomAsync"/>).</summary>
    public bool HasRoom => Interlocked.Read(ref _queued) < _capacity;

    /// <summary>Waits while the queue is at its bound (stream senders call this between batches).</summary>
    public async ValueTask WaitForRoomAsync(CancellationToken cancellationToken)
    {
        while (!HasRoom)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(5), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Writer: takes up to <paramref name="max"/> rows, oldest first.</summary>
    internal int Drain(List<AuditRow> into, int max)
    {
        var taken = 0;
        while (taken < max && (_ring.TryDequeue(out var record) || _overflow.TryDequeue(out record)))
        {
            into.Add(record);
            taken++;
        }

        Interlocked.Add(ref _queued, -taken);
        return taken;
    }
}
