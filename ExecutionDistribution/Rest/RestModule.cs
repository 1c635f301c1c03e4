using ExecutionDistribution.Orders;

namespace ExecutionDistribution.Rest;

/// <summary>
/// Maps the spec's REST lookups over the order-state projection (Orders module):
/// <c>GET /api/v1/execution/{order_id}/status</c> and <c>GET /api/v1/execution/fills/{trade_id}</c>.
/// In memory for now (the embedded default); issue 5 puts PostgreSQL and the Redis cache behind them.
/// </summary>
internal static class RestModule
{
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
}
