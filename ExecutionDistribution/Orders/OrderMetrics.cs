using System.Diagnostics.Metrics;
using ExecutionDistribution.Hosting;

namespace ExecutionDistribution.Orders;

/// <summary>The order lookups' instruments (meter <c>ExecDist.Orders</c>): cache lookups by cache (<c>near</c>, <c>redis</c>) and result.</summary>
internal static class OrderMetrics
{
    private static readonly Meter Meter = new($"{Telemetry.MeterPrefix}Orders");

    private static readonly Counter<long> Lookups = Meter.CreateCounter<long>("execdist.cache.lookups", "{lookup}",
        "Order status and fill lookups answered by a cache (hit) or passed on (miss)");

    private static readonly KeyValuePair<string, object?> Hit = new("result", "hit");
    private static readonly KeyValuePair<string, object?> Miss = new("result", "miss");
    private static readonly KeyValuePair<string, object?> Near = new("cache", "near");
    private static readonly KeyValuePair<string, object?> Redis = new("cache", "redis");

    /// <summary>A lookup of the in-process near cache.</summary>
    public static void NearLookup(bool hit) => Lookups.Add(1, Near, hit ? Hit : Miss);

    /// <summary>A lookup of Redis (none without it).</summary>
    public static void RedisLookup(IOrderCache cache, bool hit)
    {
        if (cache is not NoOrderCache)
        {
            Lookups.Add(1, Redis, hit ? Hit : Miss);
        }
    }
}
