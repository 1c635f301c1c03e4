using System.Collections.Concurrent;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Persistence;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Audit;

/// <summary>
/// One row of the spec's distribution_audit table (plus order and subscription). A struct: queued rows
/// live in the queue's segments, so recording one allocates nothing of its own.
/// </summary>
/// <param name="Id">Chosen here (UUIDv7): a row written again after a failure is recognised, never stored twice.</param>
/// <param name="EventId">The event.</param>
/// <param name="TopicName">Its topic.</param>
/// <param name="RoutingKey">Its routing key.</param>
/// <param name="DeliveryStatus">delivered, acknowledged, dropped, failed or redelivered.</param>
/// <param name="DeliveryTimeMs">From ingest to the outcome, in ms.</param>
/// <param name="RetryCount">0 for a first delivery, 1 or more for deliveries again.</param>
/// <param name="CreatedAt">When the outcome happened, UTC.</param>
/// <param name="OrderId">The event's order, if any.</param>
/// <param name="SubscriptionId">Whose delivery it was.</param>
public readonly record struct AuditRecord(
    Guid Id,
    string EventId,
    string TopicName,
    string RoutingKey,
    string DeliveryStatus,
    double? DeliveryTimeMs,
    int RetryCount,
    DateTime CreatedAt,
    string? OrderId,
    string? SubscriptionId);

/// <summary>The delivery outcomes an audit row records.</summary>
public static class DeliveryStatuses
{
    /// <summary>Written to the client's stream.</summary>
    public const string Delivered = "delivered";

    /// <summary>Acknowledged by the client.</summary>
    public const string Acknowledged = "acknowledged";

    /// <summary>Dropped for an at_most_once subscriber that fell behind.</summary>
    public const string Dropped = "dropped";

    /// <summary>The write to the client failed (it went away); at_least_once delivers it again.</summary>
    public const string Failed = "failed";

    /// <summary>Delivered again after a reconnect (not acknowledged before).</summary>
    public const string Redelivered = "redelivered";
}

/// <summary>
/// Where delivery outcomes are recorded. Recording never blocks and never touches PostgreSQL: rows go
/// to a lock-free ring allocated once (<see cref="BoundedRing{T}"/>) that <see cref="AuditWriter"/>
/// drains in batches. The ring is bounded at
/// <c>Audit:QueueCapacity</c>: stream senders wait for room before their next batch (their own
/// subscriber falls behind and takes its overflow policy); the dispatcher thread (drops) never waits,
/// so drop rows may go past the bound by at most the drops of that time; a row that finds the ring
/// full goes to an overflow queue drained after it. No row is discarded.
/// </summary>
public sealed class AuditTrail : IDropObserver
{
    private readonly BoundedRing<AuditRecord> _ring;
    private readonly ConcurrentQueue<AuditRecord> _overflow = new();
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
        _ring = new BoundedRing<AuditRecord>(_enabled ? _capacity : 2);
        _time = time;
    }

    /// <summary>Rows recorded since start.</summary>
    public long Recorded => Interlocked.Read(ref _recorded);

    /// <summary>Rows waiting to be written.</summary>
    public long Queued => Interlocked.Read(ref _queued);

    /// <summary>True when the event's deliveries are audited (audit on, and audit_required or every event if configured).</summary>
    public bool Wants(ExecutionEvent e) => _enabled && (_all || e.Metadata.AuditRequired);

    /// <summary>Records one outcome of an audited event. Never blocks.</summary>
    public void Record(ExecutionEvent e, string subscriptionId, string status, int retryCount = 0)
    {
        Enqueue(Row(e, subscriptionId, status, retryCount, Timestamps.UtcNow(_time), _time.GetTimestamp()));
        Interlocked.Increment(ref _queued);
        Interlocked.Increment(ref _recorded);
    }

    /// <summary>
    /// Records the deliveries of one written batch: one clock reading and one counter update for all
    /// of them. Those whose sequence is at most <paramref name="sentBefore"/> are redeliveries.
    /// </summary>
    /// <returns>The last sequence of the batch (0 when empty).</returns>
    public long RecordDelivered(ReadOnlySpan<Delivery> deliveries, string subscriptionId, long sentBefore)
    {
        long last = 0;
        var rows = 0;
        var now = Timestamps.UtcNow(_time);
        var ticks = _time.GetTimestamp();
        foreach (var d in deliveries)
        {
            last = d.Sequence;
            if (!Wants(d.Event))
            {
                continue;
            }

            var again = d.Sequence <= sentBefore;
            Enqueue(Row(d.Event, subscriptionId, again ? DeliveryStatuses.Redelivered : DeliveryStatuses.Delivered, again ? 1 : 0, now, ticks));
            rows++;
        }

        if (rows > 0)
        {
            Interlocked.Add(ref _queued, rows);
            Interlocked.Add(ref _recorded, rows);
        }

        return last;
    }

    private void Enqueue(in AuditRecord row)
    {
        if (!_ring.TryEnqueue(row))
        {
            _overflow.Enqueue(row);
        }
    }

    private AuditRecord Row(ExecutionEvent e, string subscriptionId, string status, int retryCount, DateTime now, long ticks)
    {
        double? elapsed = e.IngestTimestamp > 0 ? Math.Round((ticks - e.IngestTimestamp) * 1000.0 / _time.TimestampFrequency, 3) : null;
        return new AuditRecord(AuditIds.Next(now), e.EventId, e.Routing.Topic, e.Routing.RoutingKey, status, elapsed, retryCount, now, e.OrderId, subscriptionId);
    }

    /// <summary>Dispatcher thread: an at_most_once subscriber dropped <paramref name="e"/>.</summary>
    public void Dropped(Subscriber subscriber, ExecutionEvent e)
    {
        if (Wants(e))
        {
            Record(e, subscriber.Id, DeliveryStatuses.Dropped);
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
    internal int Drain(List<AuditRecord> into, int max)
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
