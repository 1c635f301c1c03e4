using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Hosting;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Orders;

/// <summary>
/// Registers the order-state projection and the core subscriber that feeds it. Registered right after
/// the dispatch core, so it subscribes before any ingest starts. Read by the REST lookups and by the
/// streams' order snapshots.
/// </summary>
internal static partial class OrdersModule
{
    public static WebApplicationBuilder AddOrdersModule(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<OrdersOptions, OrdersOptionsValidator>(builder.Configuration, OrdersOptions.SectionName);
        builder.Services.AddSingleton<OrderStateProjection>();
        builder.Services.AddSingleton<OrderLookups>();
        if (ClusterOptions.From(builder.Configuration).Processes)
        {
            // Work done once per event cluster-wide: a gateway leaves it to the processors.
            builder.Services.AddSingleton<OrderProjectionFeeder>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<OrderProjectionFeeder>());
            builder.Services.AddSingleton<IDurableHold>(sp => sp.GetRequiredService<OrderProjectionFeeder>());
        }

        builder.Services.AddHostedService<OrderPortfolioPreload>(); // before any ingest starts
        builder.Services.AddHostedService<OrderEviction>();
        builder.Services.AddSingleton<IMemoryReporter, OrderMemory>();
        return builder;
    }

    /// <summary>The order projection (<see cref="OrderStateProjection.EstimatedBytes"/>) and the near cache in front of Redis.</summary>
    private sealed class OrderMemory(OrderStateProjection orders, IOptions<OrdersOptions> options) : IMemoryReporter
    {
        public string Store => "orders";

        public StoreMemory Report()
        {
            var o = options.Value;
            return new StoreMemory(orders.Count, orders.EstimatedBytes, o.MaxOrders, o.MaxBytes,
                $"done orders leave Orders:RetainDoneOrdersFor ({o.RetainDoneOrdersFor}) after the service last learnt of them; past a bound (checked every {o.SweepInterval}) done orders, then the least recently active, are forgotten");
        }
    }

    /// <summary>Sweeps the projection every <c>Orders:SweepInterval</c> so its memory stays bounded.</summary>
    private sealed class OrderEviction(OrderStateProjection orders, IOptions<OrdersOptions> options, TimeProvider time) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            using var timer = new PeriodicTimer(options.Value.SweepInterval, time);
            try
            {
                while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
                {
                    var o = options.Value;
                    orders.Evict(time.GetUtcNow().UtcDateTime - o.RetainDoneOrdersFor, o.MaxOrders, o.MaxBytes);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // Stopping.
            }
        }
    }

    /// <summary>
    /// Feeds the projection from the core: an at_least_once subscriber of order updates and fills,
    /// attached at start before any ingest, read on its own task (never on the dispatch path). Each
    /// batch is applied to the projection, stored (PostgreSQL, retried until it succeeds: a fact is
    /// never skipped) and then written through to the cache.
    /// </summary>
    internal sealed partial class OrderProjectionFeeder(
        FanOutDispatcher core, OrderStateProjection orders, IOrderStore store, IOrderCache cache, OrderLookups lookups, TimeProvider time, ILogger<OrderProjectionFeeder> logger)
        : IHostedService, IDurableHold
    {
        private readonly CancellationTokenSource _stopping = new();
        private long _storedBefore;

        /// <summary>
        /// With PostgreSQL, Kafka keeps every event the order store has not stored yet (so a crash never
        /// loses an order fact); the in-memory store holds nothing.
        /// </summary>
        public long SafeBefore(Guid epoch, long tail) =>
            store is ProjectionOrderStore ? long.MaxValue : Math.Max(Volatile.Read(ref _storedBefore), tail);
        private Subscriber? _subscriber;
        private Task? _loop;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            _subscriber = core.Subscribe("order-state-projection", new SubscriptionFilter
            {
                DataTypes = new HashSet<ExecutionDataType> { ExecutionDataType.OrderUpdate, ExecutionDataType.FillNotification },
            }, DeliveryGuarantee.AtLeastOnce);
            orders.StartAt(_subscriber.StartPosition);
            Volatile.Write(ref _storedBefore, _subscriber.StartPosition);
            _loop = Task.Run(RunAsync, CancellationToken.None);
            return Task.CompletedTask;
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
            if (_subscriber is not null)
            {
                core.Unsubscribe(_subscriber);
            }

            if (_loop is not null)
            {
                try
                {
                    await _loop.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // Still applying a large backlog: leave it (what is not stored yet is held in Kafka).
                    LogStopTimedOut(logger);
                }
            }
        }

        private async Task RunAsync()
        {
            var subscriber = _subscriber!;
            var batch = new DeliveryBatch(256);
            var events = new List<ExecutionEvent>(batch.Capacity);
            try
            {
                while (await subscriber.WaitToReadAsync().ConfigureAwait(false))
                {
                    while (subscriber.TryReadBatch(batch))
                    {
                        events.Clear();
                        foreach (var d in batch.Deliveries)
                        {
                            events.Add(d.Event);
                        }

                        // An order first seen in this run may have facts stored by an earlier run: load them
                        // first, so the projection (and the snapshots it serves) derive from all of them.
                        var unknown = orders.Unknown(events.Select(e => e.OrderId).OfType<string>().Distinct(StringComparer.Ordinal));
                        if (unknown.Count > 0)
                        {
                            orders.Hydrate(await RetryAsync(() => store.FactsAsync(unknown, _stopping.Token), unknown.Count).ConfigureAwait(false));
                        }

                        orders.ApplyEvents(events, batch.ResumePosition);
                        var changes = await StoreAsync(events).ConfigureAwait(false);
                        Volatile.Write(ref _storedBefore, batch.ResumePosition);
                        await cache.WriteThroughAsync(changes).ConfigureAwait(false);
                        lookups.Published(changes);
                    }
                }
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                // Stopping while the store was unreachable: the events are read again from Kafka after restart.
            }
        }

        private Task<IReadOnlyList<OrderChange>> StoreAsync(List<ExecutionEvent> events) => RetryAsync(() => store.WriteAsync(events, _stopping.Token), events.Count);

        // Until it succeeds (or the service stops), with backoff: an order fact is never skipped.
        private async Task<T> RetryAsync<T>(Func<Task<T>> attempt, int count)
        {
            var delay = TimeSpan.FromMilliseconds(100);
            while (true)
            {
                try
                {
                    return await attempt().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogStoreFailed(logger, count, ex.Message);
                    await Task.Delay(delay, time, _stopping.Token).ConfigureAwait(false);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
                }
            }
        }

        [LoggerMessage(EventId = 4000, Level = LogLevel.Warning, Message = "The order feeder did not finish its backlog within 5 s of stopping")]
        private static partial void LogStopTimedOut(ILogger logger);

        [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "Order store failed ({Count} facts or orders), retrying: {Reason}")]
        private static partial void LogStoreFailed(ILogger logger, int count, string reason);
    }
}
