using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Orders;

/// <summary>An order's status and quantities as FIX states them (<see cref="OrderLifecycle.Derive"/>).</summary>
/// <param name="Status">OrdStatus, the highest in FIX's precedence of the states that hold.</param>
/// <param name="Terms">The update whose terms stand (quantity, side, portfolio), if any.</param>
/// <param name="OrderQty">Order quantity; null until an order update gave it.</param>
/// <param name="LeavesQty">Quantity open for execution; null while the order quantity is unknown.</param>
/// <param name="IsDone">Nothing more is expected of the order (filled, canceled, expired, rejected, a day order done for the day).</param>
internal readonly record struct OrderLifecycleState(OrderStatus Status, OrderUpdate? Terms, decimal? OrderQty, decimal? LeavesQty, bool IsDone);

/// <summary>
/// The FIX 4.4 order state rules (Volume 4, order state change matrices): the order's updates are
/// read in the order they happened (update time; at equal times a request before its answer), each
/// setting or clearing a state, and OrdStatus is the state of highest precedence that holds:
/// pending cancel, pending replace, done for day, filled, canceled or expired, partially filled,
/// then new, rejected or replaced. Cumulative quantity and average price come from the live fills.
/// </summary>
internal static class OrderLifecycle
{
    /// <summary>Derives the state from every update (by event id) and fill of an order, whatever their arrival order.</summary>
    public static OrderLifecycleState Derive(IReadOnlyDictionary<string, OrderUpdate> updates, IEnumerable<FillNotification> fills, decimal cumQty)
    {
        OrderUpdate? terms = null, latest = null;
        OrderStatus? final = null;
        DateTime? doneForDayAt = null;
        bool pendingCancel = false, pendingReplace = false;
        foreach (var (_, u) in updates.OrderBy(kv => kv.Value.UpdateTime).ThenBy(kv => Rank(kv.Value.ExecType)).ThenBy(kv => kv.Key, StringComparer.Ordinal))
        {
            latest = u;
            switch (u.ExecType)
            {
                case OrderExecType.New or OrderExecType.Replaced:
                    terms = u;
                    pendingReplace &= u.ExecType != OrderExecType.Replaced;
                    doneForDayAt = null;
                    break;
                case OrderExecType.Restated:
                    terms = u;
                    doneForDayAt = null;
                    if (u.RestatementReason is RestatementReason.CancelOnTradingHalt or RestatementReason.CancelOnSystemFailure or RestatementReason.CanceledNotBest)
                    {
                        final ??= OrderStatus.Canceled;
                        pendingCancel = pendingReplace = false;
                    }

                    break;
                case OrderExecType.PendingCancel:
                    pendingCancel = final is null;
                    break;
                case OrderExecType.PendingReplace:
                    pendingReplace = final is null;
                    break;
                case OrderExecType.CancelRejected:
                    pendingCancel = false;
                    break;
                case OrderExecType.ReplaceRejected:
                    pendingReplace = false;
                    break;
                case OrderExecType.DoneForDay:
                    doneForDayAt = u.UpdateTime;
                    break;
                case OrderExecType.Canceled or OrderExecType.Expired or OrderExecType.Rejected:
                    final ??= u.ExecType switch
                    {
                        OrderExecType.Canceled => OrderStatus.Canceled,
                        OrderExecType.Expired => OrderStatus.Expired,
                        _ => OrderStatus.Rejected,
                    };
                    pendingCancel = pendingReplace = false;
                    doneForDayAt = null;
                    break;
            }
        }

        // A trade after the done-for-day report is the next day's activity of a GTC or GTD order.
        if (doneForDayAt is { } dfd && fills.Any(f => f.ExecType == FillExecType.Trade && f.ExecutionTime > dfd))
        {
            doneForDayAt = null;
        }

        var current = terms ?? latest;
        var qty = current?.OrderQty;
        var filled = qty is { } q && cumQty >= q;
        var carriesOver = current?.TimeInForce is TimeInForce.Gtc or TimeInForce.Gtd;
        var status = pendingCancel ? OrderStatus.PendingCancel
            : pendingReplace ? OrderStatus.PendingReplace
            : doneForDayAt is not null ? OrderStatus.DoneForDay
            : filled ? OrderStatus.Filled
            : final is OrderStatus.Canceled or OrderStatus.Expired ? final.Value
            : cumQty > 0 ? OrderStatus.PartiallyFilled
            : final ?? (terms?.ExecType == OrderExecType.Replaced ? OrderStatus.Replaced : OrderStatus.New);
        var done = filled || final is not null || (doneForDayAt is not null && !carriesOver);
        decimal? leaves = qty is not { } total ? null : done ? 0m : Math.Max(total - cumQty, 0m);
        return new OrderLifecycleState(status, current, qty, leaves, done && !pendingCancel && !pendingReplace);
    }

    // At equal update times: the order first, then requests, their answers, the day's end, and the final states.
    private static int Rank(OrderExecType e) => e switch
    {
        OrderExecType.New => 0,
        OrderExecType.PendingCancel or OrderExecType.PendingReplace => 1,
        OrderExecType.Replaced or OrderExecType.CancelRejected or OrderExecType.ReplaceRejected or OrderExecType.Restated => 2,
        OrderExecType.DoneForDay => 3,
        _ => 4,
    };
}
