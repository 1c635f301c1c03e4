using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace ExecutionDistribution.Contract;

/// <summary>
/// Writes events as the contract's JSON: snake_case, enumerations by wire name, timestamps as UTC
/// with six fractional digits. Each event is written once per shape and the bytes are shared
/// (<see cref="ExecutionEvent.EnvelopeJson"/>); the scratch buffer and writer are reused per thread.
/// </summary>
public static class ExecutionEventWriter
{
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? _buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? _writer;

    /// <summary>Serializes <paramref name="e"/> in the given shape into a new exact-size array.</summary>
    public static byte[] Write(ExecutionEvent e, EnvelopeShape shape) => WriteScratch(e, shape).ToArray();

    /// <summary>
    /// Serializes <paramref name="e"/> into this thread's scratch buffer: the span is valid until the
    /// thread's next call, for a caller that copies it where it will live.
    /// </summary>
    internal static ReadOnlySpan<byte> WriteScratch(ExecutionEvent e, EnvelopeShape shape)
    {
        var buffer = _buffer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        var writer = _writer ??= new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true });
        writer.Reset(buffer);
        WriteTo(writer, e, shape);
        writer.Flush();
        return buffer.WrittenSpan;
    }

    /// <summary>
    /// The same event in shape <paramref name="to"/>, from <paramref name="json"/> this writer wrote in
    /// the other shape: the shapes differ only in the routing object's name (<c>routing</c> or
    /// <c>distribution</c>), so this copies the bytes around it. The first <c>,"routing":{</c> is the
    /// name: a quote inside a string value is always written escaped, so the sequence cannot occur in
    /// the strings before it. Null when the name is not found (bytes not written in the other shape).
    /// </summary>
    public static byte[]? Reshape(ReadOnlySpan<byte> json, EnvelopeShape to)
    {
        var from = to == EnvelopeShape.Envelope ? ",\"distribution\":{"u8 : ",\"routing\":{"u8;
        var name = to == EnvelopeShape.Envelope ? ",\"routing\":{"u8 : ",\"distribution\":{"u8;
        var at = json.IndexOf(from);
        if (at < 0)
        {
            return null;
        }

        var result = new byte[json.Length - from.Length + name.Length];
        json[..at].CopyTo(result);
        name.CopyTo(result.AsSpan(at));
        json[(at + from.Length)..].CopyTo(result.AsSpan(at + name.Length));
        return result;
    }

    /// <summary>Writes <paramref name="e"/> as one JSON object to <paramref name="w"/>.</summary>
    public static void WriteTo(Utf8JsonWriter w, ExecutionEvent e, EnvelopeShape shape)
    {
        w.WriteStartObject();
        w.WriteString("event_id"u8, e.EventId);
        WriteTime(w, "timestamp"u8, e.Timestamp);
        w.WriteString("data_type"u8, WireNames.DataTypes[(int)e.DataType]);

        w.WritePropertyName(shape == EnvelopeShape.Envelope ? "routing"u8 : "distribution"u8);
        ContractTables.Routing.Write(w, e.Routing);
        w.WritePropertyName("data"u8);
        ContractTables.Payloads[(int)e.DataType].WriteObject(w, e.Data);
        w.WritePropertyName("metadata"u8);
        ContractTables.Metadata.Write(w, e.Metadata);
        w.WriteEndObject();
    }

    /// <summary>Writes a UTC timestamp with exactly six fractional digits and a trailing Z.</summary>
    public static void WriteTime(Utf8JsonWriter w, ReadOnlySpan<byte> name, DateTime utc)
    {
        Span<byte> text = stackalloc byte[Timestamps.WireLength];
        Timestamps.FormatUtf8(utc, text);
        w.WriteString(name, text);
    }
}
