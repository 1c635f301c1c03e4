using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Orders;

/// <summary>Retention of the order-state projection (section <c>Orders</c>).</summary>
public sealed class OrdersOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Orders";

    /// <summary>A done order is forgotten this long after its last activity (the spec keeps fills:{order_id} 24 h).</summary>
    public TimeSpan RetainDoneOrdersFor { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Most orders kept; past it the least recently active are forgotten.</summary>
    public int MaxOrders { get; set; } = 1_000_000;

    /// <summary>
    /// Order statuses kept in process in front of Redis (with PostgreSQL configured), written after
    /// PostgreSQL and Redis by the same feeder and only over an older version; 0 turns it off.
    /// </summary>
    public int NearCacheEntries { get; set; } = 200_000;
}

/// <summary>Validates the order settings at start, naming the bad key.</summary>
internal sealed class OrdersOptionsValidator : IValidateOptions<OrdersOptions>
{
    public ValidateOptionsResult Validate(string? name, OrdersOptions o)
    {
        var failures = new List<string>();
        OptionRules.Range(failures, OrdersOptions.SectionName, nameof(o.RetainDoneOrdersFor), o.RetainDoneOrdersFor, TimeSpan.FromMinutes(1), TimeSpan.FromDays(365));
        OptionRules.Range(failures, OrdersOptions.SectionName, nameof(o.MaxOrders), o.MaxOrders, 1_000, 100_000_000);
        OptionRules.Range(failures, OrdersOptions.SectionName, nameof(o.NearCacheEntries), o.NearCacheEntries, 0, 10_000_000);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
