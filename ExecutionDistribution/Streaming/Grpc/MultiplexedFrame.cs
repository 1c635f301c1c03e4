using System.Buffers;
using System.Text;
using ExecutionDistribution.Core;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Subscriptions;
using Google.Protobuf;

namespace ExecutionDistribution.Streaming.Grpc;

/// <summary>
/// One <see cref="MultiplexedMessage"/> of a <c>StreamMultiplexed</c> call: a message for protobuf to
/// encode, or a <see cref="MultiplexedBatch"/> written by hand. Each event is written once with the
/// subscriptions that take it (each subscription's id encoded once, <see cref="StreamMember.IdUtf8"/>),
/// then its shared head and JSON (<see cref="DeliveryHead"/>), then the per-subscription maps. Encoded,
/// a batch is byte for byte what protobuf writes for the same message.
/// </summary>
internal sealed class MultiplexedFrame : IWireFrame
{
    // Field tags: (number << 3) | wire type (0 varint, 2 length-delimited).
    private const byte EventsTag = (1 << 3) | 2;          // MultiplexedMessage.events
    private const byte TaggedEventTag = (1 << 3) | 2;     // MultiplexedBatch.events
    private const byte ResumeTokensTag = (2 << 3) | 2;    // MultiplexedBatch.resume_tokens
    private const byte DroppedTag = (3 << 3) | 2;         // MultiplexedBatch.dropped
    private const byte LostPositionsTag = (4 << 3) | 2;   // MultiplexedBatch.lost_positions
    private const byte DeliveriesTag = (1 << 3) | 2;      // TaggedEvent.deliveries
    private const byte SubscriptionIdTag = (1 << 3) | 2;  // SubscriptionSequence.subscription_id
    private const byte SequenceTag = 2 << 3;              // SubscriptionSequence.sequence
    private const byte KeyTag = (1 << 3) | 2;             // a map entry's string key
    private const byte StringValueTag = (2 << 3) | 2;     // a map entry's string value
    private const byte Int64ValueTag = 2 << 3;            // a map entry's int64 value

    private MultiplexedMessage? _message;

    // Live: the members of the call and the reader's collected deliveries, in log order.
    private StreamMember[]? _members;
    private MultiplexedReader? _reader;

    // Re-read from Kafka: one subscription's batch.
    private byte[]? _replayId;
    private DeliveryBatch? _replayBatch;
    private string _replayToken = string.Empty;

    // The batch's encoded size, measured once per batch (gRPC asks the size before the bytes); -1 until then.
    private int _batchSize = -1;

    /// <summary>A frame for protobuf to encode.</summary>
    public static MultiplexedFrame Of(MultiplexedMessage message) => new() { _message = message };

    /// <summary>One subscription's events re-read from Kafka, each tagged with it alone.</summary>
    public static MultiplexedFrame Replay(string id, DeliveryBatch batch, string resumeToken) =>
        new() { _replayId = Encoding.UTF8.GetBytes(id), _replayBatch = batch, _replayToken = resumeToken };

    /// <summary>Sets this frame to what <paramref name="reader"/> collected from <paramref name="members"/>; valid until the write completes.</summary>
    public MultiplexedFrame Live(StreamMember[] members, MultiplexedReader reader)
    {
        _message = null;
        _members = members;
        _reader = reader;
        _batchSize = -1;
        return this;
    }

    /// <summary>Lets go of the members once written (the frame is reused by its call).</summary>
    public void Clear()
    {
        _members = null;
        _reader = null;
    }

    /// <inheritdoc />
    public int CalculateSize() => _message?.CalculateSize() ?? ProtoWriter.DelimitedSize(BatchSize());

    /// <inheritdoc />
    public void WriteTo(IBufferWriter<byte> output)
    {
        if (_message is not null)
        {
            _message.WriteTo(output);
            return;
        }

        var w = new ProtoWriter(output);
        w.Delimited(EventsTag, BatchSize());
        if (_replayBatch is { } batch)
        {
            foreach (var d in batch.Deliveries)
            {
                w.Delimited(TaggedEventTag, DeliveryHead.MessageSize(d.Event, ProtoWriter.DelimitedSize(SequenceSize(_replayId!, d.Sequence))));
                WriteSequence(ref w, _replayId!, d.Sequence);
                DeliveryHead.Write(ref w, d.Event);
            }

            WriteEntry(ref w, ResumeTokensTag, _replayId!, _replayToken);
        }
        else
        {
            var members = _members!;
            var tags = _reader!.Collected;
            for (var i = 0; i < tags.Length;)
            {
                var e = tags[i].Event;
                var end = EndOfEvent(tags, i);
                w.Delimited(TaggedEventTag, DeliveryHead.MessageSize(e, TagsSize(members, tags[i..end])));
                for (; i < end; i++)
                {
                    WriteSequence(ref w, members[tags[i].Member].IdUtf8, tags[i].Sequence);
                }

                DeliveryHead.Write(ref w, e);
            }

            // As protobuf writes the maps: each field's entries together, in the order they were added.
            foreach (var m in members)
            {
                if (m.HasBatch)
                {
                    WriteEntry(ref w, ResumeTokensTag, m.IdUtf8, m.ResumeToken);
                }
            }

            foreach (var m in members)
            {
                if (m.HasBatch)
                {
                    WriteEntry(ref w, DroppedTag, m.IdUtf8, m.Dropped);
                }
            }

            foreach (var m in members)
            {
                if (m.HasBatch)
                {
                    WriteEntry(ref w, LostPositionsTag, m.IdUtf8, m.Lost);
                }
            }
        }

        w.Flush();
    }

    private int BatchSize()
    {
        if (_batchSize >= 0)
        {
            return _batchSize;
        }

        var size = 0;
        if (_replayBatch is { } batch)
        {
            foreach (var d in batch.Deliveries)
            {
                size += ProtoWriter.DelimitedSize(DeliveryHead.MessageSize(d.Event, ProtoWriter.DelimitedSize(SequenceSize(_replayId!, d.Sequence))));
            }

            return _batchSize = size + EntrySize(_replayId!, _replayToken);
        }

        var members = _members!;
        var tags = _reader!.Collected;
        for (var i = 0; i < tags.Length;)
        {
            var end = EndOfEvent(tags, i);
            size += ProtoWriter.DelimitedSize(DeliveryHead.MessageSize(tags[i].Event, TagsSize(members, tags[i..end])));
            i = end;
        }

        foreach (var m in members)
        {
            if (m.HasBatch)
            {
                size += EntrySize(m.IdUtf8, m.ResumeToken) + EntrySize(m.IdUtf8, m.Dropped) + EntrySize(m.IdUtf8, m.Lost);
            }
        }

        return _batchSize = size;
    }

    // The deliveries of one event are adjacent: the reader sorts them by log position.
    private static int EndOfEvent(ReadOnlySpan<MultiplexTag> tags, int start)
    {
        var end = start + 1;
        while (end < tags.Length && tags[end].Position == tags[start].Position)
        {
            end++;
        }

        return end;
    }

    private static int TagsSize(StreamMember[] members, ReadOnlySpan<MultiplexTag> tags)
    {
        var size = 0;
        foreach (var t in tags)
        {
            size += ProtoWriter.DelimitedSize(SequenceSize(members[t.Member].IdUtf8, t.Sequence));
        }

        return size;
    }

    private static int SequenceSize(byte[] id, long sequence) => ProtoWriter.DelimitedSize(id.Length) + ProtoWriter.Int64FieldSize(sequence);

    private static void WriteSequence(ref ProtoWriter w, byte[] id, long sequence)
    {
        w.Delimited(DeliveriesTag, SequenceSize(id, sequence));
        w.Bytes(SubscriptionIdTag, id);
        w.Int64(SequenceTag, sequence);
    }

    private static int EntrySize(byte[] key, string value) =>
        ProtoWriter.DelimitedSize(ProtoWriter.DelimitedSize(key.Length) + ProtoWriter.StringFieldSize(value));

    // Only counts that are not 0 are sent (as the batch was always built).
    private static int EntrySize(byte[] key, long value) =>
        value == 0 ? 0 : ProtoWriter.DelimitedSize(ProtoWriter.DelimitedSize(key.Length) + ProtoWriter.Int64FieldSize(value));

    private static void WriteEntry(ref ProtoWriter w, byte tag, byte[] key, string value)
    {
        w.Delimited(tag, ProtoWriter.DelimitedSize(key.Length) + ProtoWriter.StringFieldSize(value));
        w.Bytes(KeyTag, key);
        w.String(StringValueTag, value);
    }

    private static void WriteEntry(ref ProtoWriter w, byte tag, byte[] key, long value)
    {
        if (value != 0)
        {
            w.Delimited(tag, ProtoWriter.DelimitedSize(key.Length) + ProtoWriter.Int64FieldSize(value));
            w.Bytes(KeyTag, key);
            w.Int64(Int64ValueTag, value);
        }
    }
}
