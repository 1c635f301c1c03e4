using System.Runtime.CompilerServices;

namespace ExecutionDistribution.Core;

/// <summary>
/// The orders a reader has deferred within one batch it is ordering by urgency: a reader-owned set
/// that never hashes a string. Each event carries its order id's hash, computed once when the event
/// was built (<see cref="Contract.ExecutionEvent.OrderHash"/>), so a subscriber asks a 1,024-bit
/// filter first and compares ids only when the filter says maybe.
/// </summary>
/// <remarks>
/// It replaced a <c>HashSet&lt;string&gt;</c> whose string hashing, once per delivery, was a tenth of
/// the whole process's CPU in workload W1 (docs/benchmarks.md). One reader only; not thread-safe.
/// Sized for the reader's batch up front: grown during a run it allocated (W2 measured it).
/// </remarks>
internal sealed class DeferredOrders
{
    private const int FilterBits = 1024;

    private readonly ulong[] _filter = new ulong[FilterBits / 64];
    private int[] _hashes;
    private string[] _ids;
    private int _count;

    /// <summary>Room for <paramref name="capacity"/> orders (a reader's batch size), so it never grows while it reads.</summary>
    public DeferredOrders(int capacity = 16)
    {
        _hashes = new int[Math.Max(1, capacity)];
        _ids = new string[Math.Max(1, capacity)];
    }

    /// <summary>Orders in the set.</summary>
    public int Count => _count;

    /// <summary>Empties the set.</summary>
    public void Clear()
    {
        if (_count == 0)
        {
            return;
        }

        Array.Clear(_filter);
        Array.Clear(_ids, 0, _count);
        _count = 0;
    }

    /// <summary>Adds an order (no-op when present).</summary>
    public void Add(int hash, string orderId)
    {
        ref var word = ref _filter[Word(hash)];
        var bit = Bit(hash);
        if ((word & bit) != 0 && Find(hash, orderId))
        {
            return;
        }

        word |= bit;
        if (_count == _ids.Length)
        {
            Array.Resize(ref _hashes, _count * 2);
            Array.Resize(ref _ids, _count * 2);
        }

        _hashes[_count] = hash;
        _ids[_count++] = orderId;
    }

    /// <summary>True when the order was added since the last <see cref="Clear"/>.</summary>
    public bool Contains(int hash, string orderId) =>
        (_filter[Word(hash)] & Bit(hash)) != 0 && Find(hash, orderId);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Word(int hash) => (hash >> 6) & ((FilterBits / 64) - 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Bit(int hash) => 1UL << (hash & 63);

    private bool Find(int hash, string orderId)
    {
        for (var i = 0; i < _count; i++)
        {
            if (_hashes[i] == hash && string.Equals(_ids[i], orderId, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
