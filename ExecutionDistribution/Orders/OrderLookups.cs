
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
/// The REST lookups: read through the caches, then the store, filling the caches on a miss. With
/// PostgreSQL, statuses are first looked up in process (<see cref="NearCache"/>), then in Redis, then
/// in PostgreSQL. A read never returns a status older than one served before: writes go store, then
/// Redis, then the near cache, each only ever moving to a newer version; a reader reaches a later
/// level only when the earlier one lacks the order, and fills it from what is at least as new; a
/// Redis that missed a write is bypassed until it is healed.
/// </summary>
internal sealed class OrderLookups(IOrderStore store, IOrderCache cache, Microsoft.Extensions.Options.IOptions<OrdersOptions> options, OrderStateProjection projection)
{
    /// <summary>
    /// The current state of the watched orders and the log position it reflects (a stream starting
    /// there continues it with no gap and no repeat). Orders the projection has not seen in this run
    /// are first loaded from the store, so an order known before a restart is in the snapshot.
    /// </summary>
    public async Task<(IReadOnlyList<OrderExecutionStatus> Orders, long Position)> SnapshotAsync(IReadOnlyCollection<string> orderIds, CancellationToken cancellationToken)
    {
        var unknown = projection.Unknown(orderIds);
        if (unknown.Count > 0)
        {
            projection.Hydrate(await store.FactsAsync(unknown, cancellationToken).ConfigureAwait(false));
        }

        var orders = projection.Snapshot(orderIds, out var position);
        return (orders, position);
    }

    private readonly NearCache? _near = store is ProjectionOrderStore || options.Value.NearCacheEntries == 0 ? null : new NearCache(options.Value.NearCacheEntries);

    /// <summary>The feeder stored and cached these changes: the near cache takes them.</summary>
    public void Published(IReadOnlyList<OrderChange> changes)
    {
        if (_near is null)
        {
            return;
        }

        foreach (var c in changes)
        {
            _near.Offer(c.OrderId, c.StatusJson, c.Version);
        }
    }

    /// <summary>The status of an order as JSON, or null when unknown.</summary>
    public ValueTask<byte[]?> StatusJsonAsync(string orderId, CancellationToken cancellationToken)
    {
        if (_near is not null)
        {
            var near = _near.Get(orderId);
            OrderMetrics.NearLookup(near is not null);
            if (near is not null)
            {
                return ValueTask.FromResult<byte[]?>(near);
            }
        }

        return StatusFromCachesAsync(orderId, cancellationToken);
    }

    private async ValueTask<byte[]?> StatusFromCachesAsync(string orderId, CancellationToken cancellationToken)
    {
        var cached = await cache.StatusAsync(orderId).ConfigureAwait(false);
        OrderMetrics.RedisLookup(cache, cached is not null);
        if (cached is not null)
        {
            return cached; // the near cache is not filled from Redis: its version is not read there
        }

        if (await store.StatusAsync(orderId, cancellationToken).ConfigureAwait(false) is not { } stored)
        {
            return null;
        }

        await cache.PutStatusAsync(orderId, stored.Json, stored.Version).ConfigureAwait(false);
        _near?.Offer(orderId, stored.Json, stored.Version);
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
        OrderMetrics.RedisLookup(cache, fills is not null);
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

/// <summary>
/// A bounded in-process map of order id to the latest status JSON and its version. Entries only move
/// to a newer version; past its capacity about a tenth of the entries are dropped (a dropped order is
/// read from Redis or PostgreSQL again, which hold at least that version).
/// </summary>
internal sealed class NearCache(int capacity)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>Entries held.</summary>
    public int Count => _entries.Count;

    /// <summary>The status held for an order, or null.</summary>
    public byte[]? Get(string orderId) => _entries.TryGetValue(orderId, out var e) ? e.Json : null;

    /// <summary>Holds <paramref name="json"/> unless a newer version is held.</summary>
    public void Offer(string orderId, byte[] json, int version)
    {
        var entry = new Entry(json, version);
        while (true)
        {
            if (!_entries.TryGetValue(orderId, out var current))
            {
                if (_entries.Count >= capacity)
                {
                    Trim();
                }

                if (_entries.TryAdd(orderId, entry))
                {
                    return;
                }
            }
            else if (current.Version >= version || _entries.TryUpdate(orderId, entry, current))
            {
                return;
            }
        }
    }

    private void Trim()
    {
        var drop = Math.Max(1, capacity / 10);
        foreach (var key in _entries.Keys)
        {
            if (drop-- <= 0)
            {
                return;
            }

            _entries.TryRemove(key, out _);
        }
    }

    private sealed record Entry(byte[] Json, int Version);
}
