using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Numerics;
using System.Text;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;

namespace ExecutionDistribution.Streaming.Grpc;

/// <summary>
/// Writes a call's messages of events (<c>ExecutionMessage</c> with <c>EventBatch</c>,
/// <c>MultiplexedMessage</c> with <c>MultiplexedBatch</c>) straight into its response body as gRPC
/// frames them, byte for byte what protobuf writes for the same message (EventFramesTests); every
/// other message goes through the generated classes and the call's stream writer.
/// </summary>
/// <remarks>
/// Why by hand: in an alternated A/B of W3 gRPC the generated messages, even reused and written into
/// the body, cost 9-22% more server CPU per delivery and doubled p99 at 800,000 deliveries/s (docs/benchmarks.md).
/// Each size is computed once (protobuf recomputes nested sizes per level) and the event's JSON bytes are copied as they are.
/// One instance per call; one writer at a time.
/// </remarks>
internal sealed class EventFrames
{
    // Tags: (field number << 3) | wire type (0 varint, 2 length-delimited).
    private const byte Field1 = (1 << 3) | 2;
    private const byte Field2 = (2 << 3) | 2;
    private const byte Field3 = (3 << 3) | 2;
    private const byte Field4 = (4 << 3) | 2;
    private const byte Field5 = (5 << 3) | 2;
    private const byte Varint1 = 1 << 3;
    private const byte Varint2 = 2 << 3;
    private const byte Varint3 = 3 << 3;

    // Sizes of the deliveries (or tagged events) of the message being written, computed once.
    private int[] _sizes = new int[64];

    /// <summary>
    /// <c>ExecutionMessage { subscription_id = 1; events = 2 { deliveries = 1 { sequence = 1; event_id = 2;
    /// data_type = 3; order_id = 4; event_json = 5 }; dropped = 2; lost_positions = 3 }; resume_token = 4 }</c>.
    /// </summary>
    public ValueTask WriteEvents(PipeWriter body, string subscriptionId, string resumeToken, DeliveryBatch batch)
    {
        var deliveries = batch.Deliveries;
        var sizes = Sizes(deliveries.Length);
        var batchSize = Int64Size(batch.Dropped) + Int64Size(batch.LostPositions);
        for (var i = 0; i < deliveries.Length; i++)
        {
            sizes[i] = Int64Size(deliveries[i].Sequence) + EventSize(deliveries[i].Event);
            batchSize += DelimitedSize(sizes[i]);
        }

        var w = new Writer(body, StringSize(subscriptionId) + DelimitedSize(batchSize) + StringSize(resumeToken));
        w.String(Field1, subscriptionId);
        w.Delimited(Field2, batchSize);
        for (var i = 0; i < deliveries.Length; i++)
        {
            w.Delimited(Field1, sizes[i]);
            w.Int64(Varint1, deliveries[i].Sequence);
            w.Event(deliveries[i].Event);
        }

        w.Int64(Varint2, batch.Dropped);
        w.Int64(Varint3, batch.LostPositions);
        w.String(Field4, resumeToken);
        return w.Flush();
    }

    /// <summary>
    /// <c>MultiplexedMessage { events = 1 { events = 1 { deliveries = 1 { subscription_id = 1; sequence = 2 };
    /// event_id = 2; data_type = 3; order_id = 4; event_json = 5 }; resume_tokens = 2; dropped = 3;
    /// lost_positions = 4 } }</c> of what <paramref name="reader"/> collected from <paramref name="members"/>:
    /// each event once, in log order, with every subscription that takes it.
    /// </summary>
    public ValueTask WriteLive(PipeWriter body, StreamMember[] members, MultiplexedReader reader)
    {
        var tags = reader.Collect(members);
        var sizes = Sizes(tags.Length);
        var events = 0;
        var batchSize = 0;
        for (var i = 0; i < tags.Length; events++)
        {
            var e = tags[i].Event;
            var size = EventSize(e);
            for (; i < tags.Length && tags[i].Event == e; i++)
            {
                size += DelimitedSize(SequenceSize(members[tags[i].Member].IdUtf8, tags[i].Sequence));
            }

            sizes[events] = size;
            batchSize += DelimitedSize(size);
        }

        foreach (var m in members)
        {
            if (m.HasBatch)
            {
                batchSize += DelimitedSize(DelimitedSize(m.IdUtf8.Length) + StringSize(m.ResumeToken)) + EntrySize(m.IdUtf8, m.Dropped) + EntrySize(m.IdUtf8, m.Lost);
            }
        }

        var w = new Writer(body, DelimitedSize(batchSize));
        w.Delimited(Field1, batchSize);
        for (int i = 0, k = 0; i < tags.Length; k++)
        {
            var e = tags[i].Event;
            w.Delimited(Field1, sizes[k]);
            for (; i < tags.Length && tags[i].Event == e; i++)
            {
                var id = members[tags[i].Member].IdUtf8;
                w.Delimited(Field1, SequenceSize(id, tags[i].Sequence));
                w.Bytes(Field1, id);
                w.Int64(Varint2, tags[i].Sequence);
            }

            w.Event(e);
        }

        // As protobuf writes maps: each field's entries together.
        foreach (var m in members)
        {
            if (m.HasBatch)
            {
                w.Delimited(Field2, DelimitedSize(m.IdUtf8.Length) + StringSize(m.ResumeToken));
                w.Bytes(Field1, m.IdUtf8);
                w.String(Field2, m.ResumeToken);
            }
        }

        WriteEntries(ref w, Field3, members, static m => m.Dropped);
        WriteEntries(ref w, Field4, members, static m => m.Lost);
        reader.Clear();
        return w.Flush();
    }

    private int[] Sizes(int count) => _sizes.Length >= count ? _sizes : _sizes = new int[BitOperations.RoundUpToPowerOf2((uint)count)];

    private static void WriteEntries(ref Writer w, byte tag, StreamMember[] members, Func<StreamMember, long> count)
    {
        foreach (var m in members)
        {
            if (m.HasBatch && count(m) is var n && n != 0)
            {
                w.Delimited(tag, DelimitedSize(m.IdUtf8.Length) + Int64Size(n));
                w.Bytes(Field1, m.IdUtf8);
                w.Int64(Varint2, n);
            }
        }
    }

    // event_id = 2, data_type = 3, order_id = 4, event_json = 5: the same numbers in Delivery and TaggedEvent.
    private static int EventSize(ExecutionEvent e) =>
        StringSize(e.EventId) + StringSize(WireNames.DataTypes[(int)e.DataType]) + StringSize(e.OrderId ?? string.Empty) + DelimitedSize(e.EnvelopeJson.Length);

    private static int SequenceSize(byte[] id, long sequence) => DelimitedSize(id.Length) + Int64Size(sequence);

    private static int EntrySize(byte[] key, long value) => value == 0 ? 0 : DelimitedSize(DelimitedSize(key.Length) + Int64Size(value));

    private static int VarintSize(ulong value) => (BitOperations.Log2(value | 1) / 7) + 1;

    private static int DelimitedSize(int length) => 1 + VarintSize((uint)length) + length;

    // proto3 leaves out an empty string and a zero.
    private static int StringSize(string value) => value.Length == 0 ? 0 : DelimitedSize(Encoding.UTF8.GetByteCount(value));

    private static int Int64Size(long value) => value == 0 ? 0 : 1 + VarintSize((ulong)value);

    /// <summary>Writes one gRPC frame (not compressed, its length big-endian) of a known size into the body, a chunk at a time.</summary>
    private ref struct Writer
    {
        // What to ask of the body when a chunk is used up: enough for a delivery's fields and most strings.
        private const int Chunk = 512;

        private readonly PipeWriter _body;
        private Span<byte> _span;
        private int _used;

        public Writer(PipeWriter body, int messageSize)
        {
            _body = body;
            _span = body.GetSpan(Chunk);
            _span[0] = 0;
            BinaryPrimitives.WriteUInt32BigEndian(_span[1..], (uint)messageSize);
            _used = 5;
        }

        public void Delimited(byte tag, int length)
        {
            Ensure(6);
            _span[_used++] = tag;
            Varint((uint)length);
        }

        public void Int64(byte tag, long value)
        {
            if (value != 0)
            {
                Ensure(11);
                _span[_used++] = tag;
                Varint((ulong)value);
            }
        }

        public void String(byte tag, string value)
        {
            if (value.Length == 0)
            {
                return;
            }

            var length = Encoding.UTF8.GetByteCount(value);
            Delimited(tag, length);
            Ensure(length);
            _used += Encoding.UTF8.GetBytes(value, _span[_used..]);
        }

        public void Bytes(byte tag, ReadOnlySpan<byte> value)
        {
            Delimited(tag, value.Length);
            Raw(value);
        }

        public void Event(ExecutionEvent e)
        {
            String(Field2, e.EventId);
            String(Field3, WireNames.DataTypes[(int)e.DataType]);
            String(Field4, e.OrderId ?? string.Empty);
            Bytes(Field5, e.EnvelopeJson.Span);
        }

        /// <summary>Hands what was written to the body and flushes; no allocation when the flush completes at once.</summary>
        public ValueTask Flush()
        {
            _body.Advance(_used);
            var flush = _body.FlushAsync();
            if (flush.IsCompletedSuccessfully)
            {
                _ = flush.Result;
                return default;
            }

            return new ValueTask(flush.AsTask());
        }

        private void Varint(ulong value)
        {
            while (value >= 0x80)
            {
                _span[_used++] = (byte)(value | 0x80);
                value >>= 7;
            }

            _span[_used++] = (byte)value;
        }

        private void Raw(ReadOnlySpan<byte> bytes)
        {
            while (!bytes.IsEmpty)
            {
                Ensure(Math.Min(bytes.Length, Chunk));
                var n = Math.Min(bytes.Length, _span.Length - _used);
                bytes[..n].CopyTo(_span[_used..]);
                _used += n;
                bytes = bytes[n..];
            }
        }

        private void Ensure(int bytes)
        {
            if (_span.Length - _used >= bytes)
            {
                return;
            }

            _body.Advance(_used);
            _span = _body.GetSpan(Math.Max(bytes, Chunk));
            _used = 0;
        }
    }
}
