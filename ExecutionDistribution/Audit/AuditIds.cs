using System.Buffers.Binary;

namespace ExecutionDistribution.Audit;

/// <summary>
/// UUIDv7 ids for audit rows (RFC 9562), cheap enough to make one per delivery: the 48-bit Unix
/// millisecond timestamp, then 74 bits that start random for each millisecond of each thread and
/// count up within it (the RFC's "monotonic random" method), so ids sort by time, are unique across
/// threads and processes with overwhelming probability, and need no random draw per id.
/// </summary>
internal static class AuditIds
{
    [ThreadStatic]
    private static long _millisecond;

    [ThreadStatic]
    private static ulong _high;

    [ThreadStatic]
    private static ulong _low;

    /// <summary>The next id for a row created at <paramref name="utcNow"/>.</summary>
    public static Guid Next(DateTime utcNow)
    {
        var ms = (utcNow.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMillisecond;
        if (ms != _millisecond)
        {
            _millisecond = ms;
            _high = (ulong)Random.Shared.NextInt64() & 0x0FFF; // 12 bits (rand_a)
            _low = (ulong)Random.Shared.NextInt64() & 0x3FFF_FFFF_FFFF_FFFF; // 62 bits (rand_b)
        }
        else if (++_low > 0x3FFF_FFFF_FFFF_FFFF)
        {
            _low = 0;
            _high = (_high + 1) & 0x0FFF;
        }

        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, ((ulong)ms << 16) | 0x7000 | _high);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], 0x8000_0000_0000_0000 | _low);
        return new Guid(bytes, bigEndian: true);
    }
}
