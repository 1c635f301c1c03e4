using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ExecutionDistribution.Contract;

/// <summary>
/// Writes every DateTime of the APIs' JSON in the contract's one format (UTC, six fractional digits,
/// <c>Z</c>) and reads ISO 8601 with an offset. The event writer does the same by hand.
/// </summary>
public sealed class UtcMicrosecondsConverter : JsonConverter<DateTime>
{
    /// <inheritdoc />
    public override DateTime Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        Timestamps.ToUtcMicroseconds(reader.GetDateTimeOffset().UtcDateTime);

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, DateTime value, JsonSerializerOptions options)
    {
        Span<char> text = stackalloc char[32];
        Timestamps.ToUtcMicroseconds(value).TryFormat(text, out var written, Timestamps.WireFormat, CultureInfo.InvariantCulture);
        writer.WriteStringValue(text[..written]);
    }
}
