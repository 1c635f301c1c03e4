using System.Collections.Concurrent;
using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Orders;

/// <summary>An order's execution status as the spec's REST lookup returns it (FIX semantics).</summary>
/// <param name="OrderId">Order id.</param>
/// <param name="PortfolioId">Portfolio, once an order update named it.</param>
/// <param name="InstrumentId">Instrument.</param>
/// <param name="Side">Side, once known.</param>
/// <param name="Status">FIX OrdStatus.</param>
/// <param name="OrderQty">Order quantity, once an order update gave it.</param>
/// <param name="CumQty">Quantity of the live fills.</param>
/// <param name="LeavesQty">Quantity open for execution (0 once the order is done; null while the order quantity is unknown).</param>
/// <param name="AvgPx">VWAP of the live fills (0 without fills).</param>
/// <param name="LastFill">The live fill executed last.</param>
/// <param name="FillCount">Live fills.</param>
/// <param name="UpdatedAt">Time of the latest fact about the order, UTC.</param>
public sealed record OrderExecutionStatus(
    string OrderId,
    string? PortfolioId,
    string? InstrumentId,
    string? Side,
    string Status,
    decimal? OrderQty,
    decimal CumQty,
    decimal? LeavesQty,
    decimal AvgPx,
    FillSummary? LastFill,
    int FillCount,
    DateTime UpdatedAt);

/// <summary>One fill as it stands.</summary>
public sealed record FillSummary(string FillId, decimal Quantity, decimal Price, string Venue, DateTime ExecutionTime, decimal Commission);

/// <summary>A fill (trade id) with the history of its corrections (the spec's FillDetails).</summary>
/// <param name="FillId">The fill asked for.</param>
/// <param name="OrderId">Its order.</param>
/// <param name="InstrumentId">Instrument.</param>
/// <param name="Side">Side, when sent.</param>
/// <param name="Quantity">Quantity.</param>
/// <param name="Price">Price.</param>
/// <param name="Venue">Venue.</param>
/// <param name="ExecutionTime">When executed, UTC.</param>
/// <param name="Commission">Commission.</param>
/// <param name="ExecType">TRADE or TRADE_CORRECT.</param>
/// <param name="State">LIVE, CORRECTED (replaced by a later correction) or BUSTED.</param>
/// <param name="CurrentFillId">The fill that stands for it now (itself when LIVE; null when BUSTED).</param>
/// <param name="Corrections">The chain from the original trade to the latest correction, in order.</param>
public sealed record FillDetails(
    string FillId,
    string OrderId,
    string InstrumentId,
    string? Side,
    decimal Quantity,
    decimal Price,
    string Venue,
    DateTime ExecutionTime,
    decimal Commission,
    string ExecType,
    string State,
    string? CurrentFillId,
    IReadOnlyList<FillSummary> Corrections);

/// <summary>
/// Follows orders from ORDER_UPDATE and FILL_NOTIFICATION events. It keeps the facts of each order
/// (its updates, fills, busts and corrections, keyed by id so a repeated event counts once) and
/// derives the status at read time. Since the answer is a function of the set of facts, events may
/// arrive in any order or twice and give the same status. It runs as a subscriber of the core, off
/// the dispatch path. One lock serialises applying a batch and taking a snapshot, so a snapshot
/// states exactly which log position it reflects (<see cref="Snapshot"/>).
/// </summary>
/// <param name="time">The clock of retention: an order's last activity is when this service last learnt of it.</param>
public sealed class OrderStateProjection(TimeProvider time)
{
    /// <summary>A projection on the system clock.</summary>
    public OrderStateProjection()
        : this(TimeProvider.System)
    {
    }

    private readonly ConcurrentDictionary<string, OrderFacts> _orders = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _orderByFill = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private long _appliedThrough;
    /// <summary>The orders among <paramref name="orderIds"/> the projection holds nothing of.</summary>
    public List<string> Unknown(IEnumerable<string> orderIds)
    {
        var unknown = new List<string>();
        foreach (var id in orderIds)
        {
            if (!_orders.ContainsKey(id))
            {
                unknown.Add(id);
            }
        }

        return unknown;
    }

    /// <summary>
    /// Adds facts read from the store (an order known before this run). Facts count once by id, so
    /// facts the projection already applied are not counted twice.
    /// </summary>
    internal void Hydrate(IEnumerable<OrderFacts> stored)
    {
        lock (_gate)
        {
            foreach (var facts in stored)
            {
                var order = _orders.GetOrAdd(facts.OrderId, id => new OrderFacts(id));
                order.LastActivity = time.GetUtcNow().UtcDateTime;
                foreach (var (eventId, update) in facts.Updates)
                {
                    order.Add(eventId, update);
                }

                foreach (var fill in facts.Fills.Values)
                {
                    order.Add(fill);
                    _orderByFill[fill.FillId] = fill.OrderId;
                }
            }
        }
    }

    /// <summary>Applies events read from the core and records the position they reach, atomically.</summary>
    public void ApplyEvents(IReadOnlyList<ExecutionEvent> events, long resumePosition)
    {
        lock (_gate)
        {
            foreach (var e in events)
            {
                ApplyOne(e);
            }

            _appliedThrough = Math.Max(_appliedThrough, resumePosition);
        }
    }

    /// <summary>Starts the projection at the log position its feed starts from.</summary>
    public void StartAt(long position)
    {
        lock (_gate)
        {
            _appliedThrough = Math.Max(_appliedThrough, position);
        }
    }

    /// <summary>
    /// The current status of each known order of <paramref name="orderIds"/>, and the log position it
    /// reflects: a stream that starts at <paramref name="position"/> continues it with no gap and no repeat.
    /// </summary>
    public IReadOnlyList<OrderExecutionStatus> Snapshot(IEnumerable<string> orderIds, out long position)
    {
        lock (_gate)
        {
            position = _appliedThrough;
            var statuses = new List<OrderExecutionStatus>();
            foreach (var id in orderIds)
            {
                if (_orders.TryGetValue(id, out var facts))
                {
                    statuses.Add(facts.Status());
                }
            }

            return statuses;
        }
    }

    /// <summary>Orders known.</summary>
    public int Count => _orders.Count;

    /// <summary>Takes one event into account (other data types are ignored).</summary>
    public void Apply(ExecutionEvent e)
    {
        lock (_gate)
        {
            ApplyOne(e);
        }
    }

    private void ApplyOne(ExecutionEvent e)
    {
        switch (e.Data)
        {
            case OrderUpdate update:
                Order(update.OrderId).Add(e.EventId, update);
                break;
            case FillNotification fill:
                Order(fill.OrderId).Add(fill);
                _orderByFill[fill.FillId] = fill.OrderId;
                break;
        }
    }

    private OrderFacts Order(string orderId)
    {
        var order = _orders.GetOrAdd(orderId, id => new OrderFacts(id));
        order.LastActivity = time.GetUtcNow().UtcDateTime;
        return order;
    }

    /// <summary>The status of an order, or null when nothing is known of it.</summary>
    public OrderExecutionStatus? GetStatus(string orderId)
    {
        lock (_gate)
        {
            return _orders.TryGetValue(orderId, out var facts) ? facts.Status() : null;
        }
    }

    /// <summary>The execution report of a portfolio over [start, end] (UTC days, inclusive).</summary>
    public PortfolioExecutionReport Report(string portfolioId, DateOnly start, DateOnly end)
    {
        lock (_gate)
        {
            var orders = new List<(OrderExecutionStatus, IReadOnlyList<FillNotification>)>();
            foreach (var facts in _orders.Values)
            {
                var status = facts.Status();
                if (status.PortfolioId == portfolioId)
                {
                    orders.Add((status, facts.Live()));
                }
            }

            return ExecutionReportBuilder.Build(portfolioId, start, end, orders);
        }
    }

    /// <summary>
    /// Forgets orders that are done (filled, canceled, rejected, expired, a day order done for the day)
    /// and that this service last learnt of before <paramref name="doneBefore"/> (its own clock, not the
    /// events' times); then, while more than <paramref name="maxOrders"/> remain or they take more than
    /// <paramref name="maxBytes"/> (<see cref="EstimatedBytes"/>), done orders before open ones, the least
    /// recently active first. Returns how many were forgotten.
    /// </summary>
    public int Evict(DateTime doneBefore, int maxOrders, long maxBytes = long.MaxValue)
    {
        lock (_gate)
        {
            var evicted = 0;
            long bytes = 0;
            foreach (var (id, facts) in _orders)
            {
                if (facts.LastActivity < doneBefore && facts.IsDone)
                {
                    Forget(id, facts);
                    evicted++;
                }
                else
                {
                    bytes += facts.EstimatedBytes;
                }
            }

            // Past a bound: done orders first, then any, the least recently active first. The order is found
            // from a sample of at most about 1,024 activity times, not by sorting every order: a sweep of a
            // million orders allocates kilobytes, not tens of megabytes on the large object heap each time.
            bool Over() => _orders.Count > maxOrders || bytes > maxBytes;
            foreach (var doneOnly in (ReadOnlySpan<bool>)[true, false])
            {
                for (var pass = 0; pass < 4 && Over(); pass++)
                {
                    var excess = Math.Max((_orders.Count - maxOrders) / (double)_orders.Count, (bytes - maxBytes) / (double)Math.Max(1, bytes));
                    if (Cutoff(doneOnly, excess) is not { } cutoff)
                    {
                        break;
                    }

                    foreach (var (id, facts) in _orders)
                    {
                        if (!Over())
                        {
                            break;
                        }

                        if ((!doneOnly || facts.IsDone) && (facts.LastActivity <= cutoff || pass == 3))
                        {
                            bytes -= facts.EstimatedBytes;
                            Forget(id, facts);
                            evicted++;
                        }
                    }
                }
            }

            return evicted;
        }
    }

    // The activity time at or below which about `share` of all orders lie among the candidates (done
    // orders, or all): exact when every candidate is sampled, else a tenth more for the sample's error;
    // null when there is no candidate.
    private DateTime? Cutoff(bool doneOnly, double share)
    {
        var stride = Math.Max(1, _orders.Count / 1_024);
        var sample = new List<DateTime>(Math.Min(_orders.Count, 1_100));
        var candidates = 0;
        var i = 0;
        foreach (var (_, facts) in _orders)
        {
            if (doneOnly && !facts.IsDone)
            {
                continue;
            }

            candidates++;
            if (i++ % stride == 0)
            {
                sample.Add(facts.LastActivity);
            }
        }

        if (sample.Count == 0)
        {
            return null;
        }

        sample.Sort();
        var fraction = Math.Min(1.0, share * _orders.Count / candidates * (stride > 1 ? 1.1 : 1.0));
        return sample[Math.Clamp((int)Math.Ceiling(fraction * sample.Count) - 1, 0, sample.Count - 1)];
    }

    /// <summary>
    /// Memory the orders take, estimated from what each holds (<see cref="OrderFacts.EstimatedBytes"/>).
    /// </summary>
    public long EstimatedBytes
    {
        get
        {
            lock (_gate)
            {
                return _orders.Values.Sum(f => f.EstimatedBytes);
            }
        }
    }

    private void Forget(string orderId, OrderFacts facts)
    {
        _orders.TryRemove(orderId, out _);
        foreach (var fillId in facts.Fills.Keys)
        {
            _orderByFill.TryRemove(fillId, out _);
        }
    }

    /// <summary>A fill with its corrections history, or null when unknown (busts are not fills).</summary>
    public FillDetails? GetFill(string fillId)
    {
        lock (_gate)
        {
            return _orderByFill.TryGetValue(fillId, out var orderId) && _orders.TryGetValue(orderId, out var facts) ? facts.Fill(fillId) : null;
        }
    }

    /// <summary>An order's status, version and fills (every trade, bust and correction), or null when unknown.</summary>
    public (OrderExecutionStatus Status, int Version, FillNotification[] Fills)? Facts(string orderId)
    {
        lock (_gate)
        {
            return _orders.TryGetValue(orderId, out var facts) ? (facts.Status(), facts.Version, [.. facts.Fills.Values]) : null;
        }
    }

    /// <summary>The order a fill belongs to, if the projection holds it.</summary>
    public string? OrderOfFill(string fillId) => _orderByFill.GetValueOrDefault(fillId);
}
