using System.Globalization;
using System.Text.Json;

namespace ExecutionDistribution.Contract;

/// <summary>
/// Parses and validates the JSON envelope of the contract (docs/contract.md) in one pass over the
/// UTF-8 bytes. Unlike a serializer it does not stop at the first problem: it reports every problem
/// with its field path, so a producer can fix a record in one round trip.
/// </summary>
/// <remarks>
/// Accepts both shapes of the spec: <c>routing</c> (the <c>ExecutionDistribution</c> envelope) and
/// <c>distribution</c> (the <c>execution_distributed</c> event). When <c>data_type</c> is absent the
/// payload is read as a FILL_NOTIFICATION, since the spec's <c>execution_distributed</c> example
/// carries <c>ExecutionData</c>, which is a fill. Unknown properties are ignored (forward compatible).
/// </remarks>
public static class ExecutionEventParser
{
    /// <summary>Longest event id (the audit table's <c>event_id</c> column).</summary>
    public const int MaxEventIdLength = 100;

    /// <summary>Longest topic and routing key (the <c>topic_name</c> and <c>routing_key</c> columns).</summary>
    public const int MaxTopicLength = 200;

    /// <summary>Longest workflow or service name (the <c>subscriber_workflow</c> column).</summary>
    public const int MaxNameLength = 100;

    /// <summary>Longest id inside a payload (order, fill, report ids).</summary>
    public const int MaxIdLength = 100;

    /// <summary>Longest free text (reasons, report text).</summary>
    public const int MaxTextLength = 1000;

    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 16, CommentHandling = JsonCommentHandling.Disallow };

    /// <summary>Parses one event (a JSON object).</summary>
    /// <param name="utf8Json">The UTF-8 JSON of one event.</param>
    /// <param name="pathPrefix">Prefix for problem paths, e.g. <c>[3]</c> for the fourth item of a batch.</param>
    public static EventParseResult Parse(ReadOnlySpan<byte> utf8Json, string pathPrefix = "")
    {
        var context = new ParseContext(pathPrefix);
        ExecutionEvent? parsed = null;
        try
        {
            parsed = ParseEnvelope(utf8Json, context);
        }
        catch (JsonException ex)
        {
            context.Fail(string.Empty, $"malformed JSON at line {(ex.LineNumber ?? 0) + 1}, byte {(ex.BytePositionInLine ?? 0) + 1}");
        }
        catch (InvalidOperationException ex) when (ex.InnerException is System.Text.DecoderFallbackException or null)
        {
            // Text the reader cannot turn into a string, such as an escaped lone surrogate ("\ud800").
            context.Fail(string.Empty, $"a string is not valid text: {ex.Message}");
        }

        return context.HasProblems ? new EventParseResult(null, context.Problems) : new EventParseResult(parsed, []);
    }

    /// <summary>
    /// Parses a request body holding one event (an object) or a batch (an array of objects).
    /// A batch is all or nothing: the result has every event only when every item is valid.
    /// </summary>
    public static BatchParseResult ParseBatch(ReadOnlySpan<byte> utf8Json)
    {
        var reader = new Utf8JsonReader(utf8Json, ReaderOptions);
        try
        {
            if (!reader.Read())
            {
                return BatchParseResult.Failed(new ValidationProblem(string.Empty, "the body is empty; send an event object or an array of them"));
            }

            if (reader.TokenType == JsonTokenType.StartObject)
            {
                var single = Parse(utf8Json);
                return single.IsValid ? new BatchParseResult([single.Event!], []) : new BatchParseResult([], single.Problems);
            }

            if (reader.TokenType != JsonTokenType.StartArray)
            {
                return BatchParseResult.Failed(new ValidationProblem(string.Empty, "the body must be an event object or an array of event objects"));
            }

            var events = new List<ExecutionEvent>();
            var problems = new List<ValidationProblem>();
            var index = 0;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                var end = (int)reader.BytesConsumed;
                var item = Parse(utf8Json[start..end], $"[{index}]");
                if (item.IsValid)
                {
                    events.Add(item.Event!);
                }
                else
                {
                    problems.AddRange(item.Problems);
                }

                index++;
            }

            // Reading past the closing bracket surfaces trailing garbage as a JsonException.
            reader.Read();
            if (index == 0)
            {
                problems.Add(new ValidationProblem(string.Empty, "the batch is empty"));
            }

            return problems.Count > 0 ? new BatchParseResult([], problems) : new BatchParseResult(events, []);
        }
        catch (JsonException ex)
        {
            return BatchParseResult.Failed(new ValidationProblem(string.Empty,
                $"malformed JSON at line {(ex.LineNumber ?? 0) + 1}, byte {(ex.BytePositionInLine ?? 0) + 1}"));
        }
    }

    private static ExecutionEvent? ParseEnvelope(ReadOnlySpan<byte> json, ParseContext c)
    {
        var r = new Utf8JsonReader(json, ReaderOptions);
        if (!r.Read() || r.TokenType != JsonTokenType.StartObject)
        {
            c.Fail(string.Empty, "the event must be a JSON object");
            return null;
        }

        string? eventId = null;
        DateTime? timestamp = null;
        ExecutionDataType? dataType = null;
        var dataTypeInvalid = false;
        int dataStart = -1, dataEnd = -1;
        var dataSeen = false;
        ExecutionPayload? parsedData = null;
        RoutingInfo? routing = null;
        var routingSeen = false;
        ExecutionMetadata? metadata = null;
        var metadataSeen = false;

        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("event_id"u8))
            {
                r.Read();
                eventId = Fields.Id(ref r, c, string.Empty, "event_id", MaxEventIdLength);
            }
            else if (r.ValueTextEquals("timestamp"u8))
            {
                r.Read();
                timestamp = Fields.Timestamp(ref r, c, string.Empty, "timestamp");
            }
            else if (r.ValueTextEquals("data_type"u8))
            {
                r.Read();
                var index = Fields.Enum(ref r, c, string.Empty, "data_type", WireNames.DataTypes);
                dataType = index >= 0 ? (ExecutionDataType)index : null;
                dataTypeInvalid = index < 0 && r.TokenType != JsonTokenType.Null;
            }
            else if (r.ValueTextEquals("data"u8))
            {
                r.Read();
                if (r.TokenType == JsonTokenType.StartObject && dataType is { } knownType)
                {
                    // data_type came first (as we write it): parse the payload in place, in one pass.
                    parsedData = PayloadParser.Parse(ref r, c, knownType);
                    dataSeen = true;
                }
                else if (r.TokenType == JsonTokenType.StartObject)
                {
                    // data first: remember where it is and parse it once data_type is known.
                    dataStart = (int)r.TokenStartIndex;
                    r.Skip();
                    dataEnd = (int)r.BytesConsumed;
                    dataSeen = true;
                }
                else
                {
                    c.Fail("data", "must be an object");
                    r.Skip();
                }
            }
            else if (r.ValueTextEquals("routing"u8) || r.ValueTextEquals("distribution"u8))
            {
                var name = r.ValueTextEquals("routing"u8) ? "routing" : "distribution";
                r.Read();
                routingSeen = true;
                routing = ParseRouting(ref r, c, name);
            }
            else if (r.ValueTextEquals("metadata"u8))
            {
                r.Read();
                metadataSeen = true;
                metadata = ParseMetadata(ref r, c);
            }
            else
            {
                r.Read();
                r.Skip();
            }
        }

        // Reading past the closing brace surfaces trailing garbage as a JsonException.
        r.Read();

        if (eventId is null)
        {
            c.Required(string.Empty, "event_id");
        }

        if (timestamp is null)
        {
            c.Required(string.Empty, "timestamp");
        }

        if (!routingSeen)
        {
            c.Fail("routing", "is required (or 'distribution', as in execution_distributed events)");
        }

        if (!metadataSeen)
        {
            c.Required(string.Empty, "metadata");
        }

        var data = parsedData;
        if (!dataSeen)
        {
            c.Required(string.Empty, "data");
        }
        else if (dataStart >= 0 && !dataTypeInvalid)
        {
            var type = dataType ?? ExecutionDataType.FillNotification;
            var dr = new Utf8JsonReader(json[dataStart..dataEnd], ReaderOptions);
            dr.Read();
            data = PayloadParser.Parse(ref dr, c, type);
        }

        if (c.HasProblems)
        {
            return null;
        }

        return new ExecutionEvent(eventId!, timestamp!.Value, data!.DataType, data, routing!, metadata!);
    }

    private static RoutingInfo? ParseRouting(ref Utf8JsonReader r, ParseContext c, string parent)
    {
        if (!Fields.ExpectObject(ref r, c, parent))
        {
            return null;
        }

        string? topic = null, routingKey = null;
        string[] workflows = [];
        var priority = 5;
        var guarantee = DeliveryGuarantee.AtLeastOnce;
        var problemsBefore = c.Count;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("topic"u8))
            {
                r.Read();
                topic = Fields.Symbol(ref r, c, parent, "topic", MaxTopicLength);
            }
            else if (r.ValueTextEquals("routing_key"u8))
            {
                r.Read();
                routingKey = Fields.Symbol(ref r, c, parent, "routing_key", MaxTopicLength);
                if (routingKey is not null && !RoutingKeys.IsValidKey(routingKey, out var why))
                {
                    c.Fail(parent, "routing_key", why);
                }
            }
            else if (r.ValueTextEquals("target_workflows"u8))
            {
                r.Read();
                workflows = Fields.SymbolArray(ref r, c, parent, "target_workflows", MaxNameLength) ?? [];
                for (var i = 0; i < workflows.Length; i++)
                {
                    // Each names the Kafka topic its copy of the output event goes to (Kafka:OutputTopicTemplate):
                    // a broker refuses any other character, and that copy could never be published.
                    if (!TextRules.IsKafkaTopicText(workflows[i]))
                    {
                        c.Fail(parent, $"target_workflows[{i}]", "must hold only letters, digits, '.', '_' and '-' (it names a Kafka topic, execution.distributed.{workflow})");
                    }
                }
            }
            else if (r.ValueTextEquals("priority"u8))
            {
                r.Read();
                var p = Fields.Int(ref r, c, parent, "priority");
                if (p is < 1 or > 9)
                {
                    c.Fail(parent, "priority", "must be between 1 (most urgent) and 9");
                }
                else if (p is not null)
                {
                    priority = p.Value;
                }
            }
            else if (r.ValueTextEquals("delivery_guarantee"u8))
            {
                r.Read();
                var g = Fields.Enum(ref r, c, parent, "delivery_guarantee", WireNames.DeliveryGuarantees);
                if (g >= 0)
                {
                    guarantee = (DeliveryGuarantee)g;
                }
            }
            else
            {
                r.Read();
                r.Skip();
            }
        }

        if (topic is null)
        {
            c.Required(parent, "topic");
        }

        if (routingKey is null)
        {
            c.Required(parent, "routing_key");
        }

        return c.Count > problemsBefore ? null : new RoutingInfo(topic!, routingKey!, workflows, priority, guarantee);
    }

    private static ExecutionMetadata? ParseMetadata(ref Utf8JsonReader r, ParseContext c)
    {
        const string parent = "metadata";
        if (!Fields.ExpectObject(ref r, c, parent))
        {
            return null;
        }

        string? source = null, venue = null;
        bool latencySensitive = false, auditRequired = true;
        string[] flags = [];
        var problemsBefore = c.Count;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("source_service"u8))
            {
                r.Read();
                source = Fields.Symbol(ref r, c, parent, "source_service", MaxNameLength);
            }
            else if (r.ValueTextEquals("execution_venue"u8))
            {
                r.Read();
                venue = Fields.Symbol(ref r, c, parent, "execution_venue", MaxNameLength);
            }
            else if (r.ValueTextEquals("latency_sensitive"u8))
            {
                r.Read();
                latencySensitive = Fields.Bool(ref r, c, parent, "latency_sensitive") ?? false;
            }
            else if (r.ValueTextEquals("audit_required"u8))
            {
                r.Read();
                auditRequired = Fields.Bool(ref r, c, parent, "audit_required") ?? true;
            }
            else if (r.ValueTextEquals("compliance_flags"u8))
            {
                r.Read();
                flags = Fields.SymbolArray(ref r, c, parent, "compliance_flags", MaxNameLength) ?? [];
            }
            else
            {
                r.Read();
                r.Skip();
            }
        }

        if (source is null)
        {
            c.Required(parent, "source_service");
        }

        return c.Count > problemsBefore ? null : new ExecutionMetadata(source!, venue, latencySensitive, auditRequired, flags);
    }
}

/// <summary>The outcome of parsing a request body of one event or a batch.</summary>
/// <param name="Events">Every event, when all were valid; empty otherwise.</param>
/// <param name="Problems">Every problem of every item, paths prefixed with the item index.</param>
public readonly record struct BatchParseResult(IReadOnlyList<ExecutionEvent> Events, IReadOnlyList<ValidationProblem> Problems)
{
    /// <summary>True when every item was valid.</summary>
    public bool IsValid => Problems.Count == 0;

    internal static BatchParseResult Failed(ValidationProblem problem) => new([], [problem]);
}

/// <summary>Collects problems while parsing; allocates only when something is wrong.</summary>
internal sealed class ParseContext(string prefix)
{
    private List<ValidationProblem>? _problems;

    public bool HasProblems => _problems is { Count: > 0 };

    public int Count => _problems?.Count ?? 0;

    public IReadOnlyList<ValidationProblem> Problems => (IReadOnlyList<ValidationProblem>?)_problems ?? [];

    public void Fail(string path, string message)
    {
        var full = prefix.Length == 0 ? path : path.Length == 0 ? prefix : $"{prefix}.{path}";
        (_problems ??= []).Add(new ValidationProblem(full, message));
    }

    public void Fail(string parent, string name, string message) => Fail(Join(parent, name), message);

    /// <summary>Reports a missing field, unless the field already has a problem (a wrong type reads as absent).</summary>
    public void Required(string parent, string name)
    {
        if (!HasProblemAt(parent, name))
        {
            Fail(parent, name, "is required");
        }
    }

    public static string Join(string parent, string name) => parent.Length == 0 ? name : $"{parent}.{name}";

    /// <summary>True when a problem was already reported for the field (a wrong type), so "is required" is not added twice.</summary>
    public bool HasProblemAt(string parent, string name)
    {
        if (_problems is null)
        {
            return false;
        }

        var path = Join(parent, name);
        var full = prefix.Length == 0 ? path : $"{prefix}.{path}";
        foreach (var p in _problems)
        {
            if (p.Path == full)
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>Typed field readers: each reads the current value token, reports a wrong type, and skips it.</summary>
// The stack buffers below are always written before they are read (CopyString, transcoding), so the
// runtime's zeroing of them (up to 1 KB per call, several calls per event) is skipped.
[System.Runtime.CompilerServices.SkipLocalsInit]
internal static class Fields
{
    public static bool ExpectObject(ref Utf8JsonReader r, ParseContext c, string path)
    {
        if (r.TokenType == JsonTokenType.StartObject)
        {
            return true;
        }

        c.Fail(path, "must be an object");
        r.Skip();
        return false;
    }

    /// <summary>A high-cardinality id (allocated, never interned).</summary>
    public static string? Id(ref Utf8JsonReader r, ParseContext c, string parent, string name, int maxLength)
    {
        if (!IsString(ref r, c, parent, name))
        {
            return null;
        }

        var value = r.GetString()!;
        return CheckLength(value, c, parent, name, maxLength);
    }

    /// <summary>A low-cardinality symbol (instrument, venue, topic): interned.</summary>
    public static string? Symbol(ref Utf8JsonReader r, ParseContext c, string parent, string name, int maxLength)
    {
        if (!IsString(ref r, c, parent, name))
        {
            return null;
        }

        var byteLength = r.HasValueSequence ? (int)r.ValueSequence.Length : r.ValueSpan.Length;
        string value;
        if (!r.ValueIsEscaped && !r.HasValueSequence && byteLength <= StringTable.MaxLength)
        {
            // The common case: looked up by its UTF-8 bytes (checked by IsString), not transcoded once seen.
            value = StringTable.InternUtf8(r.ValueSpan);
        }
        else if (byteLength <= StringTable.MaxLength)
        {
            Span<char> chars = stackalloc char[StringTable.MaxLength];
            var n = r.CopyString(chars);
            value = StringTable.Intern(chars[..n]);
        }
        else
        {
            value = r.GetString()!;
        }

        return CheckLength(value, c, parent, name, maxLength);
    }

    /// <summary>
    /// A list of low-cardinality symbols (target workflows, compliance flags): the array itself is
    /// interned, so the same list on every event allocates nothing once seen. Problem paths
    /// (<c>name[i]</c>) are only formatted for a bad item.
    /// </summary>
    public static string[]? SymbolArray(ref Utf8JsonReader r, ParseContext c, string parent, string name, int maxLength)
    {
        if (r.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (r.TokenType != JsonTokenType.StartArray)
        {
            c.Fail(parent, name, "must be an array of strings");
            r.Skip();
            return null;
        }

        // The items, joined by a separator no symbol contains, are the key of the interned array.
        Span<char> key = stackalloc char[StringTable.MaxLength * 4];
        var keyLength = 0;
        var items = 0;
        List<string>? slow = null;
        while (r.Read() && r.TokenType != JsonTokenType.EndArray)
        {
            if (slow is null && TryAppendSymbol(ref r, key, ref keyLength, items, maxLength))
            {
                items++;
                continue;
            }

            // Escaped, long, empty, not a string, or a full key: the long way, with the problem's path.
            slow ??= SplitKey(key[..keyLength], items);
            if (Symbol(ref r, c, parent, $"{name}[{items}]", maxLength) is { } item)
            {
                slow.Add(item);
            }

            items++;
        }

        return slow is not null ? [.. slow] : items == 0 ? [] : StringTable.InternArray(key[..keyLength], ArraySeparator);
    }

    private const char ArraySeparator = '\u0001';

    // A short, unescaped, non-blank string item transcoded straight onto the key; false (key unchanged) otherwise.
    private static bool TryAppendSymbol(ref Utf8JsonReader r, scoped Span<char> key, ref int keyLength, int items, int maxLength)
    {
        if (r.TokenType != JsonTokenType.String || r.ValueIsEscaped || r.HasValueSequence || r.ValueSpan.Length is 0 or > StringTable.MaxLength)
        {
            return false;
        }

        var start = keyLength + (items > 0 ? 1 : 0);
        if (start + r.ValueSpan.Length > key.Length
            || System.Text.Unicode.Utf8.ToUtf16(r.ValueSpan, key[start..], out _, out var written) != System.Buffers.OperationStatus.Done)
        {
            return false;
        }

        var chars = key.Slice(start, written);
        if (chars.IsWhiteSpace() || written > maxLength || chars.Contains(ArraySeparator))
        {
            return false;
        }

        if (items > 0)
        {
            key[keyLength] = ArraySeparator;
        }

        keyLength = start + written;
        return true;
    }

    private static List<string> SplitKey(ReadOnlySpan<char> key, int items)
    {
        var list = new List<string>(items + 1);
        foreach (var range in key.Split(ArraySeparator))
        {
            if (items-- > 0)
            {
                list.Add(StringTable.Intern(key[range]));
            }
        }

        return list;
    }

    public static DateTime? Timestamp(ref Utf8JsonReader r, ParseContext c, string parent, string name)
    {
        if (!IsString(ref r, c, parent, name))
        {
            return null;
        }

        // Check the unescaped text: a producer's JSON writer may escape '+' as \u002B.
        Span<byte> text = stackalloc byte[64];
        var byteLength = r.HasValueSequence ? (int)r.ValueSequence.Length : r.ValueSpan.Length;
        if (byteLength > text.Length || !HasUtcOffset(text[..r.CopyString(text)]) || !r.TryGetDateTimeOffset(out var value))
        {
            c.Fail(parent, name, "must be an ISO 8601 timestamp with a UTC offset, e.g. 2025-06-21T10:00:00.000000Z");
            return null;
        }

        return Timestamps.ToUtcMicroseconds(value.UtcDateTime);
    }

    public static DateOnly? Date(ref Utf8JsonReader r, ParseContext c, string parent, string name)
    {
        if (!IsString(ref r, c, parent, name))
        {
            return null;
        }

        Span<char> chars = stackalloc char[32];
        var byteLength = r.HasValueSequence ? (int)r.ValueSequence.Length : r.ValueSpan.Length;
        if (byteLength > chars.Length
            || !DateOnly.TryParseExact(chars[..r.CopyString(chars)], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
        {
            c.Fail(parent, name, "must be a date as yyyy-MM-dd");
            return null;
        }

        return date;
    }

    public static decimal? Decimal(ref Utf8JsonReader r, ParseContext c, string parent, string name)
    {
        if (r.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (r.TokenType != JsonTokenType.Number)
        {
            c.Fail(parent, name, "must be a number");
            r.Skip();
            return null;
        }

        if (!r.TryGetDecimal(out var value))
        {
            c.Fail(parent, name, "is out of range");
            return null;
        }

        return value;
    }

    public static int? Int(ref Utf8JsonReader r, ParseContext c, string parent, string name)
    {
        if (r.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (r.TokenType != JsonTokenType.Number || !r.TryGetInt32(out var value))
        {
            c.Fail(parent, name, "must be an integer");
            r.Skip();
            return null;
        }

        return value;
    }

    public static bool? Bool(ref Utf8JsonReader r, ParseContext c, string parent, string name)
    {
        switch (r.TokenType)
        {
            case JsonTokenType.True:
                return true;
            case JsonTokenType.False:
                return false;
            case JsonTokenType.Null:
                return null;
            default:
                c.Fail(parent, name, "must be true or false");
                r.Skip();
                return null;
        }
    }

    /// <summary>Reads an enumeration by wire name; returns its index, or -1 (absent or invalid).</summary>
    public static int Enum(ref Utf8JsonReader r, ParseContext c, string parent, string name, string[] names)
    {
        if (!IsString(ref r, c, parent, name))
        {
            return -1;
        }

        Span<char> chars = stackalloc char[32];
        var byteLength = r.HasValueSequence ? (int)r.ValueSequence.Length : r.ValueSpan.Length;
        var index = byteLength > chars.Length ? -1
            : !r.ValueIsEscaped && !r.HasValueSequence ? WireNames.IndexOf(names, r.ValueSpan) // the names are ASCII: compared as bytes
            : WireNames.IndexOf(names, chars[..r.CopyString(chars)]);
        if (index < 0)
        {
            c.Fail(parent, name, $"must be one of {string.Join(", ", names)}");
        }

        return index;
    }

    private static bool IsString(ref Utf8JsonReader r, ParseContext c, string parent, string name)
    {
        if (r.TokenType == JsonTokenType.String)
        {
            // The reader does not check a string's UTF-8; reading an invalid one as text would throw.
            if (!r.HasValueSequence && !System.Text.Unicode.Utf8.IsValid(r.ValueSpan))
            {
                c.Fail(parent, name, "must be valid UTF-8");
                return false;
            }

            return true;
        }

        if (r.TokenType != JsonTokenType.Null)
        {
            c.Fail(parent, name, "must be a string");
            r.Skip();
        }

        return false;
    }

    private static string? CheckLength(string value, ParseContext c, string parent, string name, int maxLength)
    {
        if (value.Length == 0 || string.IsNullOrWhiteSpace(value))
        {
            c.Fail(parent, name, "must not be empty");
            return null;
        }

        if (value.Length > maxLength)
        {
            c.Fail(parent, name, $"must be at most {maxLength} characters");
            return null;
        }

        if (TextRules.HasNul(value))
        {
            c.Fail(parent, name, TextRules.NoNul);
            return null;
        }

        return value;
    }

    // 'Z' or a numeric offset (+hh:mm / -hh:mm) at the end: a timestamp without one is ambiguous.
    private static bool HasUtcOffset(ReadOnlySpan<byte> value) =>
        value.Length > 6 && (value[^1] is (byte)'Z' or (byte)'z' || (value[^6] is (byte)'+' or (byte)'-' && value[^3] == (byte)':'));
}
