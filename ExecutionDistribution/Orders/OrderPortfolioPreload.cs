using ExecutionDistribution.Core;

namespace ExecutionDistribution.Orders;

/// <summary>
/// At start, before ingest: the portfolio of the most recently changed orders from the order store
/// (PostgreSQL) into the dispatcher's order-to-portfolio table, so that entitlements know a fill of an
/// order created before this instance started (a restart, a gateway that starts at the partitions'
/// ends) by its order's portfolio. The in-memory store starts empty and has none.
/// </summary>
internal sealed partial class OrderPortfolioPreload(FanOutDispatcher core, IOrderStore store, ILogger<OrderPortfolioPreload> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var known = await store.RecentPortfoliosAsync(core.Portfolios.PreloadCapacity, cancellationToken).ConfigureAwait(false);
        core.Portfolios.Preload(known);
        if (known.Count > 0)
        {
            LogPreloaded(logger, known.Count);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "The portfolios of {Count} orders read from the order store, for entitlements")]
    private static partial void LogPreloaded(ILogger logger, int count);
}
