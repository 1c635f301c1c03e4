using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Orders;

/// <summary>Retention of the order-state projection (section <c>Orders</c>).</summary>
public sealed class OrdersOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Orders";

    /// <summary>A done order is forgotten this long after the service last learnt of it, on its own clock (the spec keeps fills:{order_id} 24 h).</summary>
    [Range(typeof(TimeSpan), "00:01:00", "365.00:00:00")]
    public TimeSpan RetainDoneOrdersFor { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Most orders kept; past it done orders, then the least recently active, are forgotten.</summary>
    [Range(1000, 100000000)]
    public int MaxOrders { get; set; } = 1_000_000;

    /// <summary>Most memory the orders may take (estimated per order from its updates and fills); past it done orders, then the least recently active, are forgotten.</summary>
    [Range(typeof(long), "16777216", "1099511627776")]
    public long MaxBytes { get; set; } = 512L << 20;

    /// <summary>How often the bounds are enforced.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Order statuses kept in process in front of Redis (with PostgreSQL configured), written after
    /// PostgreSQL and Redis by the same feeder and only over an older version; 0 turns it off.
    /// </summary>
    [Range(0, 10000000)]
    public int NearCacheEntries { get; set; } = 200_000;
}

/// <summary>Validates the order settings at start (generated from the annotations).</summary>
[OptionsValidator]
internal sealed partial class OrdersOptionsValidator : IValidateOptions<OrdersOptions>;
