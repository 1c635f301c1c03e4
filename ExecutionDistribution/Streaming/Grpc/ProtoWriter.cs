using System.Buffers;
using System.Numerics;
using System.Text;

namespace ExecutionDistribution.Streaming.Grpc;

/// <summary>
/// Writes protocol buffers' wire format by hand into an <see cref="IBufferWriter{T}"/>: tags, varints,
/// length-delimited strings and pre-encoded bytes. Used where the generated messages would encode the
/// same event's fields again for every stream (<see cref="DeliveryHead"/>, <see cref="ExecutionFrame"/>,
/// <see cref="MultiplexedFrame"/>); sizes are computed first with the static helpers, since gRPC
/// frames carry their length ahead of the message.
/// </summary>
internal ref struct ProtoWriter(IBufferWriter<byte> output)
{
    // What to ask of the output when the current span is used up: enough for a delivery's header
    // and most strings, without holding a large block for a small message.
    private const int ChunkHint = 512;

    private Span<byte> _span;
    private int _used;

    /// <summary>Bytes of <paramref name="value"/> as a varint.</summary>
    public static int VarintSize(ulong value) => (BitOperations.Log2(value | 1) / 7) + 1;

    /// <summary>Bytes of a length-delimited field of <paramref name="length"/> bytes, with a one-byte tag.</summary>
    public static int DelimitedSize(int length) => 1 + VarintSize((uint)length) + length;

    /// <summary>Bytes of a string field with a one-byte tag; proto3 leaves an empty string out.</summary>
    public static int StringFieldSize(string value) =>
        value.Length == 0 ? 0 : DelimitedSize(Encoding.UTF8.GetByteCount(value));

    /// <summary>Bytes of an int64 field with a one-byte tag; proto3 leaves 0 out.</summary>
    public static int Int64FieldSize(long value) => value == 0 ? 0 : 1 + VarintSize((ulong)value);

    /// <summary>Writes <paramref name="value"/> as a varint at the start of <paramref name="destination"/>; returns the bytes written.</summary>
    public static int WriteVarint(Span<byte> destination, ulong value)
    {
        var i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[i++] = (byte)value;
        return i;
    }

    /// <summary>A one-byte tag (field numbers 1-15).</summary>
    public void Tag(byte tag)
    {
        Ensure(1);
        _span[_used++] = tag;
    }

    /// <summary>A varint.</summary>
    public void Varint(ulong value)
    {
        Ensure(VarintSize(value));
        _used += WriteVarint(_span[_used..], value);
    }

    /// <summary>A tag and the length of the delimited field that follows.</summary>
    public void Delimited(byte tag, int length)
    {
        Tag(tag);
        Varint((uint)length);
    }

    /// <summary>A string field; nothing for an empty string (proto3).</summary>
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

    /// <summary>A bytes field of already encoded content (a string's UTF-8), written even when empty.</summary>
    public void Bytes(byte tag, ReadOnlySpan<byte> value)
    {
        Delimited(tag, value.Length);
        Raw(value);
    }

    /// <summary>An int64 field; nothing for 0 (proto3).</summary>
    public void Int64(byte tag, long value)
    {
        if (value != 0)
        {
            Tag(tag);
            Varint((ulong)value);
        }
    }

    /// <summary>Bytes already in the wire format (or a field's content after its length).</summary>
    public void Raw(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            if (_used == _span.Length)
            {
                Ensure(Math.Min(bytes.Length, ChunkHint));
            }

            var n = Math.Min(bytes.Length, _span.Length - _used);
            bytes[..n].CopyTo(_span[_used..]);
            _used += n;
            bytes = bytes[n..];
        }
    }

    /// <summary>Hands what was written to the output; call once at the end.</summary>
    public void Flush()
    {
        if (_used > 0)
        {
            output.Advance(_used);
        }

        _span = default;
        _used = 0;
    }

    private void Ensure(int bytes)
    {
        if (_span.Length - _used >= bytes)
        {
            return;
        }

        Flush();
        _span = output.GetSpan(Math.Max(bytes, ChunkHint));
    }
}
