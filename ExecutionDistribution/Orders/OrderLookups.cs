namespace ExecutionDistribution.Orders;

/// <summary>
/// The cache in front of the order store (Redis, when configured): <c>exec_status:{order_id}</c> and
/// <c>fills:{order_id}</c>, each written only over an older version. Reads answer null on a miss or
/// whenever the cache cannot be trusted or reached; callers then read the store.
/// </summary>
internal interface IOrderCache
{
    /// <summary>False when no cache is configured (nothing to write through).</summary>
    bool IsEnabled { get; }

    /// <summary>Writes the changed orders through (after the store has them). Never throws.</summary>
    Task WriteThroughAsync(IReadOnlyList<OrderChange> changes);

    /// <summary>A cached status, or null.</summary>
    Task<byte[]?> StatusAsync(string orderId);

    /// <summary>Cached fills, or null.</summary>
    Task<byte[]?> FillsAsync(string orderId);

    /// <summary>Caches a status read from the store (unless a newer one is cached). Never throws.</summary>
    Task PutStatusAsync(string orderId, byte[] json, int version);

    /// <summary>Caches fills read from the store (unless newer ones are cached). Never throws.</summary>
    Task PutFillsAsync(string orderId, byte[] json, int version);
}

/// <summary>No cache configured.</summary>
internal sealed class NoOrderCache : IOrderCache
{
    public bool IsEnabled => false;

    public Task WriteThroughAsync(IReadOnlyList<OrderChange> changes) => Task.CompletedTask;

    public Task<byte[]?> StatusAsync(string orderId) => Task.FromResult<byte[]?>(null);

    public Task<byte[]?> FillsAsync(string orderId) => Task.FromResult<byte[]?>(null);

    public Task PutStatusAsync(string orderId, byte[] json, int version) => Task.CompletedTask;

    public Task PutFillsAsync(string orderId, byte[] json, int version) => Task.CompletedTask;
}

/// <summary>
/// The REST lookups: read through the cache, then the store, filling the cache on a miss. A read never
/// returns a status older than one served before: the store is written before the cache, both only
/// ever move to a newer version, and a cache that missed a write is bypassed until it is healed.
/// </summary>
internal sealed class OrderLookups(IOrderStore store, IOrderCache cache)
{
    /// <summary>The status of an order as JSON, or null when unknown.</summary>
    public async Task<byte[]?> StatusJsonAsync(string orderId, CancellationToken cancellationToken)
    {
        if (await cache.StatusAsync(orderId).ConfigureAwait(false) is { } cached)
        {
            return cached;
        }

        if (await store.StatusAsync(orderId, cancellationToken).ConfigureAwait(false) is not { } stored)
        {
            return null;
        }

        await cache.PutStatusAsync(orderId, stored.Json, stored.Version).ConfigureAwait(false);
        return stored.Json;
    }

    /// <summary>A fill with its corrections history, or null when unknown.</summary>
    public async Task<FillDetails?> FillAsync(string fillId, CancellationToken cancellationToken)
    {
        if (await store.OrderOfFillAsync(fillId, cancellationToken).ConfigureAwait(false) is not { } orderId)
        {
            return null;
        }

        var fills = await cache.FillsAsync(orderId).ConfigureAwait(false);
        if (fills is null)
        {
            if (await store.FillsAsync(orderId, cancellationToken).ConfigureAwait(false) is not { } stored)
            {
                return null;
            }

            await cache.PutFillsAsync(orderId, stored.Json, stored.Version).ConfigureAwait(false);
            fills = stored.Json;
        }

        return OrderJson.Fill(orderId, fills, fillId);
    }

    /// <summary>The execution report of a portfolio.</summary>
    public Task<PortfolioExecutionReport> ReportAsync(string portfolioId, DateOnly start, DateOnly end, CancellationToken cancellationToken) =>
        store.ReportAsync(portfolioId, start, end, cancellationToken);
}
