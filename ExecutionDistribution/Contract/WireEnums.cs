
namespace ExecutionDistribution.Contract;

/// <summary>The kind of execution data an event carries (the spec's <c>ExecutionDataType</c>).</summary>
public enum ExecutionDataType
{
    /// <summary>A change of an order's state (new, replaced, canceled, ...).</summary>
    OrderUpdate = 0,
    /// <summary>A fill, a bust of a fill or a correction of a fill.</summary>
    FillNotification = 1,
    /// <summary>A FIX-style execution report summarising an order after an execution.</summary>
    ExecutionReport = 2,
    /// <summary>A post-trade settlement state change.</summary>
    SettlementUpdate = 3,
    /// <summary>A transaction cost analysis result for an order.</summary>
    TcaResult = 4,
    /// <summary>A venue (or an instrument on a venue) changed trading state.</summary>
    VenueStatus = 5,
}

/// <summary>Side of an order or fill.</summary>
public enum Side
{
    /// <summary>Buy.</summary>
    Buy,
    /// <summary>Sell.</summary>
    Sell,
    /// <summary>Sell short.</summary>
    SellShort,
}

/// <summary>What happened to an order (FIX ExecType for order-level events).</summary>
public enum OrderExecType
{
    /// <summary>The order was accepted.</summary>
    New,
    /// <summary>The order was amended; quantity or price may have changed.</summary>
    Replaced,
    /// <summary>The order was canceled.</summary>
    Canceled,
    /// <summary>The order was rejected.</summary>
    Rejected,
    /// <summary>The order expired (time in force).</summary>
    Expired,
    /// <summary>The order is done for the day.</summary>
    DoneForDay,
    /// <summary>A cancel was requested and is pending.</summary>
    PendingCancel,
    /// <summary>A replace was requested and is pending.</summary>
    PendingReplace,
    /// <summary>
    /// The order was restated without a request of its owner (FIX ExecType Restated): renewed the next
    /// day, changed by a corporate action, repriced, or canceled by the venue; the reason says which.
    /// </summary>
    Restated,
    /// <summary>A cancel request was rejected (FIX OrderCancelReject): the order is as before the request.</summary>
    CancelRejected,
    /// <summary>A cancel/replace request was rejected: the order keeps its terms and status from before the request.</summary>
    ReplaceRejected,
}

/// <summary>Why an order was restated (FIX ExecRestatementReason).</summary>
public enum RestatementReason
{
    /// <summary>A corporate action changed a GTC order (a split: quantity and price restated).</summary>
    GtcCorporateAction,
    /// <summary>A GTC order renewed for the next day, unchanged.</summary>
    GtcRenewal,
    /// <summary>A verbal change.</summary>
    VerbalChange,
    /// <summary>Repriced.</summary>
    Repricing,
    /// <summary>The broker's option.</summary>
    BrokerOption,
    /// <summary>Part of the order quantity declined: the order quantity is reduced.</summary>
    PartialDeclineOfOrderQty,
    /// <summary>Canceled by the venue on a trading halt: the order is canceled.</summary>
    CancelOnTradingHalt,
    /// <summary>Canceled by the venue on a system failure: the order is canceled.</summary>
    CancelOnSystemFailure,
    /// <summary>The market's option.</summary>
    MarketOption,
    /// <summary>Canceled because not at the best price: the order is canceled.</summary>
    CanceledNotBest,
    /// <summary>Any other reason (the text says which).</summary>
    Other,
}

/// <summary>FIX ExecType for fills.</summary>
public enum FillExecType
{
    /// <summary>A new fill.</summary>
    Trade,
    /// <summary>A bust: the fill named by <c>ref_fill_id</c> is void.</summary>
    TradeCancel,
    /// <summary>A correction: this fill replaces the fill named by <c>ref_fill_id</c>.</summary>
    TradeCorrect,
}

/// <summary>Order type.</summary>
public enum OrderType
{
    /// <summary>Market order.</summary>
    Market,
    /// <summary>Limit order.</summary>
    Limit,
    /// <summary>Stop order.</summary>
    Stop,
    /// <summary>Stop-limit order.</summary>
    StopLimit,
}

/// <summary>Time in force.</summary>
public enum TimeInForce
{
    /// <summary>Good for the day.</summary>
    Day,
    /// <summary>Good till canceled.</summary>
    Gtc,
    /// <summary>Immediate or cancel.</summary>
    Ioc,
    /// <summary>Fill or kill.</summary>
    Fok,
    /// <summary>At the opening.</summary>
    Opg,
    /// <summary>At the close.</summary>
    Cls,
    /// <summary>Good till a date.</summary>
    Gtd,
}

/// <summary>FIX OrdStatus, as reported in execution reports and order status lookups.</summary>
public enum OrderStatus
{
    /// <summary>Accepted, nothing filled.</summary>
    New,
    /// <summary>Part of the quantity is filled.</summary>
    PartiallyFilled,
    /// <summary>All of the quantity is filled.</summary>
    Filled,
    /// <summary>Canceled.</summary>
    Canceled,
    /// <summary>Rejected.</summary>
    Rejected,
    /// <summary>Expired.</summary>
    Expired,
    /// <summary>Done for the day.</summary>
    DoneForDay,
    /// <summary>Cancel pending.</summary>
    PendingCancel,
    /// <summary>Replace pending.</summary>
    PendingReplace,
    /// <summary>Replaced.</summary>
    Replaced,
}

/// <summary>Settlement lifecycle state.</summary>
public enum SettlementStatus
{
    /// <summary>Awaiting matching.</summary>
    Pending,
    /// <summary>Matched with the counterparty.</summary>
    Matched,
    /// <summary>Affirmed.</summary>
    Affirmed,
    /// <summary>Settled.</summary>
    Settled,
    /// <summary>Failed to settle.</summary>
    Failed,
    /// <summary>Canceled.</summary>
    Canceled,
}

/// <summary>Benchmark a TCA result is measured against.</summary>
public enum TcaBenchmark
{
    /// <summary>Arrival price.</summary>
    Arrival,
    /// <summary>Interval VWAP.</summary>
    Vwap,
    /// <summary>Interval TWAP.</summary>
    Twap,
    /// <summary>Opening price.</summary>
    Open,
    /// <summary>Closing price.</summary>
    Close,
}

/// <summary>Trading state of a venue or of an instrument on it.</summary>
public enum VenueState
{
    /// <summary>Before the open.</summary>
    PreOpen,
    /// <summary>Continuous trading.</summary>
    Open,
    /// <summary>In an auction.</summary>
    Auction,
    /// <summary>Trading halted.</summary>
    Halted,
    /// <summary>Closed.</summary>
    Closed,
    /// <summary>Open but impaired (latency, partial outage).</summary>
    Degraded,
}

/// <summary>Delivery guarantee of an event or a subscription.</summary>
public enum DeliveryGuarantee
{
    /// <summary>Never lost: a subscriber that falls behind catches up from the retained log.</summary>
    AtLeastOnce,
    /// <summary>May be dropped when a subscriber falls behind; drops are counted and announced.</summary>
    AtMostOnce,
}

/// <summary>
/// The wire names of the contract's enumerations (UPPER_SNAKE_CASE, as the spec writes
/// <c>ORDER_UPDATE</c>) and their lookup in both directions without allocation.
/// </summary>
public static class WireNames
{
    /// <summary>Wire names indexed by <see cref="ExecutionDataType"/>.</summary>
    public static readonly string[] DataTypes =
        ["ORDER_UPDATE", "FILL_NOTIFICATION", "EXECUTION_REPORT", "SETTLEMENT_UPDATE", "TCA_RESULT", "VENUE_STATUS"];

    /// <summary>Wire names indexed by <see cref="Side"/>.</summary>
    public static readonly string[] Sides = ["BUY", "SELL", "SELL_SHORT"];

    /// <summary>Wire names indexed by <see cref="OrderExecType"/>.</summary>
    public static readonly string[] OrderExecTypes =
        ["NEW", "REPLACED", "CANCELED", "REJECTED", "EXPIRED", "DONE_FOR_DAY", "PENDING_CANCEL", "PENDING_REPLACE", "RESTATED", "CANCEL_REJECTED", "REPLACE_REJECTED"];

    /// <summary>Wire names indexed by <see cref="RestatementReason"/>.</summary>
    public static readonly string[] RestatementReasons =
    [
        "GTC_CORPORATE_ACTION", "GTC_RENEWAL", "VERBAL_CHANGE", "REPRICING", "BROKER_OPTION", "PARTIAL_DECLINE_OF_ORDER_QTY",
        "CANCEL_ON_TRADING_HALT", "CANCEL_ON_SYSTEM_FAILURE", "MARKET_OPTION", "CANCELED_NOT_BEST", "OTHER",
    ];

    /// <summary>Wire names indexed by <see cref="FillExecType"/>.</summary>
    public static readonly string[] FillExecTypes = ["TRADE", "TRADE_CANCEL", "TRADE_CORRECT"];

    /// <summary>Wire names indexed by <see cref="OrderType"/>.</summary>
    public static readonly string[] OrderTypes = ["MARKET", "LIMIT", "STOP", "STOP_LIMIT"];

    /// <summary>Wire names indexed by <see cref="TimeInForce"/>.</summary>
    public static readonly string[] TimesInForce = ["DAY", "GTC", "IOC", "FOK", "OPG", "CLS", "GTD"];

    /// <summary>Wire names indexed by <see cref="OrderStatus"/>.</summary>
    public static readonly string[] OrderStatuses =
        ["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED", "EXPIRED", "DONE_FOR_DAY", "PENDING_CANCEL", "PENDING_REPLACE", "REPLACED"];

    /// <summary>Wire names indexed by <see cref="SettlementStatus"/>.</summary>
    public static readonly string[] SettlementStatuses = ["PENDING", "MATCHED", "AFFIRMED", "SETTLED", "FAILED", "CANCELED"];

    /// <summary>Wire names indexed by <see cref="TcaBenchmark"/>.</summary>
    public static readonly string[] TcaBenchmarks = ["ARRIVAL", "VWAP", "TWAP", "OPEN", "CLOSE"];

    /// <summary>Wire names indexed by <see cref="VenueState"/>.</summary>
    public static readonly string[] VenueStates = ["PRE_OPEN", "OPEN", "AUCTION", "HALTED", "CLOSED", "DEGRADED"];

    /// <summary>Wire names indexed by <see cref="DeliveryGuarantee"/> (lower case, as the spec writes <c>at_least_once</c>).</summary>
    public static readonly string[] DeliveryGuarantees = ["at_least_once", "at_most_once"];

    private static readonly Dictionary<Type, string[]> ByType = new()
    {
        [typeof(ExecutionDataType)] = DataTypes, [typeof(Side)] = Sides, [typeof(OrderExecType)] = OrderExecTypes,
        [typeof(RestatementReason)] = RestatementReasons, [typeof(FillExecType)] = FillExecTypes, [typeof(OrderType)] = OrderTypes,
        [typeof(TimeInForce)] = TimesInForce, [typeof(OrderStatus)] = OrderStatuses, [typeof(SettlementStatus)] = SettlementStatuses,
        [typeof(TcaBenchmark)] = TcaBenchmarks, [typeof(VenueState)] = VenueStates, [typeof(DeliveryGuarantee)] = DeliveryGuarantees,
    };

    /// <summary>The wire names of <typeparamref name="TEnum"/>, indexed by value.</summary>
    public static string[] Of<TEnum>()
        where TEnum : struct, Enum => ByType[typeof(TEnum)];

    /// <summary>The wire name of a data type.</summary>
    public static string Name(this ExecutionDataType value) => DataTypes[(int)value];

    /// <summary>The wire name of a delivery guarantee.</summary>
    public static string Name(this DeliveryGuarantee value) => DeliveryGuarantees[(int)value];

    /// <summary>Finds the UTF-8 <paramref name="utf8"/> among the ASCII <paramref name="names"/> (any case); -1 when absent.</summary>
    public static int IndexOf(string[] names, ReadOnlySpan<byte> utf8)
    {
        for (var i = 0; i < names.Length; i++)
        {
            if (System.Text.Ascii.EqualsIgnoreCase(utf8, names[i]))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Finds <paramref name="text"/> among <paramref name="names"/> (case-insensitive); -1 when absent.</summary>
    public static int IndexOf(string[] names, ReadOnlySpan<char> text)
    {
        for (var i = 0; i < names.Length; i++)
        {
            if (text.Equals(names[i], StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Parses a data type name such as <c>FILL_NOTIFICATION</c>.</summary>
    public static bool TryParseDataType(ReadOnlySpan<char> text, out ExecutionDataType value)
    {
        var i = IndexOf(DataTypes, text);
        value = (ExecutionDataType)Math.Max(i, 0);
        return i >= 0;
    }

    /// <summary>Parses a delivery guarantee such as <c>at_least_once</c>.</summary>
    public static bool TryParseDeliveryGuarantee(ReadOnlySpan<char> text, out DeliveryGuarantee value)
    {
        var i = IndexOf(DeliveryGuarantees, text);
        value = (DeliveryGuarantee)Math.Max(i, 0);
        return i >= 0;
    }
}
