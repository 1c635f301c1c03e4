using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Streaming.Grpc;

/// <summary>
/// An event's part of a <c>Delivery</c> or <c>TaggedEvent</c> message, encoded once per event and
/// shared by every stream that sends it: fields 2-4 (<c>event_id</c>, <c>data_type</c>,
/// <c>order_id</c>, the same numbers in both messages), then field 5's tag and length. The
/// envelope's JSON bytes (<see cref="ExecutionEvent.EnvelopeJson"/>) follow it on the wire and are
/// copied from the core's buffer, never held twice. A stream adds only what is its own: the
/// sequence number (<c>Delivery</c>) or the subscription tags (<c>TaggedEvent</c>).
/// </summary>
internal static class DeliveryHead
{
    // Field tags: (number << 3) | wire type, wire type 2 = length-delimited.
    private const byte EventIdTag = (2 << 3) | 2;
    private const byte DataTypeTag = (3 << 3) | 2;
    private const byte OrderIdTag = (4 << 3) | 2;
    private const byte EventJsonTag = (5 << 3) | 2;

    /// <summary>The head of <paramref name="e"/>, encoded by the first stream that asks.</summary>
    public static byte[] Of(ExecutionEvent e) =>
        e.ProtobufHead ?? Interlocked.CompareExchange(ref e.ProtobufHead, Encode(e), null) ?? e.ProtobufHead;

    private static byte[] Encode(ExecutionEvent e)
    {
        var dataType = WireNames.DataTypes[(int)e.DataType];
        var orderId = e.OrderId ?? string.Empty;
        var json = e.EnvelopeJson.Length;
        var size = ProtoWriter.StringFieldSize(e.EventId) + ProtoWriter.StringFieldSize(dataType) + ProtoWriter.StringFieldSize(orderId)
            + 1 + ProtoWriter.VarintSize((uint)json);
        var head = new byte[size];
        var buffer = new FixedBuffer(head);
        var w = new ProtoWriter(buffer);
        w.String(EventIdTag, e.EventId);
        w.String(DataTypeTag, dataType);
        w.String(OrderIdTag, orderId);
        w.Delimited(EventJsonTag, json);
        w.Flush();
        return head;
    }

    /// <summary>Bytes of a message whose content is <paramref name="e"/>'s head and JSON plus <paramref name="own"/> bytes of the stream's fields.</summary>
    public static int MessageSize(ExecutionEvent e, int own) => own + Of(e).Length + e.EnvelopeJson.Length;

    /// <summary>Writes <paramref name="e"/>'s head and JSON (after the stream's own fields).</summary>
    public static void Write(ref ProtoWriter w, ExecutionEvent e)
    {
        w.Raw(Of(e));
        w.Raw(e.EnvelopeJson.Span);
    }

    // An IBufferWriter over an array of the exact size, for encoding the head once.
    private sealed class FixedBuffer(byte[] array) : System.Buffers.IBufferWriter<byte>
    {
        private int _written;

        public void Advance(int count) => _written += count;

        public Memory<byte> GetMemory(int sizeHint = 0) => array.AsMemory(_written);

        public Span<byte> GetSpan(int sizeHint = 0) => array.AsSpan(_written);
    }
}
