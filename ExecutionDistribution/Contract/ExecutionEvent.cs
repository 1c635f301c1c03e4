using System.Diagnostics;

namespace ExecutionDistribution.Contract;

/// <summary>
/// How an event is routed (the spec's <c>RoutingInfo</c>, written <c>distribution</c> in the
/// <c>execution_distributed</c> output event).
/// </summary>
/// <param name="Topic">Logical topic, e.g. <c>execution/fills/processed</c> (at most 200 characters).</param>
/// <param name="RoutingKey">Dot-separated key, e.g. <c>AAPL.fill.complete</c> (at most 200 characters).</param>
/// <param name="TargetWorkflows">Downstream workflows the event is meant for.</param>
/// <param name="Priority">1 is the most urgent; 1 to 9.</param>
/// <param name="DeliveryGuarantee">The producer's requested guarantee.</param>
public sealed record RoutingInfo(
    string Topic,
    string RoutingKey,
    string[] TargetWorkflows,
    int Priority,
    DeliveryGuarantee DeliveryGuarantee);

/// <summary>Who produced an event and how it must be treated (the spec's <c>ExecutionMetadata</c>).</summary>
/// <param name="SourceService">The producing service.</param>
/// <param name="ExecutionVenue">Venue the execution happened on, when there is one.</param>
/// <param name="LatencySensitive">Delivered ahead of other events to a backlogged subscriber.</param>
/// <param name="AuditRequired">Every delivery outcome is written to the audit trail.</param>
/// <param name="ComplianceFlags">Regimes the event falls under, e.g. <c>MiFID_II</c>.</param>
public sealed record ExecutionMetadata(
    string SourceService,
    string? ExecutionVenue,
    bool LatencySensitive,
    bool AuditRequired,
    string[] ComplianceFlags);

/// <summary>Where an event came from in its source log (a Kafka topic, partition and offset).</summary>
/// <param name="Topic">Source topic.</param>
/// <param name="Partition">Source partition.</param>
/// <param name="Offset">Offset within the partition.</param>
public readonly record struct SourcePosition(string Topic, int Partition, long Offset);

/// <summary>
/// One execution event: the spec's <c>ExecutionDistribution</c> envelope with a typed payload.
/// Immutable once parsed, apart from the two fields the dispatch core stamps when it appends the
/// event to the retained log (<see cref="Position"/> and <see cref="IngestTimestamp"/>).
/// </summary>
public sealed class ExecutionEvent
{
    // EnvelopeJson: a slice of an EventBytesArena slab, published once. State 0: not written;
    // 1: a thread is writing it; 2: written (the three fields below are set and never change).
    private int _envelopeState;
    private byte[]? _envelopeSlab;
    private int _envelopeStart;
    private int _envelopeLength;

    /// <summary>Creates an event; <paramref name="timestamp"/> is normalised to UTC microseconds.</summary>
    public ExecutionEvent(
        string eventId,
        DateTime timestamp,
        ExecutionDataType dataType,
        ExecutionPayload data,
        RoutingInfo routing,
        ExecutionMetadata metadata)
    {
        Debug.Assert(data.DataType == dataType, "payload must match the data type");
        EventId = eventId;
        Timestamp = Timestamps.ToUtcMicroseconds(timestamp);
        DataType = dataType;
        Data = data;
        Routing = routing;
        Metadata = metadata;
        (OrderId, InstrumentId, var venue) = PayloadRouting.Of(data);
        Venue = venue ?? metadata.ExecutionVenue;
        PortfolioId = PayloadRouting.PortfolioOf(data);
        IsUrgent = routing.Priority == 1 || metadata.LatencySensitive;
        OrderHash = OrderId is null ? 0 : HashOrderId(OrderId);
    }

    /// <summary>Unique id of the event; redeliveries keep it.</summary>
    public string EventId { get; }

    /// <summary>When the event happened at its source, UTC, microsecond precision.</summary>
    public DateTime Timestamp { get; }

    /// <summary>The kind of payload in <see cref="Data"/>.</summary>
    public ExecutionDataType DataType { get; }

    /// <summary>The typed payload.</summary>
    public ExecutionPayload Data { get; }

    /// <summary>Routing information.</summary>
    public RoutingInfo Routing { get; }

    /// <summary>Producer metadata.</summary>
    public ExecutionMetadata Metadata { get; }

    /// <summary>The order the event belongs to (null for venue status); events of one order keep their order.</summary>
    public string? OrderId { get; }

    /// <summary>
    /// The hash of <see cref="OrderId"/> (0 without one), computed once here so that per-delivery work
    /// (a reader keeping an order's events in order) never hashes the string again. Valid in this process only.
    /// </summary>
    internal int OrderHash { get; }

    /// <summary>The hash <see cref="OrderHash"/> holds: whoever indexes by it (the routing index) hashes with this.</summary>
    internal static int HashOrderId(string orderId) => StringComparer.Ordinal.GetHashCode(orderId);

    /// <summary>The instrument, when the payload names one.</summary>
    public string? InstrumentId { get; }

    /// <summary>The venue: the payload's, else <see cref="ExecutionMetadata.ExecutionVenue"/>.</summary>
    public string? Venue { get; }

    /// <summary>
    /// The portfolio the event belongs to: the payload's <c>portfolio_id</c>, else (a fill, a settlement
    /// that does not name it) its order's, filled in once by the dispatch core as the event enters the
    /// log from the order's earlier events (<see cref="Core.OrderPortfolios"/>); null when neither is
    /// known, and for a venue status (which belongs to no portfolio). Entitlements are by this.
    /// </summary>
    public string? PortfolioId { get; internal set; }

    /// <summary>True for an event of no portfolio by nature (no order: a venue status), which every reader may see.</summary>
    public bool IsMarketWide => OrderId is null && PortfolioId is null;

    /// <summary>Priority 1 or latency-sensitive: delivered first to a backlogged subscriber.</summary>
    public bool IsUrgent { get; }

    /// <summary>Where the event was read from, when it came from Kafka.</summary>
    public SourcePosition? Source { get; internal set; }

    /// <summary>
    /// Kafka ingest bookkeeping: outputs not yet acknowledged by Kafka. The input offset becomes safe to
    /// commit when this is 0 and the event has a position (see docs/architecture.md, "The safe point").
    /// </summary>
    internal int PendingOutputs;

    /// <summary>
    /// A copy of a Kafka record re-read after it left the retained log (the Kafka replay's), not the
    /// event ingest made of it: its outputs release the ingested event's (see Kafka.OutputReleases).
    /// </summary>
    internal bool IsReread;

    /// <summary>A standard event's <see cref="EstimatedBytes"/> (about 780 bytes of envelope JSON).</summary>
    public const int StandardEstimatedBytes = 1_816;

    /// <summary>
    /// Bytes the event holds in memory, for the retained log's byte bound: from the JSON it was parsed
    /// from (<see cref="EstimateBytes"/>), or <see cref="StandardEstimatedBytes"/> for an event built in process.
    /// </summary>
    public int EstimatedBytes { get; init; } = StandardEstimatedBytes;

    /// <summary>
    /// The memory an event parsed from <paramref name="jsonLength"/> bytes holds: its envelope bytes
    /// (about as long as its source), the parsed fields and strings (about as much again), and 256
    /// bytes of objects.
    /// </summary>
    public static int EstimateBytes(int jsonLength) => (2 * jsonLength) + 256;

    /// <summary>Position in the retained log, stamped by the dispatch core; -1 before.</summary>
    public long Position { get; internal set; } = -1;

    /// <summary><see cref="Stopwatch.GetTimestamp"/> when the service received the event (latency origin).</summary>
    public long IngestTimestamp { get; internal set; }

    /// <summary>
    /// The envelope as JSON (with <c>routing</c>), serialized once by the first reader and shared by
    /// every other: the same bytes for as long as the event lives. They sit in a slab of
    /// <see cref="EventBytesArena"/>, where collections do not copy them.
    /// </summary>
    public ReadOnlyMemory<byte> EnvelopeJson =>
        Volatile.Read(ref _envelopeState) == 2 ? Envelope : WriteEnvelope();

    /// <summary>
    /// The <c>execution_distributed</c> output event as JSON (with <c>distribution</c>), in a new array
    /// of its own on every call (the Kafka output hands it to the producer, which keeps it only
    /// until the record is acknowledged): <see cref="EnvelopeJson"/>'s bytes with the routing
    /// object's name changed, so the event is serialized once whichever shape is asked first.
    /// </summary>
    public byte[] DistributedJson() =>
        ExecutionEventWriter.Reshape(EnvelopeJson.Span, EnvelopeShape.Distributed) ?? ExecutionEventWriter.Write(this, EnvelopeShape.Distributed);

    // The published bytes; read only after the state was seen to be 2.
    private ReadOnlyMemory<byte> Envelope => new(_envelopeSlab, _envelopeStart, _envelopeLength);

    // Lock-free and never waiting: the thread that moves the state from 0 to 1 publishes its bytes;
    // a thread that finds another one writing returns a copy of its own (the same bytes, rarely made).
    private ReadOnlyMemory<byte> WriteEnvelope()
    {
        var json = ExecutionEventWriter.WriteScratch(this, EnvelopeShape.Envelope);
        if (Interlocked.CompareExchange(ref _envelopeState, 1, 0) != 0)
        {
            return Volatile.Read(ref _envelopeState) == 2 ? Envelope : json.ToArray();
        }

        var slice = EventBytesArena.Copy(json);
        _envelopeSlab = slice.Array;
        _envelopeStart = slice.Offset;
        _envelopeLength = slice.Count;
        Volatile.Write(ref _envelopeState, 2);
        return slice;
    }
}

/// <summary>Which of the spec's two shapes to write.</summary>
public enum EnvelopeShape
{
    /// <summary><c>ExecutionDistribution</c>: routing under <c>routing</c>.</summary>
    Envelope,
    /// <summary><c>execution_distributed</c>: routing under <c>distribution</c>.</summary>
    Distributed,
}

/// <summary>UTC microsecond timestamps, the contract's only time representation.</summary>
public static class Timestamps
{
    /// <summary>The wire format: ISO 8601, six fractional digits, <c>Z</c>.</summary>
    public const string WireFormat = "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'";

    /// <summary>Converts to UTC and truncates to whole microseconds.</summary>
    public static DateTime ToUtcMicroseconds(DateTime value)
    {
        var utc = value.Kind switch
        {
            DateTimeKind.Utc => value,
            DateTimeKind.Local => value.ToUniversalTime(),
            _ => DateTime.SpecifyKind(value, DateTimeKind.Utc),
        };
        return new DateTime(utc.Ticks - (utc.Ticks % 10), DateTimeKind.Utc);
    }

    /// <summary>Now from <paramref name="time"/>, in UTC microseconds.</summary>
    public static DateTime UtcNow(TimeProvider time) => ToUtcMicroseconds(time.GetUtcNow().UtcDateTime);

    /// <summary>The length of <see cref="WireFormat"/>'s text: <c>yyyy-MM-ddTHH:mm:ss.ffffffZ</c>.</summary>
    public const int WireLength = 27;

    /// <summary>
    /// Writes <paramref name="utc"/> in <see cref="WireFormat"/> as UTF-8 into the first <see cref="WireLength"/>
    /// bytes of <paramref name="destination"/>: the same text as <c>TryFormat(WireFormat)</c>, without parsing
    /// a custom format per call (it ran once per audit row). Years 0001-9999, as <see cref="DateTime"/> has.
    /// </summary>
    public static void FormatUtf8(DateTime utc, Span<byte> destination)
    {
        var d = destination[..WireLength];
        var micros = utc.Ticks % TimeSpan.TicksPerSecond / 10;
        Digits(d[..4], utc.Year);
        d[4] = (byte)'-';
        Digits(d.Slice(5, 2), utc.Month);
        d[7] = (byte)'-';
        Digits(d.Slice(8, 2), utc.Day);
        d[10] = (byte)'T';
        Digits(d.Slice(11, 2), utc.Hour);
        d[13] = (byte)':';
        Digits(d.Slice(14, 2), utc.Minute);
        d[16] = (byte)':';
        Digits(d.Slice(17, 2), utc.Second);
        d[19] = (byte)'.';
        Digits(d.Slice(20, 6), (int)micros);
        d[26] = (byte)'Z';

        static void Digits(Span<byte> into, int value)
        {
            for (var i = into.Length - 1; i >= 0; i--)
            {
                into[i] = (byte)('0' + (value % 10));
                value /= 10;
            }
        }
    }
}
