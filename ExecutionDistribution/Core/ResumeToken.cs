using System.Buffers.Binary;
using System.Buffers.Text;

namespace ExecutionDistribution.Core;

/// <summary>
/// Where a stream stopped: the core's log epoch, the log position to continue from, and the last
/// sequence number delivered. Sent with every batch; a client that reconnects with it receives exactly
/// what it missed. Encoded as 43 characters of URL-safe base64 (32 bytes), opaque to clients; 64 (48
/// bytes) when it names <see cref="EarlierRun"/>.
/// </summary>
/// <param name="Epoch">The log epoch of the service run that issued it.</param>
/// <param name="Position">Every matching event before this position has been delivered.</param>
/// <param name="Sequence">The sequence number of the last delivery.</param>
/// <param name="EarlierRun">
/// Set while a stream that began in an earlier run is re-read across the restart: the events of this
/// run that are Kafka records that run had already distributed (the records re-read after the restart)
/// were delivered then, so a resume skips them. Empty otherwise.
/// </param>
public readonly record struct ResumeToken(Guid Epoch, long Position, long Sequence, Guid EarlierRun = default)
{
    private const int Length = 32;
    private const int LongLength = 48;

    /// <summary>The token as URL-safe base64.</summary>
    public string Encode()
    {
        Span<byte> bytes = stackalloc byte[LongLength];
        Epoch.TryWriteBytes(bytes);
        BinaryPrimitives.WriteInt64BigEndian(bytes[16..], Position);
        BinaryPrimitives.WriteInt64BigEndian(bytes[24..], Sequence);
        if (EarlierRun == Guid.Empty)
        {
            return Base64Url.EncodeToString(bytes[..Length]);
        }

        EarlierRun.TryWriteBytes(bytes[Length..]);
        return Base64Url.EncodeToString(bytes);
    }

    /// <summary>Decodes a token; false with a reason when it is not one.</summary>
    public static bool TryDecode(string? text, out ResumeToken token, out string reason)
    {
        token = default;
        reason = string.Empty;
        Span<byte> bytes = stackalloc byte[LongLength + 3];
        int written;
        try
        {
            if (string.IsNullOrEmpty(text) || text.Length > 64 || !Base64Url.TryDecodeFromChars(text, bytes, out written) || written is not (Length or LongLength))
            {
                reason = "is not a resume token issued by this service";
                return false;
            }
        }
        catch (FormatException)
        {
            // Not base64url at all (the decoder throws on some malformed lengths).
            reason = "is not a resume token issued by this service";
            return false;
        }

        var position = BinaryPrimitives.ReadInt64BigEndian(bytes[16..]);
        var sequence = BinaryPrimitives.ReadInt64BigEndian(bytes[24..]);
        var earlier = written == LongLength ? new Guid(bytes[Length..LongLength]) : Guid.Empty;
        if (position < 0 || sequence < 0 || (written == LongLength && earlier == Guid.Empty))
        {
            reason = "is not a resume token issued by this service";
            return false;
        }

        token = new ResumeToken(new Guid(bytes[..16]), position, sequence, earlier);
        return true;
    }
}

/// <summary>Whether the core can still serve a resume from a token.</summary>
public enum ResumeCheck
{
    /// <summary>Every event after the token is retained: the resume is exact.</summary>
    Available,
    /// <summary>The token comes from an earlier run of the service (another log epoch).</summary>
    OtherEpoch,
    /// <summary>Events after the token are no longer retained.</summary>
    Expired,
    /// <summary>The token points past the newest event (not issued by this run).</summary>
    Invalid,
}
