using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Distribution;

/// <summary>
/// An immutable snapshot that resolves an event to its candidate subscribers without testing every
/// subscriber's filter. Each subscriber is filed under one anchor dimension (its most selective:
/// order id, routing key pattern, instrument, topic pattern, venue, workflow, data type, or none);
/// an event looks up each dimension once, and only the candidates found are checked against the rest
/// of their filter. Pattern lookups are resolved once per distinct routing key (or topic) and cached.
/// </summary>
/// <remarks>
/// The registry builds a new snapshot on every subscribe/unsubscribe and publishes it with a volatile
/// write; the dispatcher picks it up at its next batch, so registration never blocks dispatch. The
/// pattern caches are touched only by the dispatcher thread.
/// </remarks>
internal sealed class RoutingIndex
{
    /// <summary>Bound on cached pattern results per snapshot; cleared when exceeded (hostile key cardinality).</summary>
    private const int MaxCachedKeys = 100_000;

    public static readonly RoutingIndex Empty = new([]);

    private readonly Candidate[] _unanchored;
    private readonly Candidate[][] _byDataType;
    private readonly Dictionary<string, Candidate[]>? _byOrderId;

    // The watched order ids' hashes as bits (about 50 bits per id): most events' orders are watched by
    // nobody, and this answers them from a few cache lines instead of the dictionary's buckets and entries.
    private readonly ulong[] _watchedOrders = [];
    private readonly int _watchedOrderMask;
    private readonly Dictionary<string, Candidate[]>? _byInstrument;
    private readonly Dictionary<string, Candidate[]>? _byVenue;
    private readonly Dictionary<string, Candidate[]>? _byWorkflow;
    private readonly PatternTrie<Subscriber>? _routingKeys;
    private readonly PatternTrie<Subscriber>? _topics;
    private readonly Dictionary<string, Candidate[]> _routingKeyCache = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Candidate[]> _topicCache = new(StringComparer.Ordinal);
    private readonly HashSet<Subscriber> _scratch = new(ReferenceEqualityComparer.Instance);

    public RoutingIndex(Subscriber[] subscribers)
    {
        All = subscribers;
        var unanchored = new List<Subscriber>();
        var byType = new List<Subscriber>[6];
        Dictionary<string, List<Subscriber>>? orders = null, instruments = null, venues = null, workflows = null;
        foreach (var s in subscribers)
        {
            var f = s.Filter;
            switch (s.Anchor)
            {
                case FilterDimension.OrderId:
                    AddAll(ref orders, f.OrderIds, s);
                    break;
                case FilterDimension.RoutingKey:
                    _routingKeys ??= new PatternTrie<Subscriber>('.');
                    foreach (var p in f.RoutingKeys)
                    {
                        _routingKeys.Add(p, s);
                    }

                    break;
                case FilterDimension.Instrument:
                    AddAll(ref instruments, f.Instruments, s);
                    break;
                case FilterDimension.Topic:
                    _topics ??= new PatternTrie<Subscriber>('/');
                    foreach (var p in f.Topics)
                    {
                        _topics.Add(p, s);
                    }

                    break;
                case FilterDimension.Venue:
                    AddAll(ref venues, f.Venues, s);
                    break;
                case FilterDimension.Workflow:
                    AddAll(ref workflows, f.TargetWorkflows, s);
                    break;
                case FilterDimension.DataType:
                    foreach (var t in f.DataTypes)
                    {
                        (byType[(int)t] ??= []).Add(s);
                    }

                    break;
                default:
                    unanchored.Add(s);
                    break;
            }
        }

        _unanchored = Candidates(unanchored);
        _byDataType = new Candidate[6][];
        for (var i = 0; i < 6; i++)
        {
            _byDataType[i] = byType[i] is { } list ? Candidates(list) : [];
        }

        _byOrderId = Freeze(orders);
        if (_byOrderId is not null)
        {
            var bits = (int)Math.Min(1 << 22, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(64, _byOrderId.Count * 50)));
            _watchedOrders = new ulong[bits / 64];
            _watchedOrderMask = bits - 1;
            foreach (var orderId in _byOrderId.Keys)
            {
                var bit = ExecutionEvent.HashOrderId(orderId) & _watchedOrderMask;
                _watchedOrders[bit >> 6] |= 1UL << bit;
            }
        }
        _byInstrument = Freeze(instruments);
        _byVenue = Freeze(venues);
        _byWorkflow = Freeze(workflows);
    }

    /// <summary>Every subscriber in this snapshot.</summary>
    public Subscriber[] All { get; }

    /// <summary>
    /// Hands every subscriber whose filter matches <paramref name="e"/> to <paramref name="sink"/>.
    /// Dispatcher thread only. The sink is a struct so the JIT specialises the loop (no virtual calls).
    /// </summary>
    public void Route<TSink>(ExecutionEvent e, ref TSink sink)
        where TSink : struct, IRouteSink
    {
        var position = e.Position;
        if (_unanchored.Length > 0)
        {
            Offer(_unanchored, e, position, ref sink);
        }

        var byType = _byDataType[(int)e.DataType];
        if (byType.Length > 0)
        {
            Offer(byType, e, position, ref sink);
        }

        if (_byOrderId is not null && e.OrderId is { } orderId && MayBeWatched(e.OrderHash) && _byOrderId.TryGetValue(orderId, out var watchers))
        {
            Offer(watchers, e, position, ref sink);
        }

        if (_routingKeys is not null)
        {
            Offer(Resolve(_routingKeys, _routingKeyCache, e.Routing.RoutingKey), e, position, ref sink);
        }

        if (_byInstrument is not null && e.InstrumentId is { } instrument && _byInstrument.TryGetValue(instrument, out var byInstrument))
        {
            Offer(byInstrument, e, position, ref sink);
        }

        if (_topics is not null)
        {
            Offer(Resolve(_topics, _topicCache, e.Routing.Topic), e, position, ref sink);
        }

        if (_byVenue is not null && e.Venue is { } venue && _byVenue.TryGetValue(venue, out var byVenue))
        {
            Offer(byVenue, e, position, ref sink);
        }

        if (_byWorkflow is not null)
        {
            foreach (var workflow in e.Routing.TargetWorkflows)
            {
                if (_byWorkflow.TryGetValue(workflow, out var byWorkflow))
                {
                    Offer(byWorkflow, e, position, ref sink);
                }
            }
        }
    }

    // False: nobody watches the order with this hash (ExecutionEvent.OrderHash, the same ordinal hash).
    private bool MayBeWatched(int orderHash)
    {
        var bit = orderHash & _watchedOrderMask;
        return (_watchedOrders[bit >> 6] & (1UL << bit)) != 0;
    }

    private static void Offer<TSink>(Candidate[] candidates, ExecutionEvent e, long position, ref TSink sink)
        where TSink : struct, IRouteSink
    {
        foreach (ref readonly var c in candidates.AsSpan())
        {
            var s = c.Subscriber;

            // Only what the candidate entry says is needed touches the subscriber or its filter: most
            // deliveries then read nothing of it before the dispatcher writes its ring.
            if (c.Dedup)
            {
                // A subscriber can be reached twice for one event (two target workflows); consider it once.
                if (s.LastStamp == position)
                {
                    continue;
                }

                s.LastStamp = position;
            }

            if (!c.Check || s.Filter.Matches(e, s.Anchor))
            {
                sink.Deliver(s, position);
            }
        }
    }

    private static Candidate[] Candidates(IEnumerable<Subscriber> subscribers) => [.. subscribers.Select(s => new Candidate(s))];

    private Candidate[] Resolve(PatternTrie<Subscriber> trie, Dictionary<string, Candidate[]> cache, string name)
    {
        if (cache.TryGetValue(name, out var hit))
        {
            return hit;
        }

        _scratch.Clear();
        trie.Match(name, _scratch);
        var resolved = _scratch.Count == 0 ? [] : Candidates(_scratch);
        if (cache.Count >= MaxCachedKeys)
        {
            cache.Clear();
        }

        cache[name] = resolved;
        return resolved;
    }

    private static void AddAll(ref Dictionary<string, List<Subscriber>>? map, IReadOnlySet<string> keys, Subscriber s)
    {
        map ??= new Dictionary<string, List<Subscriber>>(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            if (!map.TryGetValue(key, out var list))
            {
                map[key] = list = [];
            }

            list.Add(s);
        }
    }

    private static Dictionary<string, Candidate[]>? Freeze(Dictionary<string, List<Subscriber>>? map)
    {
        if (map is null)
        {
            return null;
        }

        var frozen = new Dictionary<string, Candidate[]>(map.Count, StringComparer.Ordinal);
        foreach (var (key, list) in map)
        {
            frozen[key] = Candidates(list);
        }

        return frozen;
    }
}

/// <summary>A subscriber filed under an index entry, with what the index knows of it beforehand.</summary>
internal readonly struct Candidate(Subscriber subscriber)
{
    public readonly Subscriber Subscriber = subscriber;

    /// <summary>Its filter has more to check than the anchor the index matched.</summary>
    public readonly bool Check = subscriber.Filter.ChecksBeyond(subscriber.Anchor);

    /// <summary>It can be reached twice for one event (an event names several target workflows).</summary>
    public readonly bool Dedup = subscriber.Anchor == FilterDimension.Workflow;
}

/// <summary>Receives the subscribers an event routes to (the dispatcher; benchmarks plug in their own).</summary>
internal interface IRouteSink
{
    /// <summary>A matching subscriber for the event at <paramref name="position"/>.</summary>
    void Deliver(Subscriber subscriber, long position);
}
