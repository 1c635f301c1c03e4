namespace ExecutionDistribution.Audit;

/// <summary>What an <see cref="AuditRow"/> records.</summary>
public enum AuditRowKind : byte
{
    /// <summary>An audited event entered the log (distribution_audit, no subscription): its id, position and envelope.</summary>
    Event,

    /// <summary>A stream of a subscription opened (audit_streams): the filter its deliveries matched.</summary>
    Stream,

    /// <summary>
    /// What one stream did with a run of its deliveries (delivery_ranges): written, acknowledged or
    /// failed, for every event its filter took between two log positions.
    /// </summary>
    Range,

    /// <summary>One outcome of one event for one subscription (distribution_audit): a drop, or a delivery of an event re-read from Kafka.</summary>
    Single,
}

/// <summary>
/// One row of the audit as it is queued, spilled and stored. The audit grows with events and
/// written batches, not with events × subscribers: each audited event is recorded once
/// (<see cref="AuditRowKind.Event"/>), and each batch a stream writes is one
/// <see cref="AuditRowKind.Range"/> (positions and sequences from first to last, the way a Kafka
/// consumer keeps its offset and a JetStream consumer its ack floor). Which subscriptions received
/// an event is answered by the ranges that cover its position and whose stream's filter takes it
/// (<see cref="AuditResolver"/>). A struct: queued rows live in the queue's slots.
/// </summary>
/// <param name="Kind">What the row records; the fields it uses are named below.</param>
/// <param name="Id">UUIDv7 chosen when recorded: a row written again after a failure is recognised, never stored twice.</param>
/// <param name="CreatedAt">When it happened, UTC.</param>
/// <param name="EventId">Event, Single: the event.</param>
/// <param name="TopicName">Event, Single: its topic.</param>
/// <param name="RoutingKey">Event, Single: its routing key.</param>
/// <param name="OrderId">Event, Single: its order, if any.</param>
/// <param name="SubscriptionId">Stream, Range, Single: whose deliveries.</param>
/// <param name="Status">Event: distributed; Stream: its delivery guarantee; Range, Single: a <see cref="DeliveryStatuses"/> value.</param>
/// <param name="RetryCount">Range, Single: 0 for a first delivery, 1 for deliveries again.</param>
/// <param name="DeliveryTimeMs">Event: from ingest to recording; Single: from ingest to the outcome; in ms.</param>
/// <param name="Epoch">Event, Stream, Range: the log the positions count in.</param>
/// <param name="FirstPosition">Event: its position; Range: the first delivery's.</param>
/// <param name="LastPosition">Range: the last delivery's position.</param>
/// <param name="StreamId">Stream, Range: the stream.</param>
/// <param name="FirstSequence">Range: the first delivery's sequence.</param>
/// <param name="LastSequence">Range: the last delivery's sequence.</param>
/// <param name="Count">Range: deliveries in it.</param>
/// <param name="Portfolio">Event: the portfolio it was distributed under (its own, or its order's), which a fill's envelope may not name.</param>
/// <param name="Caller">Stream: who opened it (the token's subject), its filter being the one its entitlements narrowed.</param>
/// <param name="Text">Event: the envelope as delivered (JSON); Stream: the filter (JSON).</param>
/// <param name="IngestedAt">Event: when it was ingested, UTC.</param>
/// <param name="Event">Event, while queued: the event itself, whose envelope bytes are written as they are (no copy of them is queued); null once read back.</param>
public readonly record struct AuditRow(
    AuditRowKind Kind,
    Guid Id,
    DateTime CreatedAt,
    string? EventId = null,
    string? TopicName = null,
    string? RoutingKey = null,
    string? OrderId = null,
    string? SubscriptionId = null,
    string? Status = null,
    int RetryCount = 0,
    double? DeliveryTimeMs = null,
    Guid Epoch = default,
    long FirstPosition = 0,
    long LastPosition = 0,
    Guid StreamId = default,
    long FirstSequence = 0,
    long LastSequence = 0,
    int Count = 0,
    string? Text = null,
    DateTime? IngestedAt = null,
    Contract.ExecutionEvent? Event = null,
    string? Portfolio = null,
    string? Caller = null)
{
    /// <summary>The envelope or filter as JSON text (the event's envelope decoded when only the event is held).</summary>
    public string? JsonText => Text ?? (Event is { } e ? System.Text.Encoding.UTF8.GetString(e.EnvelopeJson.Span) : null);
}

/// <summary>
/// One delivery outcome of one event for one subscription, as <c>GET /api/v1/audit</c> answers it
/// (the spec's distribution_audit columns plus order and subscription).
/// </summary>
/// <param name="Id">Unique per outcome (derived from the row it comes from and the event's position).</param>
/// <param name="EventId">The event.</param>
/// <param name="TopicName">Its topic.</param>
/// <param name="RoutingKey">Its routing key.</param>
/// <param name="DeliveryStatus">delivered, acknowledged, dropped, failed or redelivered.</param>
/// <param name="DeliveryTimeMs">From ingest to the outcome, in ms.</param>
/// <param name="RetryCount">0 for a first delivery, 1 or more for deliveries again.</param>
/// <param name="CreatedAt">When the outcome happened, UTC.</param>
/// <param name="OrderId">The event's order, if any.</param>
/// <param name="SubscriptionId">Whose delivery it was.</param>
/// <param name="Caller">Who opened the stream that delivered it (its token's subject), when the audit knows.</param>
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
    string? SubscriptionId,
    string? Caller = null);

/// <summary>The delivery outcomes the audit records.</summary>
public static class DeliveryStatuses
{
    /// <summary>An event row: the event entered the log and was routed.</summary>
    public const string Distributed = "distributed";

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
