using System.Buffers.Binary;
using System.IO.Pipelines;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Grpc.V1;
using Google.Protobuf;

namespace ExecutionDistribution.Streaming.Grpc;

/// <summary>
/// The messages of events a call writes, built from the generated classes and reused for every
/// message of the call (one writer at a time): their objects are kept and refilled, and each event's
/// fields are shared references (its strings and <see cref="ExecutionEvent.EnvelopeJsonBytes"/>, the
/// JSON bytes serialized once), so a message costs no allocation once the call is warm.
/// </summary>
internal sealed class EventMessages
{
    private readonly ExecutionMessage _message = new();
    private readonly EventBatch _batch = new();
    private readonly List<ExecutionDistribution.Grpc.V1.Delivery> _deliveries = [];

    private readonly MultiplexedMessage _multiplexed = new();
    private readonly MultiplexedBatch _tagged = new();
    private readonly List<TaggedEvent> _events = [];
    private readonly List<SubscriptionSequence> _sequences = [];

    /// <summary>A <c>StreamExecution</c> message of <paramref name="batch"/>'s events; valid until the next call.</summary>
    public ExecutionMessage Events(string subscriptionId, string resumeToken, DeliveryBatch batch)
    {
        var deliveries = _batch.Deliveries;
        deliveries.Clear();
        var i = 0;
        foreach (var d in batch.Deliveries)
        {
            var delivery = Next(_deliveries, i++);
            delivery.Sequence = d.Sequence;
            delivery.EventId = d.Event.EventId;
            delivery.DataType = WireNames.DataTypes[(int)d.Event.DataType];
            delivery.OrderId = d.Event.OrderId ?? string.Empty;
            delivery.EventJson = d.Event.EnvelopeJsonBytes;
            deliveries.Add(delivery);
        }

        _batch.Dropped = batch.Dropped;
        _batch.LostPositions = batch.LostPositions;
        _message.SubscriptionId = subscriptionId;
        _message.ResumeToken = resumeToken;
        _message.Events = _batch;
        return _message;
    }

    /// <summary>
    /// A <c>StreamMultiplexed</c> message of what <paramref name="reader"/> collected from
    /// <paramref name="members"/>: each event once, in log order, tagged with every subscription that
    /// takes it, and each subscription's token and announcements. Valid until the next call.
    /// </summary>
    public MultiplexedMessage Live(StreamMember[] members, MultiplexedReader reader)
    {
        Clear();
        var tags = reader.Collect(members);
        var sequences = 0;
        for (var i = 0; i < tags.Length;)
        {
            var tagged = Tagged(Next(_events, _tagged.Events.Count), tags[i].Event);
            for (var position = tags[i].Position; i < tags.Length && tags[i].Position == position; i++)
            {
                var sequence = Next(_sequences, sequences++);
                sequence.SubscriptionId = members[tags[i].Member].Id;
                sequence.Sequence = tags[i].Sequence;
                tagged.Deliveries.Add(sequence);
            }

            _tagged.Events.Add(tagged);
        }

        foreach (var m in members)
        {
            if (!m.HasBatch)
            {
                continue;
            }

            _tagged.ResumeTokens[m.Id] = m.ResumeToken;
            if (m.Dropped > 0)
            {
                _tagged.Dropped[m.Id] = m.Dropped;
            }

            if (m.Lost > 0)
            {
                _tagged.LostPositions[m.Id] = m.Lost;
            }
        }

        reader.Clear();
        _multiplexed.Events = _tagged;
        return _multiplexed;
    }

    /// <summary>One subscription's events re-read from Kafka, each tagged with it alone (a new message).</summary>
    public static MultiplexedMessage Replay(string subscriptionId, DeliveryBatch batch, string resumeToken)
    {
        var replayed = new MultiplexedBatch { ResumeTokens = { [subscriptionId] = resumeToken } };
        foreach (var d in batch.Deliveries)
        {
            var tagged = Tagged(new TaggedEvent(), d.Event);
            tagged.Deliveries.Add(new SubscriptionSequence { SubscriptionId = subscriptionId, Sequence = d.Sequence });
            replayed.Events.Add(tagged);
        }

        return new MultiplexedMessage { Events = replayed };
    }

    /// <summary>
    /// Writes <paramref name="message"/> into a call's response body as gRPC frames it (not compressed,
    /// its length big-endian) and flushes; no allocation when the flush completes at once.
    /// </summary>
    /// <remarks>
    /// Not through the call's stream writer: its layers per write (a cancellation registration, a lock, two
    /// async state machines) cost a quarter of the server's CPU per delivery at 1,000 streams (W3 gRPC, docs/benchmarks.md).
    /// </remarks>
    public static ValueTask WriteToBody(PipeWriter body, IMessage message)
    {
        var prefix = body.GetSpan(5);
        prefix[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(prefix[1..], (uint)message.CalculateSize());
        body.Advance(5);
        message.WriteTo(body);
        var flush = body.FlushAsync();
        if (flush.IsCompletedSuccessfully)
        {
            _ = flush.Result;
            return default;
        }

        return new ValueTask(flush.AsTask());
    }

    private static TaggedEvent Tagged(TaggedEvent tagged, ExecutionEvent e)
    {
        tagged.Deliveries.Clear();
        tagged.EventId = e.EventId;
        tagged.DataType = WireNames.DataTypes[(int)e.DataType];
        tagged.OrderId = e.OrderId ?? string.Empty;
        tagged.EventJson = e.EnvelopeJsonBytes;
        return tagged;
    }

    private void Clear()
    {
        _tagged.Events.Clear();
        _tagged.ResumeTokens.Clear();
        _tagged.Dropped.Clear();
        _tagged.LostPositions.Clear();
    }

    private static T Next<T>(List<T> pool, int index)
        where T : new() => index < pool.Count ? pool[index] : Add(pool);

    private static T Add<T>(List<T> pool)
        where T : new()
    {
        var item = new T();
        pool.Add(item);
        return item;
    }
}
