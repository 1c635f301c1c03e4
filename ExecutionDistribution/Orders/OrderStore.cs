using System.Text.Json;
using System.Text.Json.Serialization;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Hosting;

namespace ExecutionDistribution.Orders;

/// <summary>One order's status after a change, with the facts' version and its fills (for the cache).</summary>
/// <param name="OrderId">The order.</param>
/// <param name="StatusJson">Its status as the REST API writes it.</param>
/// <param name="Version">The number of facts it derives from; grows with every new fact.</param>
/// <param name="FillsJson">Every fill, bust and correction of the order (<see cref="OrderJson.Fills"/>).</param>
internal sealed record OrderChange(string OrderId, byte[] StatusJson, int Version, byte[] FillsJson);

/// <summary>
/// The query side of orders: where the facts of each order are kept and statuses read from. PostgreSQL
/// (orders, order_updates, fills) when configured, otherwise the in-memory projection.
/// </summary>
internal interface IOrderStore
{
    /// <summary>Stores the facts among <paramref name="events"/> (each once) and returns the orders they changed.</summary>
    Task<IReadOnlyList<OrderChange>> WriteAsync(IReadOnlyList<ExecutionEvent> events, CancellationToken cancellationToken);

    /// <summary>An order's status as JSON and its version, or null when unknown.</summary>
    Task<(byte[] Json, int Version)?> StatusAsync(string orderId, CancellationToken cancellationToken);

    /// <summary>An order's fills (<see cref="OrderJson.Fills"/>) and its version, or null when unknown.</summary>
    Task<(byte[] Json, int Version)?> FillsAsync(string orderId, CancellationToken cancellationToken);

    /// <summary>The order a fill belongs to, or null when unknown.</summary>
    Task<string?> OrderOfFillAsync(string fillId, CancellationToken cancellationToken);

    /// <summary>The stored facts of these orders (those it has any of); none for the in-memory store.</summary>
    Task<IReadOnlyList<OrderFacts>> FactsAsync(IReadOnlyList<string> orderIds, CancellationToken cancellationToken);

    /// <summary>The execution report of a portfolio over [start, end].</summary>
    Task<PortfolioExecutionReport> ReportAsync(string portfolioId, DateOnly start, DateOnly end, CancellationToken cancellationToken);

    /// <summary>The portfolio of the <paramref name="limit"/> most recently changed orders (none for the in-memory store, which starts empty).</summary>
    Task<IReadOnlyList<(string OrderId, string PortfolioId)>> RecentPortfoliosAsync(int limit, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<(string, string)>>([]);
}

/// <summary>How statuses and fills are written as JSON for the cache and the orders table.</summary>
internal static class OrderJson
{
    private static readonly JsonSerializerOptions StatusOptions = ApiJson.For(OrderStatusJson.Default);

    // Fills as stored since the first version: snake_case, timestamps as System.Text.Json writes them.
    private static readonly JsonSerializerOptions FillOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, TypeInfoResolver = FillJson.Default };

    /// <summary>A status as the REST API writes it.</summary>
    public static byte[] Status(OrderExecutionStatus status) => JsonSerializer.SerializeToUtf8Bytes(status, StatusOptions);

    /// <summary>Every fill of an order (trades, busts, corrections), as stored in <c>fills:{order_id}</c>.</summary>
    public static byte[] Fills(IEnumerable<FillNotification> fills) => JsonSerializer.SerializeToUtf8Bytes(fills.ToArray(), FillOptions);

    /// <summary>The fills read back.</summary>
    public static FillNotification[] ReadFills(ReadOnlySpan<byte> json) => JsonSerializer.Deserialize<FillNotification[]>(json, FillOptions) ?? [];

    /// <summary>The details of one fill of an order, from the order's fills.</summary>
    public static FillDetails? Fill(string orderId, ReadOnlySpan<byte> fillsJson, string fillId)
    {
        var facts = new OrderFacts(orderId);
        foreach (var f in ReadFills(fillsJson))
        {
            facts.Add(f);
        }

        return facts.Fill(fillId);
    }
}

/// <summary>The in-memory projection as the store (no PostgreSQL configured).</summary>
internal sealed class ProjectionOrderStore(OrderStateProjection projection, IOrderCache cache) : IOrderStore
{
    public Task<IReadOnlyList<OrderChange>> WriteAsync(IReadOnlyList<ExecutionEvent> events, CancellationToken cancellationToken)
    {
        // The feeder has applied them to the projection already; report the orders they touched, for the cache.
        if (!cache.IsEnabled)
        {
            return Task.FromResult<IReadOnlyList<OrderChange>>([]);
        }

        var changes = new List<OrderChange>();
        foreach (var orderId in events.Select(e => e.OrderId).OfType<string>().Distinct(StringComparer.Ordinal))
        {
            if (projection.Facts(orderId) is { } f)
            {
                changes.Add(new OrderChange(orderId, OrderJson.Status(f.Status), f.Version, OrderJson.Fills(f.Fills)));
            }
        }

        return Task.FromResult<IReadOnlyList<OrderChange>>(changes);
    }

    public Task<(byte[] Json, int Version)?> StatusAsync(string orderId, CancellationToken cancellationToken) =>
        Task.FromResult(projection.Facts(orderId) is { } f ? (OrderJson.Status(f.Status), f.Version) : ((byte[], int)?)null);

    public Task<(byte[] Json, int Version)?> FillsAsync(string orderId, CancellationToken cancellationToken) =>
        Task.FromResult(projection.Facts(orderId) is { } f ? (OrderJson.Fills(f.Fills), f.Version) : ((byte[], int)?)null);

    public Task<string?> OrderOfFillAsync(string fillId, CancellationToken cancellationToken) => Task.FromResult(projection.OrderOfFill(fillId));

    public Task<IReadOnlyList<OrderFacts>> FactsAsync(IReadOnlyList<string> orderIds, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<OrderFacts>>([]);

    public Task<PortfolioExecutionReport> ReportAsync(string portfolioId, DateOnly start, DateOnly end, CancellationToken cancellationToken) =>
        Task.FromResult(projection.Report(portfolioId, start, end));
}

/// <summary>Order statuses in the API's JSON, by the source generator.</summary>
[JsonSerializable(typeof(OrderExecutionStatus))]
internal sealed partial class OrderStatusJson : JsonSerializerContext;

/// <summary>Stored fills, by the source generator.</summary>
[JsonSerializable(typeof(FillNotification[]))]
internal sealed partial class FillJson : JsonSerializerContext;
