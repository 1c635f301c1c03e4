
namespace ExecutionDistribution.Contract;

/// <summary>
/// Where an event's shared bytes live (<see cref="ExecutionEvent.EnvelopeJson"/>): slices of large
/// arrays, each thread filling its own array in order, instead of one small array per event.
/// <para>
/// Why: the retained log keeps every event for up to <c>Distribution:RetainedLogCapacity</c> events,
/// longer than the time between two gen0 collections, so everything an event holds survives them
/// and is copied by the collector, in a pause, once or twice (measured in W4
/// standard: 1.5 KB per event, half of it these bytes). A slab is allocated on the large-object
/// heap, which collections do not copy; the bytes in it are never copied again.
/// </para>
/// <para>
/// Nothing is reused by hand: a slab is an ordinary array that the collector frees when no event
/// refers to it any more, so a reader holding an event's bytes can never see them overwritten.
/// Events die in about the order they were written (the log drops its oldest), so slabs do too; an
/// event kept long (a stalled reader's queue) keeps at most its slab alive, and a thread keeps the
/// slab it is filling (256 KB per thread that has written an envelope).
/// </para>
/// </summary>
internal static class EventBytesArena
{
    /// <summary>Bytes per slab: above the large-object threshold (85,000 bytes), a few hundred events.</summary>
    public const int SlabBytes = 256 * 1024;

    /// <summary>Larger than this gets an array of its own, so one big event never wastes most of a slab.</summary>
    public const int LargestSlice = SlabBytes / 16;

    [ThreadStatic]
    private static byte[]? _slab;

    [ThreadStatic]
    private static int _used;

    /// <summary>Copies <paramref name="bytes"/> into this thread's slab (a new one when it is full) and returns the slice.</summary>
    public static ArraySegment<byte> Copy(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > LargestSlice)
        {
            return bytes.ToArray();
        }

        var slab = _slab;
        var used = _used;
        if (slab is null || slab.Length - used < bytes.Length)
        {
            slab = _slab = GC.AllocateUninitializedArray<byte>(SlabBytes);
            used = 0;
        }

        bytes.CopyTo(slab.AsSpan(used));
        _used = used + bytes.Length;
        return new ArraySegment<byte>(slab, used, bytes.Length);
    }
}
