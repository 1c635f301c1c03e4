using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Core;

/// <summary>
/// What a subscriber wants. Every dimension that is set must match (AND); within a dimension any
/// value may match (OR); an empty dimension matches everything. See docs/contract.md, "Filters".
/// </summary>
public sealed class SubscriptionFilter
{
    /// <summary>The filter that takes every event.</summary>
    public static readonly SubscriptionFilter All = new();

    /// <summary>Topic patterns over '/'-separated topics (<c>execution/fills/#</c>).</summary>
    public IReadOnlyList<TopicPattern> Topics { get; init; } = [];

    /// <summary>Routing key patterns over '.'-separated keys (<c>AAPL.#</c>, <c>*.fill.*</c>).</summary>
    public IReadOnlyList<TopicPattern> RoutingKeys { get; init; } = [];

    /// <summary>Data types taken; empty takes all.</summary>
    public IReadOnlySet<ExecutionDataType> DataTypes { get; init; } = new HashSet<ExecutionDataType>();

    /// <summary>Order ids watched.</summary>
    public IReadOnlySet<string> OrderIds { get; init; } = new HashSet<string>();

    /// <summary>Instruments taken.</summary>
    public IReadOnlySet<string> Instruments { get; init; } = new HashSet<string>();

    /// <summary>Venues taken (the payload's venue, else metadata.execution_venue).</summary>
    public IReadOnlySet<string> Venues { get; init; } = new HashSet<string>();

    /// <summary>Events whose target_workflows name one of these.</summary>
    public IReadOnlySet<string> TargetWorkflows { get; init; } = new HashSet<string>();

    /// <summary>
    /// The least urgent priority taken: events with <c>priority &lt;= MinPriority</c> pass
    /// (1 is the most urgent, so <c>MinPriority = 1</c> takes only priority-1 events). Null takes all.
    /// </summary>
    public int? MinPriority { get; init; }

    /// <summary>
    /// The portfolios taken (<see cref="ExecutionEvent.PortfolioId"/>), or null for every one. Events of
    /// no portfolio by nature (<see cref="ExecutionEvent.IsMarketWide"/>: venue status) pass; an event
    /// whose portfolio is not known does not. An empty set takes only those market-wide events (a
    /// filter narrowed to entitlements it shares nothing with).
    /// </summary>
    public IReadOnlySet<string>? Portfolios { get; init; }

    /// <summary>This filter with <see cref="Portfolios"/> replaced (the caller's entitlements applied).</summary>
    public SubscriptionFilter WithPortfolios(IReadOnlySet<string>? portfolios) => new()
    {
        Topics = Topics,
        RoutingKeys = RoutingKeys,
        DataTypes = DataTypes,
        OrderIds = OrderIds,
        Instruments = Instruments,
        Venues = Venues,
        TargetWorkflows = TargetWorkflows,
        MinPriority = MinPriority,
        Portfolios = portfolios,
    };

    // Compiled form, computed on first use (the filter is immutable once built): one bit per
    // dimension that is set, and the data type mask. A candidate from the routing index usually has
    // nothing left to check but its anchor, which the index already matched.
    private int _dimensions = -1;
    private int _dataTypeMask;

    /// <summary>Does the event pass every dimension? (The reference semantics the routing index reproduces.)</summary>
    public bool Matches(ExecutionEvent e) => Matches(e, FilterDimension.None);

    /// <summary>Does the event pass every dimension but <paramref name="skip"/> (already matched by the index)?</summary>
    internal bool Matches(ExecutionEvent e, FilterDimension skip)
    {
        var dimensions = _dimensions;
        if (dimensions < 0)
        {
            dimensions = Compile();
        }

        dimensions &= ~(1 << (int)skip);
        if (dimensions == 0)
        {
            return true;
        }

        if ((dimensions & Bit(FilterDimension.DataType)) != 0 && (_dataTypeMask & (1 << (int)e.DataType)) == 0)
        {
            return false;
        }

        if (MinPriority is { } min && e.Routing.Priority > min)
        {
            return false;
        }

        if ((dimensions & Bit(FilterDimension.OrderId)) != 0 && (e.OrderId is null || !OrderIds.Contains(e.OrderId)))
        {
            return false;
        }

        if ((dimensions & Bit(FilterDimension.Instrument)) != 0 && (e.InstrumentId is null || !Instruments.Contains(e.InstrumentId)))
        {
            return false;
        }

        if ((dimensions & Bit(FilterDimension.Venue)) != 0 && (e.Venue is null || !Venues.Contains(e.Venue)))
        {
            return false;
        }

        if ((dimensions & Bit(FilterDimension.Portfolio)) != 0 && !e.IsMarketWide && (e.PortfolioId is null || !Portfolios!.Contains(e.PortfolioId)))
        {
            return false;
        }

        if ((dimensions & Bit(FilterDimension.Workflow)) != 0 && !AnyWorkflow(e.Routing.TargetWorkflows))
        {
            return false;
        }

        if ((dimensions & Bit(FilterDimension.Topic)) != 0 && !AnyPattern(Topics, e.Routing.Topic))
        {
            return false;
        }

        return (dimensions & Bit(FilterDimension.RoutingKey)) == 0 || AnyPattern(RoutingKeys, e.Routing.RoutingKey);
    }

    /// <summary>True when an event that matched <paramref name="anchor"/> must still be checked against other dimensions.</summary>
    internal bool ChecksBeyond(FilterDimension anchor)
    {
        var dimensions = _dimensions;
        if (dimensions < 0)
        {
            dimensions = Compile();
        }

        return (dimensions & ~(1 << (int)anchor)) != 0;
    }

    /// <summary>The most selective dimension the routing index files this filter under.</summary>
    internal FilterDimension Anchor =>
        OrderIds.Count > 0 ? FilterDimension.OrderId
        : RoutingKeys.Count > 0 && !HasCatchAll(RoutingKeys) ? FilterDimension.RoutingKey
        : Instruments.Count > 0 ? FilterDimension.Instrument
        : Portfolios is not null ? FilterDimension.Portfolio
        : Topics.Count > 0 && !HasCatchAll(Topics) ? FilterDimension.Topic
        : Venues.Count > 0 ? FilterDimension.Venue
        : TargetWorkflows.Count > 0 ? FilterDimension.Workflow
        : DataTypes.Count > 0 ? FilterDimension.DataType
        : FilterDimension.None;

    private static int Bit(FilterDimension dimension) => 1 << (int)dimension;

    private int Compile()
    {
        var mask = 0;
        foreach (var type in DataTypes)
        {
            mask |= 1 << (int)type;
        }

        _dataTypeMask = mask;
        var dimensions = (DataTypes.Count > 0 ? Bit(FilterDimension.DataType) : 0)
            | (MinPriority is not null ? Bit(FilterDimension.Priority) : 0)
            | (OrderIds.Count > 0 ? Bit(FilterDimension.OrderId) : 0)
            | (Instruments.Count > 0 ? Bit(FilterDimension.Instrument) : 0)
            | (Venues.Count > 0 ? Bit(FilterDimension.Venue) : 0)
            | (Portfolios is not null ? Bit(FilterDimension.Portfolio) : 0)
            | (TargetWorkflows.Count > 0 ? Bit(FilterDimension.Workflow) : 0)
            // A catch-all pattern ('#') in a list takes every name: the dimension is not checked at all.
            | (Topics.Count > 0 && !HasCatchAll(Topics) ? Bit(FilterDimension.Topic) : 0)
            | (RoutingKeys.Count > 0 && !HasCatchAll(RoutingKeys) ? Bit(FilterDimension.RoutingKey) : 0);
        Volatile.Write(ref _dimensions, dimensions);
        return dimensions;
    }

    private bool AnyWorkflow(string[] workflows)
    {
        foreach (var workflow in workflows)
        {
            if (TargetWorkflows.Contains(workflow))
            {
                return true;
            }
        }

        return false;
    }

    private static bool AnyPattern(IReadOnlyList<TopicPattern> patterns, string name)
    {
        for (var i = 0; i < patterns.Count; i++)
        {
            if (patterns[i].Matches(name))
            {
                return true;
            }
        }

        return false;
    }

    private static bool HasCatchAll(IReadOnlyList<TopicPattern> patterns)
    {
        foreach (var pattern in patterns)
        {
            if (pattern.MatchesEverything)
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>The dimensions of a filter; the routing index files each subscriber under one of them.</summary>
internal enum FilterDimension
{
    None,
    OrderId,
    RoutingKey,
    Instrument,
    Topic,
    Venue,
    Workflow,
    DataType,
    Priority,
    Portfolio,
}
