using System.Collections.Concurrent;
using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Core;

/// <summary>
/// The portfolio of each recent order, learnt from the events that name it (an order update always
/// does), so that an event that does not (a fill, a settlement) is known by its order's portfolio:
/// entitlements are by portfolio. The dispatcher fills <see cref="ExecutionEvent.PortfolioId"/> as an
/// event enters the log; the Kafka re-read looks up the same table. Bounded: two generations of at
/// most half the capacity each; an order not seen for two generations is forgotten (its later
/// portfolio-less events then reach only callers entitled to every portfolio).
/// </summary>
public sealed class OrderPortfolios(int capacity = OrderPortfolios.DefaultCapacity)
{
    /// <summary>Orders remembered by default.</summary>
    public const int DefaultCapacity = 1_000_000;

    private readonly int _generation = Math.Max(1, capacity / 2);
    private ConcurrentDictionary<string, string> _current = new(StringComparer.Ordinal);
    private ConcurrentDictionary<string, string> _previous = new(StringComparer.Ordinal);
    private int _count;

    /// <summary>Orders remembered now (about).</summary>
    public int Count => Volatile.Read(ref _count) + Volatile.Read(ref _previous).Count;

    /// <summary>Learns <paramref name="e"/>'s portfolio, or fills it from its order's. Dispatcher thread only.</summary>
    public void Resolve(ExecutionEvent e)
    {
        if (e.OrderId is not { } order)
        {
            return;
        }

        if (e.PortfolioId is { } portfolio)
        {
            Learn(order, portfolio);
        }
        else
        {
            e.PortfolioId = Find(order);
        }
    }

    /// <summary>
    /// Orders known before this instance started (from the order store), as the older generation: at
    /// most half the capacity, before any event is ingested. A fill of such an order that names no
    /// portfolio is then known by its order's.
    /// </summary>
    public void Preload(IEnumerable<(string OrderId, string PortfolioId)> known)
    {
        var previous = Volatile.Read(ref _previous);
        foreach (var (order, portfolio) in known.Take(_generation))
        {
            previous.TryAdd(order, portfolio);
        }
    }

    /// <summary>Orders remembered by default from the order store at start (the older generation's size).</summary>
    public int PreloadCapacity => _generation;

    /// <summary>The portfolio of <paramref name="orderId"/>, if known. Any thread.</summary>
    public string? Find(string orderId) =>
        Volatile.Read(ref _current).TryGetValue(orderId, out var p) || Volatile.Read(ref _previous).TryGetValue(orderId, out p) ? p : null;

    private void Learn(string order, string portfolio)
    {
        var current = _current;
        if (current.TryGetValue(order, out var known) && string.Equals(known, portfolio, StringComparison.Ordinal))
        {
            return;
        }

        if (current.TryAdd(order, portfolio))
        {
            if (++_count >= _generation)
            {
                Volatile.Write(ref _previous, current);
                Volatile.Write(ref _current, new ConcurrentDictionary<string, string>(StringComparer.Ordinal));
                Volatile.Write(ref _count, 0);
            }
        }
        else
        {
            current[order] = portfolio; // an order moved to another portfolio: the newest says
        }
    }
}
