using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Core;

/// <summary>
/// A subscription pattern over segmented names, AMQP topic-exchange style:
/// <c>*</c> matches exactly one segment, <c>#</c> matches zero or more segments, any other segment
/// matches itself (case-sensitive). Routing keys are dot-separated (<c>AAPL.fill.complete</c>);
/// topics are slash-separated (<c>execution/fills/processed</c>).
/// </summary>
/// <example><c>AAPL.#</c> matches <c>AAPL</c>, <c>AAPL.fill</c> and <c>AAPL.fill.complete</c>; <c>*.fill.*</c> matches <c>MSFT.fill.partial</c> only.</example>
public sealed class TopicPattern
{
    private TopicPattern(string text, char separator, string[] segments)
    {
        Text = text;
        Separator = separator;
        Segments = segments;
        MatchesEverything = segments is ["#"];
    }

    /// <summary>The pattern as written.</summary>
    public string Text { get; }

    /// <summary>The segment separator ('.' for routing keys, '/' for topics).</summary>
    public char Separator { get; }

    /// <summary>The pattern's segments.</summary>
    public IReadOnlyList<string> Segments { get; }

    /// <summary>True when the pattern matches every name (<c>#</c>).</summary>
    public bool MatchesEverything { get; }

    /// <summary>Parses a pattern; returns false with a reason when malformed.</summary>
    public static bool TryParse(string text, char separator, out TopicPattern? pattern, out string reason)
    {
        pattern = null;
        reason = string.Empty;
        if (string.IsNullOrWhiteSpace(text))
        {
            reason = "must not be empty";
            return false;
        }

        if (TextRules.HasNul(text))
        {
            reason = TextRules.NoNul;
            return false;
        }

        var segments = text.Split(separator);
        foreach (var segment in segments)
        {
            if (segment.Length == 0)
            {
                reason = $"must not have an empty segment (two '{separator}' in a row, or one at either end)";
                return false;
            }

            if (segment.Length > 1 && (segment.Contains('*', StringComparison.Ordinal) || segment.Contains('#', StringComparison.Ordinal)))
            {
                reason = "'*' and '#' must stand alone as a whole segment";
                return false;
            }
        }

        pattern = new TopicPattern(text, separator, segments);
        return true;
    }

    /// <summary>Does the pattern match <paramref name="name"/>? (Direct evaluation, used off the hot path.)</summary>
    public bool Matches(ReadOnlySpan<char> name)
    {
        if (MatchesEverything)
        {
            return true;
        }

        Span<Range> ranges = stackalloc Range[PatternTrie<object>.MaxSegments];
        var count = name.Split(ranges, Separator);
        if (count == ranges.Length && name[ranges[^1]].Contains(Separator))
        {
            return false;
        }

        return MatchFrom(0, name, ranges[..count], 0);
    }

    private bool MatchFrom(int p, ReadOnlySpan<char> name, ReadOnlySpan<Range> ranges, int k)
    {
        var segments = (string[])Segments;
        while (p < segments.Length)
        {
            var seg = segments[p];
            if (seg == "#")
            {
                // '#' absorbs zero or more segments: try every split point.
                for (var skip = k; skip <= ranges.Length; skip++)
                {
                    if (MatchFrom(p + 1, name, ranges, skip))
                    {
                        return true;
                    }
                }

                return false;
            }

            if (k >= ranges.Length)
            {
                return false;
            }

            if (seg != "*" && !name[ranges[k]].SequenceEqual(seg))
            {
                return false;
            }

            p++;
            k++;
        }

        return k == ranges.Length;
    }

    /// <inheritdoc />
    public override string ToString() => Text;
}

/// <summary>
/// A trie of <see cref="TopicPattern"/>s resolving a name to every value whose pattern matches it.
/// Kept by the routing index (values added and removed as subscribers come and go); matching walks the name's segments, branching on exact,
/// <c>*</c> and <c>#</c> children. Results are cached per name by <see cref="RoutingIndex"/>.
/// </summary>
internal sealed class PatternTrie<T>
    where T : class
{
    /// <summary>Names with more segments are not matched (a routing key has a handful).</summary>
    public const int MaxSegments = 32;

    private readonly Node _root = new();
    private readonly char _separator;

    public PatternTrie(char separator) => _separator = separator;

    public bool IsEmpty => _root.IsEmpty;

    public void Add(TopicPattern pattern, T value)
    {
        var node = _root;
        foreach (var segment in pattern.Segments)
        {
            node = segment switch
            {
                "*" => node.Star ??= new Node(),
                "#" => node.Hash ??= new Node(),
                _ => node.Exact.TryGetValue(segment, out var child) ? child : node.Exact[segment] = new Node(),
            };
        }

        node.Values.Add(value);
    }

    /// <summary>Removes one entry of <paramref name="value"/> under <paramref name="pattern"/>, and the nodes left empty.</summary>
    public bool Remove(TopicPattern pattern, T value) => Remove(_root, pattern.Segments, 0, value);

    /// <summary>Adds every value whose pattern matches <paramref name="name"/> to <paramref name="results"/>.</summary>
    public void Match(ReadOnlySpan<char> name, HashSet<T> results)
    {
        Span<Range> ranges = stackalloc Range[MaxSegments];
        var count = name.Split(ranges, _separator);
        if (count == ranges.Length && name[ranges[^1]].Contains(_separator))
        {
            return;
        }

        Walk(_root, name, ranges[..count], 0, results);
    }

    private static void Walk(Node node, ReadOnlySpan<char> name, ReadOnlySpan<Range> ranges, int k, HashSet<T> results)
    {
        if (node.Hash is { } hash)
        {
            // '#' matches zero or more segments.
            for (var skip = k; skip <= ranges.Length; skip++)
            {
                Walk(hash, name, ranges, skip, results);
            }
        }

        if (k == ranges.Length)
        {
            foreach (var value in node.Values)
            {
                results.Add(value);
            }

            return;
        }

        if (node.Star is { } star)
        {
            Walk(star, name, ranges, k + 1, results);
        }

        if (node.Exact.Count > 0 && node.ExactLookup.TryGetValue(name[ranges[k]], out var child))
        {
            Walk(child, name, ranges, k + 1, results);
        }
    }

    private static bool Remove(Node node, IReadOnlyList<string> segments, int k, T value)
    {
        if (k == segments.Count)
        {
            var at = node.Values.FindIndex(v => ReferenceEquals(v, value));
            if (at < 0)
            {
                return false;
            }

            node.Values.RemoveAt(at);
            return true;
        }

        var segment = segments[k];
        var child = segment switch
        {
            "*" => node.Star,
            "#" => node.Hash,
            _ => node.Exact.GetValueOrDefault(segment),
        };
        if (child is null || !Remove(child, segments, k + 1, value))
        {
            return false;
        }

        if (child.IsEmpty)
        {
            switch (segment)
            {
                case "*":
                    node.Star = null;
                    break;
                case "#":
                    node.Hash = null;
                    break;
                default:
                    node.Exact.Remove(segment);
                    break;
            }
        }

        return true;
    }

    private sealed class Node
    {
        private Dictionary<string, Node>.AlternateLookup<ReadOnlySpan<char>>? _lookup;

        public Dictionary<string, Node> Exact { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, Node>.AlternateLookup<ReadOnlySpan<char>> ExactLookup =>
            _lookup ??= Exact.GetAlternateLookup<ReadOnlySpan<char>>();

        public Node? Star { get; set; }

        public Node? Hash { get; set; }

        public List<T> Values { get; } = [];

        public bool IsEmpty => Values.Count == 0 && Exact.Count == 0 && Star is null && Hash is null;
    }
}
