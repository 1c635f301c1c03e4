using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Orders;

/// <summary>
/// Everything known of one order: its updates by event id and its fills (trades, busts, corrections)
/// by fill id, so a repeated event counts once. The status and fill details are derived at read
/// time, so the answer depends only on the set of facts, not on their order of arrival. Not thread
/// safe: the projection guards it with its lock; the PostgreSQL store builds one per read.
/// </summary>
/// <param name="orderId">The order.</param>
internal sealed class OrderFacts(string orderId)
{
    /// <summary>The order.</summary>
    public string OrderId => orderId;

    public Dictionary<string, OrderUpdate> Updates { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, FillNotification> Fills { get; } = new(StringComparer.Ordinal);

    // Indexes kept as fills arrive, so deriving the status is linear in the number of fills.
    private readonly Dictionary<string, List<FillNotification>> _correctionsOf = new(StringComparer.Ordinal);
    private readonly HashSet<string> _busted = new(StringComparer.Ordinal);
    private OrderExecutionStatus? _status;
    private bool _done;

    private DateTime UpdatedAt { get; set; }

    /// <summary>When this service last learnt something of the order (its own clock; retention counts from it).</summary>
    public DateTime LastActivity { get; set; }

    /// <summary>Nothing more is expected of the order (<see cref="OrderLifecycleState.IsDone"/>).</summary>
    public bool IsDone
    {
        get
        {
            Status();
            return _done;
        }
    }

    /// <summary>How many facts: grows with every new one, so it versions the derived status.</summary>
    public int Version => Updates.Count + Fills.Count;

    /// <summary>
    /// Memory the order takes, estimated: the order with its indexes and cached status, and each update
    /// and fill with its strings and dictionary entry (measured by <c>OrderMemoryTests</c>).
    /// </summary>
    public long EstimatedBytes => 700 + (Updates.Count * 400L) + (Fills.Count * 330L);

    /// <summary>Adds an order update (a repeat of its event id replaces it with the same content).</summary>
    public void Add(string eventId, OrderUpdate update)
    {
        Updates[eventId] = update;
        Touch(update.UpdateTime);
        _status = null;
    }

    /// <summary>Adds a fill, bust or correction (a repeat of its fill id counts once).</summary>
    public void Add(FillNotification fill)
    {
        if (!Fills.TryAdd(fill.FillId, fill))
        {
            return; // a repeat of a fill id counts once
        }

        if (fill.RefFillId is { } target)
        {
            if (fill.ExecType == FillExecType.TradeCorrect)
            {
                if (!_correctionsOf.TryGetValue(target, out var list))
                {
                    _correctionsOf[target] = list = [];
                }

                list.Add(fill);
            }
            else if (fill.ExecType == FillExecType.TradeCancel)
            {
                _busted.Add(target);
            }
        }

        Touch(fill.ExecutionTime);
        _status = null;
    }

    private void Touch(DateTime time)
    {
        if (time > UpdatedAt)
        {
            UpdatedAt = time;
        }
    }

    /// <summary>The status derived from the facts (computed once per change).</summary>
    public OrderExecutionStatus Status() => _status ??= Derive();

    private OrderExecutionStatus Derive()
    {
        var live = LiveFills();
        var cum = live.Sum(f => f.Quantity);
        var notional = live.Sum(f => f.Quantity * f.Price);
        var state = OrderLifecycle.Derive(Updates, Fills.Values, cum);
        _done = state.IsDone;
        var terms = state.Terms;
        var last = live.OrderBy(f => f.ExecutionTime).ThenBy(f => f.FillId, StringComparer.Ordinal).LastOrDefault();
        var firstFill = Fills.Values.MinBy(f => f.FillId, StringComparer.Ordinal);
        return new OrderExecutionStatus(
            orderId,
            terms?.PortfolioId ?? firstFill?.PortfolioId,
            terms?.InstrumentId ?? firstFill?.InstrumentId,
            (terms?.Side ?? firstFill?.Side) is { } side ? WireNames.Sides[(int)side] : null,
            WireNames.OrderStatuses[(int)state.Status],
            state.OrderQty,
            cum,
            state.LeavesQty,
            cum == 0 ? 0m : Math.Round(notional / cum, 6),
            last is null ? null : Summary(last),
            live.Count,
            UpdatedAt);
    }

    public FillDetails? Fill(string fillId)
    {
        if (!Fills.TryGetValue(fillId, out var fill) || fill.ExecType == FillExecType.TradeCancel)
        {
            return null;
        }

        var root = Root(fill);
        var chain = Chain(root);
        var busted = IsBusted(chain);
        var current = busted ? null : chain[^1];
        var state = busted ? "BUSTED" : ReferenceEquals(current, fill) ? "LIVE" : "CORRECTED";
        return new FillDetails(fill.FillId, fill.OrderId, fill.InstrumentId, fill.Side is { } s ? WireNames.Sides[(int)s] : null,
            fill.Quantity, fill.Price, fill.Venue, fill.ExecutionTime, fill.Commission, WireNames.FillExecTypes[(int)fill.ExecType],
            state, current?.FillId, [.. chain.Select(Summary)]);
    }

    public IReadOnlyList<FillNotification> Live() => LiveFills();

    // Live fills: the latest link of every chain (a trade and its corrections) that no bust touched.
    private List<FillNotification> LiveFills()
    {
        var live = new List<FillNotification>();
        foreach (var f in Fills.Values)
        {
            if (f.ExecType == FillExecType.Trade || (f.ExecType == FillExecType.TradeCorrect && f.RefFillId is not null && !Fills.ContainsKey(f.RefFillId)))
            {
                // A chain root: a trade, or a correction whose original has not arrived yet.
                var chain = Chain(f);
                if (!IsBusted(chain))
                {
                    live.Add(chain[^1]);
                }
            }
        }

        return live;
    }

    private FillNotification Root(FillNotification fill)
    {
        var current = fill;
        var guard = 0;
        while (current.ExecType == FillExecType.TradeCorrect && current.RefFillId is { } parent && Fills.TryGetValue(parent, out var p) && guard++ < 1_000)
        {
            current = p;
        }

        return current;
    }

    // The chain from a root through its corrections (a correction of a correction follows it).
    private List<FillNotification> Chain(FillNotification root)
    {
        var chain = new List<FillNotification> { root };
        var seen = new HashSet<string>(StringComparer.Ordinal) { root.FillId };
        var current = root;
        while (true)
        {
            FillNotification? next = null;
            if (_correctionsOf.TryGetValue(current.FillId, out var corrections))
            {
                foreach (var f in corrections)
                {
                    if (!seen.Contains(f.FillId)
                        && (next is null || f.ExecutionTime > next.ExecutionTime || (f.ExecutionTime == next.ExecutionTime && string.CompareOrdinal(f.FillId, next.FillId) > 0)))
                    {
                        next = f;
                    }
                }
            }

            if (next is null)
            {
                return chain;
            }

            chain.Add(next);
            seen.Add(next.FillId);
            current = next;
        }
    }

    // A bust of any link kills the chain: it voids the economic fill, however often it was corrected.
    private bool IsBusted(List<FillNotification> chain) => _busted.Count > 0 && chain.Exists(c => _busted.Contains(c.FillId));

    private static FillSummary Summary(FillNotification f) => new(f.FillId, f.Quantity, f.Price, f.Venue, f.ExecutionTime, f.Commission);
}
