using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Core;

/// <summary>
/// Resolves an event to its candidate subscribers without testing every subscriber's filter. Each
/// subscriber is filed under one anchor dimension (its most selective: order id, routing key pattern,
/// instrument, topic pattern, venue, workflow, data type, or none); an event looks up each dimension
/// once, and only the candidates found are checked against the rest of their filter. Pattern lookups
/// are resolved once per distinct routing key (or topic) and cached.
/// </summary>
/// <remarks>
/// Owned by the dispatcher thread, which routes with it and applies registrations to it in place
/// between batches (<see cref="Add"/>, <see cref="Remove"/>): a subscribe or unsubscribe costs the
/// entries of that subscriber's filter, not a rebuild over every subscriber, so attaching N streams
/// is linear in N. Subscribing threads never touch it (they queue the change and go on), so
/// registration never blocks dispatch. Buckets are arrays with spare room at the end, filled with
/// empty entries (a null subscriber ends a bucket), so adding is amortised constant time and routing
/// reads each bucket through one reference. Grown piece by piece, the buckets end up scattered over
/// the heap, so a fresh index of the same members is built on the thread pool once the changes since
/// the last build reach the member count, and the dispatcher switches to it (amortised constant time
/// per change again; see <see cref="FanOutDispatcher"/>'s ApplyRegistrations).
/// </remarks>
internal sealed class RoutingIndex
{
    /// <summary>Bits of the watched-orders filter per watched order id.</summary>
    private const int BitsPerWatchedOrder = 50;

    private readonly Candidate[][] _byDataType = [[], [], [], [], [], []];
    private readonly PatternLookup _routingKeys = new('.');
    private readonly PatternLookup _topics = new('/');
    private readonly HashSet<Subscriber> _members = new(ReferenceEqualityComparer.Instance);
    private Candidate[] _unanchored = [];
    private Dictionary<string, Candidate[]>? _byOrderId;

    // The watched order ids' hashes as bits (about 50 bits per id): most events' orders are watched by
    // nobody, and this answers them from a few cache lines instead of the dictionary's buckets and
    // entries. A removed id leaves its bit set (another id may share it) until the filter is redrawn.
    private ulong[] _watchedOrders = [];
    private int _watchedOrderMask;
    private int _staleOrderBits;
    private Dictionary<string, Candidate[]>? _byInstrument;
    private Dictionary<string, Candidate[]>? _byVenue;
    private Dictionary<string, Candidate[]>? _byWorkflow;

    // Portfolio-anchored subscribers (entitled to some portfolios): by portfolio, and all of them for
    // market-wide events (venue status), which belong to no portfolio and every reader may see.
    private Dictionary<string, Candidate[]>? _byPortfolio;
    private Candidate[] _portfolioAnchored = [];

    /// <summary>An empty index.</summary>
    public RoutingIndex()
    {
    }

    /// <summary>An index of <paramref name="subscribers"/> (benchmarks and tests build one directly).</summary>
    public RoutingIndex(IEnumerable<Subscriber> subscribers)
    {
        foreach (var s in subscribers)
        {
            Add(s);
        }
    }

    /// <summary>Subscribers filed in this index.</summary>
    public int Count => _members.Count;

    /// <summary>The subscribers filed in this index (to build a fresh one of them).</summary>
    public IReadOnlyCollection<Subscriber> Members => _members;

    /// <summary>Files <paramref name="s"/> under its anchor. Dispatcher thread only (or before routing starts).</summary>
    public void Add(Subscriber s)
    {
        if (!_members.Add(s))
        {
            return;
        }

        var f = s.Filter;
        var candidate = new Candidate(s);
        switch (s.Anchor)
        {
            case FilterDimension.OrderId:
                _byOrderId ??= new Dictionary<string, Candidate[]>(StringComparer.Ordinal);
                foreach (var orderId in f.OrderIds)
                {
                    if (AddTo(_byOrderId, orderId, candidate))
                    {
                        WatchOrder(orderId);
                    }
                }

                break;
            case FilterDimension.RoutingKey:
                _routingKeys.Add(f.RoutingKeys, s);
                break;
            case FilterDimension.Instrument:
                _byInstrument ??= new Dictionary<string, Candidate[]>(StringComparer.Ordinal);
                AddToAll(_byInstrument, f.Instruments, candidate);
                break;
            case FilterDimension.Topic:
                _topics.Add(f.Topics, s);
                break;
            case FilterDimension.Venue:
                _byVenue ??= new Dictionary<string, Candidate[]>(StringComparer.Ordinal);
                AddToAll(_byVenue, f.Venues, candidate);
                break;
            case FilterDimension.Workflow:
                _byWorkflow ??= new Dictionary<string, Candidate[]>(StringComparer.Ordinal);
                AddToAll(_byWorkflow, f.TargetWorkflows, candidate);
                break;
            case FilterDimension.Portfolio:
                _byPortfolio ??= new Dictionary<string, Candidate[]>(StringComparer.Ordinal);
                AddToAll(_byPortfolio, f.Portfolios!, candidate);
                Append(ref _portfolioAnchored, candidate);
                break;
            case FilterDimension.DataType:
                foreach (var t in f.DataTypes)
                {
                    Append(ref _byDataType[(int)t], candidate);
                }

                break;
            default:
                Append(ref _unanchored, candidate);
                break;
        }
    }

    /// <summary>Takes <paramref name="s"/> out of every entry <see cref="Add"/> filed it under. Dispatcher thread only.</summary>
    public void Remove(Subscriber s)
    {
        if (!_members.Remove(s))
        {
            return;
        }

        var f = s.Filter;
        switch (s.Anchor)
        {
            case FilterDimension.OrderId:
                foreach (var orderId in f.OrderIds)
                {
                    if (RemoveFrom(_byOrderId, orderId, s))
                    {
                        _staleOrderBits++;
                    }
                }

                if (_byOrderId is not null && _staleOrderBits > Math.Max(1_024, _byOrderId.Count))
                {
                    RedrawWatchedOrders();
                }

                break;
            case FilterDimension.RoutingKey:
                _routingKeys.Remove(f.RoutingKeys, s);
                break;
            case FilterDimension.Instrument:
                RemoveFromAll(_byInstrument, f.Instruments, s);
                break;
            case FilterDimension.Topic:
                _topics.Remove(f.Topics, s);
                break;
            case FilterDimension.Venue:
                RemoveFromAll(_byVenue, f.Venues, s);
                break;
            case FilterDimension.Workflow:
                RemoveFromAll(_byWorkflow, f.TargetWorkflows, s);
                break;
            case FilterDimension.Portfolio:
                RemoveFromAll(_byPortfolio, f.Portfolios!, s);
                RemoveAt(_portfolioAnchored, s);
                break;
            case FilterDimension.DataType:
                foreach (var t in f.DataTypes)
                {
                    RemoveAt(_byDataType[(int)t], s);
                }

                break;
            default:
                RemoveAt(_unanchored, s);
                break;
        }
    }

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

        if (_routingKeys.Subscribers > 0)
        {
            Offer(_routingKeys.Resolve(e.Routing.RoutingKey), e, position, ref sink);
        }

        if (_byInstrument is not null && e.InstrumentId is { } instrument && _byInstrument.TryGetValue(instrument, out var byInstrument))
        {
            Offer(byInstrument, e, position, ref sink);
        }

        if (_topics.Subscribers > 0)
        {
            Offer(_topics.Resolve(e.Routing.Topic), e, position, ref sink);
        }

        if (_byVenue is not null && e.Venue is { } venue && _byVenue.TryGetValue(venue, out var byVenue))
        {
            Offer(byVenue, e, position, ref sink);
        }

        if (_byPortfolio is not null)
        {
            if (e.IsMarketWide)
            {
                Offer(_portfolioAnchored, e, position, ref sink);
            }
            else if (e.PortfolioId is { } portfolio && _byPortfolio.TryGetValue(portfolio, out var byPortfolio))
            {
                Offer(byPortfolio, e, position, ref sink);
            }
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
            if (s is null)
            {
                // The bucket's spare room: nothing after it.
                break;
            }

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

    // Sets the order's bit, first redrawing the filter larger when it holds too few bits per id.
    private void WatchOrder(string orderId)
    {
        var wanted = BitsFor(_byOrderId!.Count);
        if (wanted > _watchedOrders.Length * 64)
        {
            RedrawWatchedOrders();
            return;
        }

        var bit = ExecutionEvent.HashOrderId(orderId) & _watchedOrderMask;
        _watchedOrders[bit >> 6] |= 1UL << bit;
    }

    // Draws the filter again from the ids watched now, sized for them (clears removed ids' bits).
    private void RedrawWatchedOrders()
    {
        var bits = BitsFor(_byOrderId!.Count);
        _watchedOrders = new ulong[bits / 64];
        _watchedOrderMask = bits - 1;
        _staleOrderBits = 0;
        foreach (var orderId in _byOrderId.Keys)
        {
            var bit = ExecutionEvent.HashOrderId(orderId) & _watchedOrderMask;
            _watchedOrders[bit >> 6] |= 1UL << bit;
        }
    }

    private static int BitsFor(int ids) =>
        (int)Math.Min(1 << 22, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(64, ids * BitsPerWatchedOrder)));

    private static void AddToAll(Dictionary<string, Candidate[]> map, IReadOnlySet<string> keys, Candidate candidate)
    {
        foreach (var key in keys)
        {
            AddTo(map, key, candidate);
        }
    }

    // True when the key is new to the map.
    private static bool AddTo(Dictionary<string, Candidate[]> map, string key, Candidate candidate)
    {
        ref var bucket = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(map, key, out var existed);
        bucket ??= [];
        Append(ref bucket, candidate);
        return !existed;
    }

    private static void RemoveFromAll(Dictionary<string, Candidate[]>? map, IReadOnlySet<string> keys, Subscriber s)
    {
        foreach (var key in keys)
        {
            RemoveFrom(map, key, s);
        }
    }

    // True when the key's bucket became empty and left the map.
    private static bool RemoveFrom(Dictionary<string, Candidate[]>? map, string key, Subscriber s)
    {
        if (map is null || !map.TryGetValue(key, out var bucket))
        {
            return false;
        }

        RemoveAt(bucket, s);
        if (CountOf(bucket) == 0)
        {
            map.Remove(key);
            return true;
        }

        return false;
    }

    // Appends after the last filled entry, doubling the bucket when it is full.
    private static void Append(ref Candidate[] bucket, Candidate candidate)
    {
        var count = CountOf(bucket);
        if (count == bucket.Length)
        {
            Array.Resize(ref bucket, Math.Max(4, bucket.Length * 2));
        }

        bucket[count] = candidate;
    }

    // Removes the subscriber's entry, keeping the others in order and the filled entries at the front.
    private static void RemoveAt(Candidate[] bucket, Subscriber s)
    {
        var count = CountOf(bucket);
        for (var i = 0; i < count; i++)
        {
            if (ReferenceEquals(bucket[i].Subscriber, s))
            {
                Array.Copy(bucket, i + 1, bucket, i, count - i - 1);
                bucket[count - 1] = default;
                return;
            }
        }
    }

    // Filled entries come first, so the first empty one is found by bisection.
    private static int CountOf(Candidate[] bucket)
    {
        int lo = 0, hi = bucket.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (bucket[mid].Subscriber is null)
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return lo;
    }

    /// <summary>
    /// One pattern dimension (routing keys or topics): a trie of the subscribers' patterns and the
    /// candidates resolved per distinct name, cached until a pattern subscriber comes or goes.
    /// </summary>
    private sealed class PatternLookup(char separator)
    {
        /// <summary>Bound on cached results; cleared when exceeded (hostile key cardinality).</summary>
        private const int MaxCachedKeys = 100_000;

        private readonly PatternTrie<Subscriber> _trie = new(separator);
        private readonly Dictionary<string, Candidate[]> _cache = new(StringComparer.Ordinal);
        private readonly HashSet<Subscriber> _scratch = new(ReferenceEqualityComparer.Instance);

        /// <summary>Subscribers filed here.</summary>
        public int Subscribers { get; private set; }

        public void Add(IReadOnlyList<TopicPattern> patterns, Subscriber s)
        {
            foreach (var p in patterns)
            {
                _trie.Add(p, s);
            }

            Subscribers++;
            _cache.Clear();
        }

        public void Remove(IReadOnlyList<TopicPattern> patterns, Subscriber s)
        {
            foreach (var p in patterns)
            {
                _trie.Remove(p, s);
            }

            Subscribers--;
            _cache.Clear();
        }

        public Candidate[] Resolve(string name)
        {
            if (_cache.TryGetValue(name, out var hit))
            {
                return hit;
            }

            _scratch.Clear();
            _trie.Match(name, _scratch);
            Candidate[] resolved = _scratch.Count == 0 ? [] : [.. _scratch.Select(s => new Candidate(s))];
            if (_cache.Count >= MaxCachedKeys)
            {
                _cache.Clear();
            }

            _cache[name] = resolved;
            return resolved;
        }
    }
}

/// <summary>A subscriber filed under an index entry, with what the index knows of it beforehand.</summary>
internal readonly struct Candidate(Subscriber subscriber)
{
    /// <summary>The subscriber; null in a bucket's spare room (see <see cref="RoutingIndex"/>).</summary>
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
