using ExecutionDistribution.Contract;
using ExecutionDistribution.Distribution;

namespace ExecutionDistribution.Rest;

/// <summary>
/// Registers the spec's REST lookups over the order-state projection:
/// <c>GET /api/v1/execution/{order_id}/status</c> and <c>GET /api/v1/execution/fills/{trade_id}</c>.
/// In memory for now (the embedded default); issue 5 puts PostgreSQL and the Redis cache behind them.
/// </summary>
internal static class RestModule
{
    public static WebApplicationBuilder AddRestModule(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<OrderStateProjection>();
        builder.Services.AddHostedService<OrderProjectionFeeder>();
        return builder;
    }

    public static IEndpointRouteBuilder MapRestApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/execution").WithTags("Execution");
        group.MapGet("/{order_id}/status", (string order_id, OrderStateProjection orders) =>
            orders.GetStatus(order_id) is { } status
                ? Results.Ok(status)
                : Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown order", detail: $"No execution is known for order_id '{order_id}'."))
            .Produces<OrderExecutionStatus>()
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/fills/{trade_id}", (string trade_id, OrderStateProjection orders) =>
            orders.GetFill(trade_id) is { } fill
                ? Results.Ok(fill)
                : Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown fill", detail: $"No fill is known with trade_id '{trade_id}'."))
            .Produces<FillDetails>()
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    /// <summary>
    /// Feeds the projection from the core: an at_least_once subscriber of order updates and fills,
    /// attached at start before any ingest, read on its own task (never on the dispatch path).
    /// </summary>
    private sealed class OrderProjectionFeeder(FanOutDispatcher core, OrderStateProjection orders) : IHostedService
    {
        private Subscriber? _subscriber;
        private Task? _loop;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            _subscriber = core.Subscribe("order-state-projection", new SubscriptionFilter
            {
                DataTypes = new HashSet<ExecutionDataType> { ExecutionDataType.OrderUpdate, ExecutionDataType.FillNotification },
            }, DeliveryGuarantee.AtLeastOnce);
            _loop = Task.Run(RunAsync, CancellationToken.None);
            return Task.CompletedTask;
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            if (_subscriber is not null)
            {
                core.Unsubscribe(_subscriber);
            }

            if (_loop is not null)
            {
                await _loop.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            }
        }

        private async Task RunAsync()
        {
            var subscriber = _subscriber!;
            var batch = new DeliveryBatch(256);
            while (await subscriber.WaitToReadAsync().ConfigureAwait(false))
            {
                while (subscriber.TryReadBatch(batch))
                {
                    foreach (var d in batch.Deliveries)
                    {
                        orders.Apply(d.Event);
                    }
                }
            }
        }
    }
}
