using ExecutionDistribution.Contract;
using ExecutionDistribution.Ingest;

namespace ExecutionDistribution.Ingest.Demo;

/// <summary>
/// The standard event stream of ../shared/BENCHMARKS.md, generated deterministically from a seed:
/// the same seed gives the same events in the same order on every machine and .NET version (its own
/// SplitMix64 generator, no <see cref="Random"/>). It drives the demo feed and the benchmark workloads.
/// </summary>
/// <remarks>
/// Mix by data type: ORDER_UPDATE 40%, FILL_NOTIFICATION 40%, EXECUTION_REPORT 10%, SETTLEMENT_UPDATE 5%,
/// TCA_RESULT 3%, VENUE_STATUS 2%. 500 instruments drawn Zipf(1.0), 10 venues, 200 portfolios,
/// 100,000 live orders each planned with 1 to 5 fills (a fully filled order is replaced by a new one,
/// so the live set stays at its size). Routing keys are <c>{instrument}.{kind}.{state}</c>; fills and
/// order updates are priority 1 and latency-sensitive, the rest priority 5.
/// <para>
/// Orders follow FIX's lifecycle: an order's first event is its NEW update; later updates replace
/// it or request a cancel or replace, and the next update answers a pending request (replaced, or
/// the cancel rejected). Fills, reports, settlements and TCA results go to announced orders with no
/// request pending: when the drawn order is not one, the nearest one that is takes the event, else
/// one of the orders announced last; only the very first events, before any order is announced,
/// announce the drawn order instead, so the mix holds from the start.
/// </para>
/// </remarks>
public sealed class SyntheticExecutionStream
{
    /// <summary>Instruments in the universe.</summary>
    public const int InstrumentCount = 500;

    /// <summary>Portfolios.</summary>
    public const int PortfolioCount = 200;

    /// <summary>Topics per data type (index = <see cref="ExecutionDataType"/>).</summary>
    public static readonly string[] Topics =
    [
        "execution/orders/updates", "execution/fills/processed", "execution/reports/generated",
        "execution/settlements/updates", "execution/tca/results", "execution/venues/status",
    ];

    /// <summary>The ten venues.</summary>
    public static readonly string[] Venues = ["NYSE", "NASDAQ", "ARCA", "BATS", "IEX", "EDGX", "BYX", "MEMX", "CHX", "LTSE"];

    /// <summary>The workflows events are targeted at.</summary>
    public static readonly string[] Workflows =
    [
        "portfolio_management", "risk_management", "reporting_analytics", "compliance_surveillance", "settlement_operations",
        "tca_analytics", "order_management", "trading_operations", "treasury", "client_reporting",
    ];

    private static readonly string[] WellKnown =
    [
        "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "BRK.B", "AVGO", "JPM", "LLY", "V", "UNH", "XOM", "MA",
        "JNJ", "PG", "HD", "COST", "ABBV", "MRK", "CVX", "KO", "PEP", "ADBE", "WMT", "BAC", "CRM", "NFLX", "AMD",
    ];

    private static readonly string[][] TargetsByType =
    [
        ["portfolio_management", "risk_management", "order_management"],
        ["portfolio_management", "risk_management", "reporting_analytics"],
        ["reporting_analytics", "compliance_surveillance", "client_reporting"],
        ["settlement_operations", "treasury"],
        ["tca_analytics", "reporting_analytics"],
        ["trading_operations", "risk_management"],
    ];

    private static readonly string[] Compliance = ["MiFID_II", "RegNMS"];

    // Cumulative mix in per-mille: 400, 800, 900, 950, 980, 1000.
    private static readonly int[] MixCumulative = [400, 800, 900, 950, 980, 1000];

    private readonly ulong _seed;
    private readonly double[] _zipfCdf;
    private readonly LiveOrder[] _orders;
    private readonly int[] _announced = new int[4_096]; // slots of the orders announced last
    private int _announcedNext;
    private int _announcedCount;
    private readonly DateTime _start;
    private readonly TimeSpan _step;
    private ulong _state;
    private long _emitted;
    private long _nextOrder;
    private long _nextFill;

    /// <summary>Creates the stream.</summary>
    /// <param name="seed">Seed; the same seed gives the same stream.</param>
    /// <param name="liveOrders">Live orders (BENCHMARKS.md: 100,000).</param>
    /// <param name="start">Timestamp of the first event (UTC).</param>
    /// <param name="step">Timestamp increment per event.</param>
    public SyntheticExecutionStream(ulong seed, int liveOrders = 100_000, DateTime? start = null, TimeSpan? step = null)
    {
        _seed = seed;
        _state = seed ^ 0x9E3779B97F4A7C15UL;
        _start = Timestamps.ToUtcMicroseconds(start ?? new DateTime(2025, 6, 21, 10, 0, 0, DateTimeKind.Utc));
        _step = step ?? TimeSpan.FromTicks(10);
        InstrumentSymbols = new string[InstrumentCount];
        for (var i = 0; i < InstrumentCount; i++)
        {
            InstrumentSymbols[i] = StringTable.Intern(i < WellKnown.Length ? WellKnown[i].Replace(".", "-", StringComparison.Ordinal) : $"SYM{i:000}");
        }

        _zipfCdf = new double[InstrumentCount];
        var total = 0.0;
        for (var rank = 1; rank <= InstrumentCount; rank++)
        {
            total += 1.0 / rank;
            _zipfCdf[rank - 1] = total;
        }

        for (var i = 0; i < InstrumentCount; i++)
        {
            _zipfCdf[i] /= total;
        }

        Portfolios = new string[PortfolioCount];
        for (var i = 0; i < PortfolioCount; i++)
        {
            Portfolios[i] = StringTable.Intern($"PF{i + 1:000}");
        }

        _orders = new LiveOrder[liveOrders];
        for (var i = 0; i < liveOrders; i++)
        {
            _orders[i] = NewOrder();
        }
    }

    /// <summary>Instrument symbols by Zipf rank (rank 1 first).</summary>
    public string[] InstrumentSymbols { get; }

    /// <summary>Portfolio ids.</summary>
    public string[] Portfolios { get; }

    /// <summary>Order ids currently live (for order-watch subscribers), sampled deterministically.</summary>
    public string[] SampleLiveOrderIds(int count, ulong salt)
    {
        // Distinct ids (a set of `count` orders), drawn without replacement.
        var rng = new SplitMix64(_seed ^ salt);
        var ids = new HashSet<string>(count, StringComparer.Ordinal);
        while (ids.Count < Math.Min(count, _orders.Length))
        {
            ids.Add(_orders[(int)(rng.Next() % (ulong)_orders.Length)].OrderId);
        }

        return [.. ids];
    }

    /// <summary>Events produced so far.</summary>
    public long Emitted => _emitted;

    /// <summary>The next event of the stream.</summary>
    public ExecutionEvent Next()
    {
        var timestamp = _start + (_step * _emitted);
        _emitted++;
        var roll = (int)(NextU64() % 1000);
        var type = 0;
        while (roll >= MixCumulative[type])
        {
            type++;
        }

        var dataType = (ExecutionDataType)type;
        if (dataType == ExecutionDataType.VenueStatus)
        {
            return VenueEvent(timestamp);
        }

        var slot = (int)(NextU64() % (ulong)_orders.Length);
        if (dataType != ExecutionDataType.OrderUpdate)
        {
            slot = Tradable(slot);
            if (slot < 0)
            {
                slot = ~slot;
                dataType = ExecutionDataType.OrderUpdate; // nothing near it announced yet: announce this one
                type = (int)dataType;
            }
        }

        ref var order = ref _orders[slot];
        ExecutionPayload payload;
        string state;
        switch (dataType)
        {
            case ExecutionDataType.OrderUpdate:
                var exec = order.Updates == 0 ? OrderExecType.New
                    : order.Pending == OrderExecType.PendingCancel ? OrderExecType.CancelRejected
                    : order.Pending == OrderExecType.PendingReplace ? OrderExecType.Replaced
                    : (NextU64() % 4) switch { 0 => OrderExecType.PendingCancel, 1 => OrderExecType.PendingReplace, _ => OrderExecType.Replaced };
                order.Pending = exec is OrderExecType.PendingCancel or OrderExecType.PendingReplace ? exec : null;
                if (order.Updates++ == 0)
                {
                    _announced[_announcedNext] = slot;
                    _announcedNext = (_announcedNext + 1) % _announced.Length;
                    _announcedCount = Math.Min(_announcedCount + 1, _announced.Length);
                }

                payload = new OrderUpdate(order.OrderId, order.Portfolio, order.Instrument, order.Side, OrderType.Limit, order.Quantity,
                    order.LimitPrice, TimeInForce.Day, exec, order.Venue, null, timestamp);
                state = WireNames.OrderExecTypes[(int)exec].ToLowerInvariant();
                break;
            case ExecutionDataType.FillNotification:
                var fillQty = order.FillsLeft <= 1 ? order.Quantity - order.Filled : Math.Max(1, Math.Floor((order.Quantity - order.Filled) / order.FillsLeft));
                order.Filled += fillQty;
                order.FillsLeft--;
                var complete = order.FillsLeft <= 0;
                payload = new FillNotification(order.OrderId, $"F{++_nextFill:D9}", order.Instrument, order.Side, fillQty,
                    Price(order.LimitPrice), order.Venue, timestamp, Math.Round(fillQty * 0.005m, 2), FillExecType.Trade, null, order.Portfolio, "USD");
                state = complete ? "complete" : "partial";
                if (complete)
                {
                    order = NewOrder();
                }

                break;
            case ExecutionDataType.ExecutionReport:
                var status = order.Filled == 0 ? OrderStatus.New : order.Filled >= order.Quantity ? OrderStatus.Filled : OrderStatus.PartiallyFilled;
                payload = new ExecutionReport($"R{_emitted:D10}", order.OrderId, order.Portfolio, order.Instrument, order.Side, status, order.Quantity,
                    order.Filled, order.Quantity - order.Filled, order.Filled == 0 ? 0m : order.LimitPrice, null, null, order.Venue, timestamp, null);
                state = WireNames.OrderStatuses[(int)status].ToLowerInvariant();
                break;
            case ExecutionDataType.SettlementUpdate:
                var settlement = (SettlementStatus)(NextU64() % 4);
                payload = new SettlementUpdate($"S{_emitted:D10}", $"F{Math.Max(1, _nextFill):D9}", order.OrderId, order.Portfolio, order.Instrument,
                    Math.Max(1m, order.Filled), Math.Max(1m, order.Filled) * order.LimitPrice, "USD", DateOnly.FromDateTime(timestamp).AddDays(1),
                    settlement, "DTC", "BROKER-A", null, timestamp);
                state = WireNames.SettlementStatuses[(int)settlement].ToLowerInvariant();
                break;
            default:
                var benchmark = (TcaBenchmark)(NextU64() % 5);
                payload = new TcaResult($"T{_emitted:D10}", order.OrderId, order.Portfolio, order.Instrument, benchmark, order.LimitPrice,
                    Price(order.LimitPrice), (decimal)((NextU64() % 400) / 10.0 - 20.0), null, 0.05m, timestamp);
                state = "complete";
                break;
        }

        var latencySensitive = type <= (int)ExecutionDataType.FillNotification;
        var routing = new RoutingInfo(Topics[type], RoutingKey(order.Instrument, type, state), TargetsByType[type], latencySensitive ? 1 : 5,
            DeliveryGuarantee.AtLeastOnce);
        var metadata = new ExecutionMetadata("order_management_service", order.Venue, latencySensitive, true, Compliance);
        return new ExecutionEvent(EventId(), timestamp, dataType, payload, routing, metadata);
    }

    // The order at or after `slot` (within 64) that is announced and has no request pending, else one of
    // the recently announced ones that still is, or the complement of `slot` when there is none (only at
    // the very start, before any order was announced).
    private int Tradable(int slot)
    {
        for (var probe = 0; probe < 64; probe++)
        {
            var candidate = (slot + probe) % _orders.Length;
            if (IsTradable(candidate))
            {
                return candidate;
            }
        }

        for (var attempt = 0; attempt < 16 && _announcedCount > 0; attempt++)
        {
            var candidate = _announced[(int)(NextU64() % (ulong)_announcedCount)];
            if (IsTradable(candidate))
            {
                return candidate;
            }
        }

        return ~slot;
    }

    private bool IsTradable(int slot) => _orders[slot].Updates > 0 && _orders[slot].Pending is null;

    private ExecutionEvent VenueEvent(DateTime timestamp)
    {
        var venue = Venues[(int)(NextU64() % (ulong)Venues.Length)];
        var status = (VenueState)(NextU64() % 6);
        var payload = new VenueStatus(venue, status, null, null, timestamp);
        var state = WireNames.VenueStates[(int)status].ToLowerInvariant();
        var routing = new RoutingInfo(Topics[5], RoutingKey(venue, 5, state), TargetsByType[5], 5, DeliveryGuarantee.AtLeastOnce);
        var metadata = new ExecutionMetadata("venue_gateway", venue, false, true, []);
        return new ExecutionEvent(EventId(), timestamp, ExecutionDataType.VenueStatus, payload, routing, metadata);
    }

    private static readonly string[] Kinds = ["order", "fill", "report", "settlement", "tca", "venue"];

    private static string RoutingKey(string subject, int type, string state) =>
        StringTable.Intern($"{subject}.{Kinds[type]}.{state}");

    private string EventId()
    {
        Span<byte> bytes = stackalloc byte[16];
        BitConverter.TryWriteBytes(bytes, NextU64());
        BitConverter.TryWriteBytes(bytes[8..], NextU64());
        bytes[7] = (byte)((bytes[7] & 0x0F) | 0x40); // version 4 layout, so ids look like the UUIDs producers send
        return new Guid(bytes).ToString();
    }

    private decimal Price(decimal reference) => Math.Round(reference * (1m + (((int)(NextU64() % 200) - 100) / 10_000m)), 2);

    private LiveOrder NewOrder()
    {
        var instrument = InstrumentSymbols[ZipfRank() - 1];
        var quantity = 100m * (1 + (long)(NextU64() % 50));
        var price = 10m + ((NextU64() % 49_000) / 100m);
        return new LiveOrder
        {
            OrderId = $"ORD-{_seed % 10_000:D4}-{_nextOrder++:D9}",
            Instrument = instrument,
            Portfolio = Portfolios[(int)(NextU64() % PortfolioCount)],
            Venue = Venues[(int)(NextU64() % (ulong)Venues.Length)],
            Side = (NextU64() & 1) == 0 ? Side.Buy : Side.Sell,
            Quantity = quantity,
            LimitPrice = price,
            FillsLeft = 1 + (int)(NextU64() % 5),
        };
    }

    private int ZipfRank()
    {
        var u = (NextU64() >> 11) * (1.0 / (1UL << 53));
        var index = Array.BinarySearch(_zipfCdf, u);
        if (index < 0)
        {
            index = ~index;
        }

        return Math.Min(index + 1, InstrumentCount);
    }

    private ulong NextU64()
    {
        var rng = new SplitMix64(_state);
        var value = rng.Next();
        _state = rng.State;
        return value;
    }

    private struct LiveOrder
    {
        public string OrderId;
        public string Instrument;
        public string Portfolio;
        public string Venue;
        public Side Side;
        public decimal Quantity;
        public decimal LimitPrice;
        public decimal Filled;
        public int FillsLeft;
        public int Updates;
        public OrderExecType? Pending;
    }
}

/// <summary>SplitMix64: a tiny, fast, well-distributed generator whose output never changes between runtimes.</summary>
public struct SplitMix64
{
    /// <summary>Creates the generator from a seed.</summary>
    public SplitMix64(ulong seed) => State = seed;

    /// <summary>Current state.</summary>
    public ulong State { get; private set; }

    /// <summary>The next 64 random bits.</summary>
    public ulong Next()
    {
        State += 0x9E3779B97F4A7C15UL;
        var z = State;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
