using System.Buffers.Binary;
using System.Buffers.Text;

namespace ExecutionDistribution.Core;

/// <summary>One partition of a source in a resume token: its topic (by <see cref="SourceFrontier.TopicHash"/>), its number, and the next offset not passed.</summary>
public readonly record struct SourceOffset(uint Topic, int Partition, long Offset);

/// <summary>
/// Where a stream stands, in terms every instance shares: the cluster it came from (an epoch derived
/// from the Kafka cluster's id, or the run's own id without Kafka), per source partition the next
/// offset it has not passed (every matching event below it was delivered), and the sequence number of
/// its last delivery. Sent with every batch; a client that reconnects with it, to this instance or any
/// other of the cluster, receives exactly what it missed. URL-safe base64, opaque to clients.
/// </summary>
/// <param name="Epoch">The cluster (or, without Kafka, the run) whose offsets these are.</param>
/// <param name="Offsets">Per partition, the next offset not passed.</param>
/// <param name="Sequence">The sequence number of the last delivery.</param>
public readonly record struct ResumeToken(Guid Epoch, SourceOffset[] Offsets, long Sequence)
{
    private const byte Version = 2;

    /// <summary>Partitions a token may name.</summary>
    public const int MaxPartitions = 4_096;

    private const string NotOurs = "is not a resume token issued by this service";

    /// <summary>The token as URL-safe base64.</summary>
    public string Encode() => EncodeWithPrefix(EncodePrefix(this), Sequence);

    /// <summary>The token's bytes before its sequence number: version, epoch, offsets.</summary>
    internal static byte[] EncodePrefix(ResumeToken token)
    {
        var offsets = token.Offsets ?? [];
        var size = 1 + 16 + 10 + (offsets.Length * 19);
        var bytes = size <= 1024 ? stackalloc byte[size] : new byte[size];
        bytes[0] = Version;
        token.Epoch.TryWriteBytes(bytes[1..]);
        var at = 17;
        at += WriteVarint(bytes[at..], (ulong)offsets.Length);
        foreach (var o in offsets)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes[at..], o.Topic);
            at += 4;
            at += WriteVarint(bytes[at..], (ulong)o.Partition);
            at += WriteVarint(bytes[at..], (ulong)o.Offset);
        }

        return bytes[..at].ToArray();
    }

    /// <summary>A token's text from its prefix (<see cref="EncodePrefix"/>) and a sequence number.</summary>
    internal static string EncodeWithPrefix(ReadOnlySpan<byte> prefix, long sequence)
    {
        var size = prefix.Length + 10;
        var bytes = size <= 1024 ? stackalloc byte[size] : new byte[size];
        prefix.CopyTo(bytes);
        var at = prefix.Length + WriteVarint(bytes[prefix.Length..], (ulong)sequence);
        return Base64Url.EncodeToString(bytes[..at]);
    }

    /// <summary>Decodes a token; false with a reason when it is not one.</summary>
    public static bool TryDecode(string? text, out ResumeToken token, out string reason)
    {
        token = default;
        reason = NotOurs;
        if (string.IsNullOrEmpty(text) || text.Length > (MaxPartitions * 26) + 64)
        {
            return false;
        }

        var bytes = new byte[Base64Url.GetMaxDecodedLength(text.Length)];
        int written;
        try
        {
            if (!Base64Url.TryDecodeFromChars(text, bytes, out written))
            {
                return false;
            }
        }
        catch (FormatException)
        {
            // Not base64url at all (the decoder throws on some malformed lengths).
            return false;
        }

        ReadOnlySpan<byte> span = bytes.AsSpan(0, written);
        if (span.Length < 19 || span[0] != Version)
        {
            return false;
        }

        var epoch = new Guid(span[1..17]);
        var at = 17;
        if (!TryReadVarint(span, ref at, out var count) || count > MaxPartitions)
        {
            return false;
        }

        var offsets = new SourceOffset[(int)count];
        for (var i = 0; i < offsets.Length; i++)
        {
            if (at + 4 > span.Length)
            {
                return false;
            }

            var topic = BinaryPrimitives.ReadUInt32LittleEndian(span[at..]);
            at += 4;
            if (!TryReadVarint(span, ref at, out var partition) || partition > int.MaxValue
                || !TryReadVarint(span, ref at, out var offset) || offset > long.MaxValue)
            {
                return false;
            }

            offsets[i] = new SourceOffset(topic, (int)partition, (long)offset);
        }

        if (!TryReadVarint(span, ref at, out var sequence) || sequence > long.MaxValue || at != span.Length || epoch == Guid.Empty)
        {
            return false;
        }

        token = new ResumeToken(epoch, offsets, (long)sequence);
        reason = string.Empty;
        return true;
    }

    /// <summary>The offset this token has for a partition, or -1 when it does not name it.</summary>
    public long OffsetOf(uint topic, int partition)
    {
        foreach (var o in Offsets ?? [])
        {
            if (o.Topic == topic && o.Partition == partition)
            {
                return o.Offset;
            }
        }

        return -1;
    }

    /// <summary>The same place with another sequence number.</summary>
    public ResumeToken WithSequence(long sequence) => this with { Sequence = sequence };

    private static int WriteVarint(Span<byte> into, ulong value)
    {
        var i = 0;
        while (value >= 0x80)
        {
            into[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        into[i++] = (byte)value;
        return i;
    }

    private static bool TryReadVarint(ReadOnlySpan<byte> span, ref int at, out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (at >= span.Length)
            {
                return false;
            }

            var b = span[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>Whether this process can serve a resume from a token.</summary>
public enum ResumeCheck
{
    /// <summary>The retained log has every event after the token: start at <see cref="ResumePoint.Position"/>.</summary>
    Available,
    /// <summary>Events after the token are older than the retained log: re-read them from Kafka first (or, without Kafka, they are lost).</summary>
    Replay,
    /// <summary>The token is of another cluster, another run without Kafka, or names topics this service does not read.</summary>
    Foreign,
}

/// <summary>What <see cref="FanOutDispatcher.Locate"/> found for a token: where to start, what to skip, or why not here.</summary>
/// <param name="Check">Whether the log serves it.</param>
/// <param name="Position">Available: the log position to start from.</param>
/// <param name="Floor">Available: offsets to skip after it, if the token is further in some partition.</param>
/// <param name="Reason">Replay, Foreign: why not from the log.</param>
/// <param name="Ahead">Available: the token is further than this log in some partition (another instance read further, or its topic was recreated since).</param>
public readonly record struct ResumePoint(ResumeCheck Check, long Position, ResumeFloor? Floor, string? Reason, bool Ahead = false);
