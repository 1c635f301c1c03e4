using System.Collections.Concurrent;

namespace ExecutionDistribution.Contract;

/// <summary>
/// Interns the low-cardinality strings of the stream (instruments, venues, topics, routing keys,
/// workflows, currencies) so that parsing them allocates nothing once they have been seen, and so that
/// the routing index compares the same string instances. Bounded: past <see cref="MaxEntries"/> new
/// strings are returned uninterned (correct, only slower), so a hostile stream cannot grow it forever.
/// </summary>
internal static class StringTable
{
    /// <summary>Upper bound on interned strings; 65,536 covers every instrument, venue and routing key of a large book.</summary>
    public const int MaxEntries = 65_536;

    /// <summary>Longer strings are never interned (they are ids, not symbols).</summary>
    public const int MaxLength = 128;

    private static readonly ConcurrentDictionary<string, string> Table = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> Lookup =
        Table.GetAlternateLookup<ReadOnlySpan<char>>();

    private static int _count;

    /// <summary>Upper bound on interned symbol lists (target workflows, compliance flags).</summary>
    public const int MaxArrays = 4_096;

    private static readonly ConcurrentDictionary<string, string[]> Arrays = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, string[]>.AlternateLookup<ReadOnlySpan<char>> ArrayLookup =
        Arrays.GetAlternateLookup<ReadOnlySpan<char>>();

    private static int _arrayCount;

    /// <summary>
    /// The interned array of the symbols in <paramref name="key"/> (joined by <paramref name="separator"/>).
    /// Shared by every event that carries the same list: callers must never modify it.
    /// </summary>
    public static string[] InternArray(ReadOnlySpan<char> key, char separator)
    {
        if (ArrayLookup.TryGetValue(key, out var existing))
        {
            return existing;
        }

        var items = new List<string>();
        foreach (var range in key.Split(separator))
        {
            items.Add(Intern(key[range]));
        }

        string[] created = [.. items];
        if (Volatile.Read(ref _arrayCount) < MaxArrays && Arrays.TryAdd(key.ToString(), created))
        {
            Interlocked.Increment(ref _arrayCount);
        }

        return created;
    }

    // The same strings by their UTF-8 bytes, so a symbol read from JSON is found without transcoding it.
    private static readonly ConcurrentDictionary<byte[], string> Utf8Table = new(Utf8Comparer.Instance);
    private static readonly ConcurrentDictionary<byte[], string>.AlternateLookup<ReadOnlySpan<byte>> Utf8Lookup =
        Utf8Table.GetAlternateLookup<ReadOnlySpan<byte>>();

    private static int _utf8Count;

    /// <summary>
    /// The interned instance whose UTF-8 encoding is <paramref name="utf8"/>: valid UTF-8 (the parser
    /// checks every string first) of at most <see cref="MaxLength"/> bytes.
    /// </summary>
    public static string InternUtf8(ReadOnlySpan<byte> utf8)
    {
        if (Utf8Lookup.TryGetValue(utf8, out var existing))
        {
            return existing;
        }

        Span<char> chars = stackalloc char[MaxLength];
        var value = Intern(chars[..System.Text.Encoding.UTF8.GetChars(utf8, chars)]);
        if (Volatile.Read(ref _utf8Count) < MaxEntries && Utf8Table.TryAdd(utf8.ToArray(), value))
        {
            Interlocked.Increment(ref _utf8Count);
        }

        return value;
    }

    /// <summary>The interned instance equal to <paramref name="chars"/>.</summary>
    public static string Intern(ReadOnlySpan<char> chars)
    {
        if (Lookup.TryGetValue(chars, out var existing))
        {
            return existing;
        }

        var created = chars.ToString();
        if (chars.Length <= MaxLength && Volatile.Read(ref _count) < MaxEntries && Table.TryAdd(created, created))
        {
            Interlocked.Increment(ref _count);
        }

        return created;
    }

    // Byte arrays compared by content, and looked up by a span of bytes.
    private sealed class Utf8Comparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly Utf8Comparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => GetHashCode((ReadOnlySpan<byte>)obj);

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate)
        {
            var hash = default(HashCode);
            hash.AddBytes(alternate);
            return hash.ToHashCode();
        }

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
    }
}
