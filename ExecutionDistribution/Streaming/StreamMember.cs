using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Subscriptions;

namespace ExecutionDistribution.Streaming;

/// <summary>
/// One subscription carried by a client connection. Its batch is read and written by the
/// connection's turns on its delivery loop only.
/// </summary>
internal sealed class StreamMember(string id, Subscriber subscriber, StreamAudit audit, CancellationTokenSource? changed, int batchSize, FanOutDispatcher core)
{
    // Multiplexed connections: deliveries read but not yet sent (log order), and what the next frame takes.
    private readonly Delivery[] _pending = new Delivery[2 * batchSize];
    private int _pendingCount;
    private int _outgoingCount;
    private long _readResumePosition;
    private long _readLastSequence;
    private Core.ResumeToken? _readToken;

    public string Id { get; } = id;

    /// <summary><see cref="Id"/> as UTF-8, encoded once for frames that tag each delivery with it.</summary>
    public byte[] IdUtf8 { get; } = System.Text.Encoding.UTF8.GetBytes(id);

    /// <summary><see cref="Id"/> escaped for JSON once, for frames that tag each delivery with it (a multiplexed WebSocket).</summary>
    public System.Text.Json.JsonEncodedText IdJson { get; } = System.Text.Json.JsonEncodedText.Encode(id);

    public Subscriber Subscriber { get; } = subscriber;

    public StreamAudit Audit { get; } = audit;

    /// <summary>For a managed subscription: cancelled when it changes (the stream must end).</summary>
    public CancellationTokenSource? Changed { get; } = changed;

    public DeliveryBatch Batch { get; } = new(batchSize);

    public bool HasBatch { get; set; }

    public string ResumeToken { get; set; } = string.Empty;

    public string? EndReason { get; set; }

    /// <summary>The client's request that ended it, if it says one (a multiplexed gRPC call's unsubscribe).</summary>
    public string? EndRequestId { get; set; }

    public CancellationTokenRegistration ChangedRegistration { get; set; }

    /// <summary>1 once the connection let go of it (interlocked).</summary>
    public int Released;

    /// <summary>Drops announced since the last frame (multiplexed).</summary>
    public long Dropped { get; private set; }

    /// <summary>Positions lost since the last frame (multiplexed).</summary>
    public long Lost { get; private set; }

    /// <summary>Deliveries read and not yet sent (multiplexed).</summary>
    public bool HasPending => _pendingCount > 0;

    /// <summary>What the next frame carries for this subscription (multiplexed).</summary>
    public ReadOnlySpan<Delivery> Outgoing => _pending.AsSpan(0, _outgoingCount);

    /// <summary>A connection of one subscription: reads its next message into <see cref="Batch"/>, with the token after it; false when there is nothing.</summary>
    public bool ReadBatch()
    {
        if (!Subscriber.TryReadBatch(Batch))
        {
            return false;
        }

        ResumeToken = TokenAfter(Batch);
        return true;
    }

    /// <summary>The token after <paramref name="batch"/>: its place in the log, or, re-read from Kafka, the re-read's.</summary>
    private string TokenAfter(DeliveryBatch batch) =>
        batch.Token?.Encode() ?? core.EncodeTokenAt(batch.ResumePosition, batch.LastSequence, Subscriber.Floor);

    /// <summary>A connection of one subscription: audits the message of <see cref="Batch"/>, delivered or failed.</summary>
    public void AuditBatch(bool delivered)
    {
        if (delivered)
        {
            Audit.Delivered(Batch.Deliveries);
        }
        else
        {
            Audit.Failed(Batch.Deliveries);
        }
    }

    /// <summary>Reads another batch (positions below <paramref name="before"/>) if there is room; true if anything was read or announced.</summary>
    public bool TopUp(long before)
    {
        if (_pendingCount > Batch.Capacity || !Subscriber.TryReadBatch(Batch, before))
        {
            return false;
        }

        Batch.Deliveries.CopyTo(_pending.AsSpan(_pendingCount));
        _pendingCount += Batch.Count;
        Dropped += Batch.Dropped;
        Lost += Batch.LostPositions;
        _readResumePosition = Batch.ResumePosition;
        _readLastSequence = Batch.LastSequence;
        _readToken = Batch.Token;
        return true;
    }

    /// <summary>Takes the pending deliveries below <paramref name="through"/> for the next frame, and sets the resume token after them.</summary>
    public bool TakeBelow(long through)
    {
        var n = 0;
        while (n < _pendingCount && _pending[n].Event.Position < through)
        {
            n++;
        }

        _outgoingCount = n;
        HasBatch = n > 0 || Dropped > 0 || Lost > 0;
        if (HasBatch)
        {
            // Resuming after this frame starts at the first delivery kept back, with its sequence again.
            ResumeToken = n == _pendingCount
                ? _readToken?.Encode() ?? core.EncodeTokenAt(_readResumePosition, _readLastSequence, Subscriber.Floor)
                : core.EncodeTokenAt(_pending[n].Event.Position, _pending[n].Sequence - 1, Subscriber.Floor);
        }

        return HasBatch;
    }

    /// <summary>The outgoing deliveries went out (or failed): keep the rest.</summary>
    public void Sent()
    {
        var rest = _pendingCount - _outgoingCount;
        Array.Copy(_pending, _outgoingCount, _pending, 0, rest);
        Array.Clear(_pending, rest, _outgoingCount);
        _pendingCount = rest;
        _outgoingCount = 0;
        Dropped = 0;
        Lost = 0;
    }
}

/// <summary>One delivery of a multiplexed frame: sorted by log position, so each event is written once with all its subscriptions.</summary>
internal readonly record struct MultiplexTag(long Position, int Member, long Sequence, ExecutionEvent Event);

/// <summary>
/// Reads the subscriptions of one connection so that an event several of them take travels once: it
/// reads only what the dispatcher has finished fanning out (<see cref="FanOutDispatcher.RoutedHead"/>)
/// and sends only positions below the point every subscription has read through (a subscription whose
/// batch filled first keeps the rest for the next frame), so all copies of an event are in one frame.
/// Used by the connection's turns only.
/// </summary>
internal sealed class MultiplexedReader(FanOutDispatcher core)
{
    private MultiplexTag[] _tags = new MultiplexTag[256];
    private int _count;

    /// <summary>No member has anything for the next frame.</summary>
    public static readonly StreamMember[] None = [];

    /// <summary>Reads every member; returns the members when any has something for the next frame, else <see cref="None"/>.</summary>
    public StreamMember[] Read(StreamMember[] members)
    {
        while (true)
        {
            var before = core.RoutedHead;
            var read = false;
            foreach (var m in members)
            {
                read |= m.TopUp(before);
            }

            var through = before;
            foreach (var m in members)
            {
                through = Math.Min(through, m.Subscriber.ReadThrough(before));
            }

            var any = false;
            foreach (var m in members)
            {
                any |= m.TakeBelow(through);
            }

            if (any)
            {
                return members;
            }

            if (!read)
            {
                return None;
            }
        }
    }

    /// <summary>True when a member holds deliveries it read but no frame could take yet (another member has not read through them).</summary>
    public static bool Holds(StreamMember[] members)
    {
        foreach (var m in members)
        {
            if (m.HasPending)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The next frame's deliveries in log order (and member order within an event). Valid until <see cref="Clear"/>.</summary>
    public ReadOnlySpan<MultiplexTag> Collect(StreamMember[] members)
    {
        var count = 0;
        for (var m = 0; m < members.Length; m++)
        {
            var member = members[m];
            if (!member.HasBatch)
            {
                continue;
            }

            var outgoing = member.Outgoing;
            if (count + outgoing.Length > _tags.Length)
            {
                Array.Resize(ref _tags, Math.Max(_tags.Length * 2, count + outgoing.Length));
            }

            foreach (var d in outgoing)
            {
                _tags[count++] = new MultiplexTag(d.Event.Position, m, d.Sequence, d.Event);
            }
        }

        _count = count;
        var tags = _tags.AsSpan(0, count);
        // Events re-read from Kafka have no position (-1): they go first, each member's in sequence order.
        tags.Sort(static (a, b) => a.Position != b.Position ? a.Position.CompareTo(b.Position)
            : a.Member != b.Member ? a.Member.CompareTo(b.Member) : a.Sequence.CompareTo(b.Sequence));
        return tags;
    }

    /// <summary>What the last <see cref="Collect"/> returned, until <see cref="Clear"/>.</summary>
    public ReadOnlySpan<MultiplexTag> Collected => _tags.AsSpan(0, _count);

    /// <summary>The frame is written: let go of its events.</summary>
    public void Clear()
    {
        Array.Clear(_tags, 0, _count);
        _count = 0;
    }

    /// <summary>Audits what the frame carried for each member (delivered, or failed) and keeps what it held back.</summary>
    public static void Audit(StreamMember[] members, bool delivered)
    {
        foreach (var m in members)
        {
            if (!m.HasBatch)
            {
                continue;
            }

            if (delivered)
            {
                m.Audit.Delivered(m.Outgoing);
            }
            else
            {
                m.Audit.Failed(m.Outgoing);
            }

            m.Sent();
        }
    }
}
