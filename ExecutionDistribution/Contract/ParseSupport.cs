using System.Globalization;
using System.Text.Json;

namespace ExecutionDistribution.Contract;

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
