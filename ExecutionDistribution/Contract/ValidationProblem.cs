
namespace ExecutionDistribution.Contract;

/// <summary>One thing wrong with an input, named by its JSON path (<c>data.quantity</c>, <c>[2].routing.topic</c>).</summary>
/// <param name="Path">Dot path of the field; empty for the document itself.</param>
/// <param name="Message">What is wrong, in words a producer can act on.</param>
public readonly record struct ValidationProblem(string Path, string Message)
{
    /// <inheritdoc />
    public override string ToString() => Path.Length == 0 ? Message : $"{Path}: {Message}";
}

/// <summary>The outcome of parsing one event: the event, or every problem found.</summary>
/// <param name="Event">The event when valid.</param>
/// <param name="Problems">Every problem found; empty when valid.</param>
public readonly record struct EventParseResult(ExecutionEvent? Event, IReadOnlyList<ValidationProblem> Problems)
{
    /// <summary>True when the event parsed and validated.</summary>
    public bool IsValid => Event is not null;
}

/// <summary>
/// Text every input must satisfy to be stored: PostgreSQL's <c>text</c> and <c>jsonb</c> cannot hold
/// the NUL character, so a value with one would fail every write it took part in (an audit batch, an
/// order upsert, a subscription row). Only a JSON escape (<c>\u0000</c>) or a protobuf string can carry it.
/// </summary>
internal static class TextRules
{
    /// <summary>The problem's message.</summary>
    public const string NoNul = "must not contain the NUL character (\\u0000)";

    /// <summary>The message of <see cref="IsPathSegmentText"/>'s problem.</summary>
    public const string PathSegmentOnly = "may hold only ASCII letters, digits and - . _ ~ : @ ! $ & ' ( ) * + , ; = (it appears unescaped in URL paths and headers)";

    /// <summary>The message of <see cref="IsPrintableAscii"/>'s problem.</summary>
    public const string PrintableAsciiOnly = "may hold only printable ASCII characters, without spaces (it appears in URL paths and headers)";

    /// <summary>
    /// True when every character may stand unescaped in a URL path segment (RFC 3986 <c>pchar</c>
    /// without percent-encoding): an id made of these reads the same in a route, a Location header and a log.
    /// </summary>
    public static bool IsPathSegmentText(ReadOnlySpan<char> value)
    {
        foreach (var c in value)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '.' or '_' or '~' or ':' or '@' or '!' or '$' or '&' or '\'' or '(' or ')' or '*' or '+' or ',' or ';' or '='))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>True when every character is printable ASCII other than the space (names such as <c>execution/fills/processed</c>).</summary>
    public static bool IsPrintableAscii(ReadOnlySpan<char> value)
    {
        foreach (var c in value)
        {
            if (c is < '!' or > '~')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>True when <paramref name="value"/> holds a NUL character.</summary>
    public static bool HasNul(string? value) => value is not null && value.Contains('\0', StringComparison.Ordinal);

    /// <summary>Only what a Kafka topic name may hold: ASCII letters and digits, '.', '_' and '-'.</summary>
    public static bool IsKafkaTopicText(ReadOnlySpan<char> value)
    {
        foreach (var c in value)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }
}
