using ExecutionDistribution.Orders;

namespace ExecutionDistribution.Api;

/// <summary>
/// Maps the spec's REST lookups over the order-state projection (Orders module):
/// <c>GET /api/v1/execution/{order_id}/status</c> and <c>GET /api/v1/execution/fills/{trade_id}</c>.
/// Read through the Redis cache (when configured) from the order store: PostgreSQL, or the in-memory
/// projection in the embedded run (see <see cref="OrderLookups"/>).
/// </summary>
internal static class ExecutionApi
{
    public static IEndpointRouteBuilder MapExecutionApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/execution").WithTags("Execution");
        group.MapGet("/{order_id}/status", (string order_id, OrderLookups orders, CancellationToken ct) =>
        {
            // A near-cache hit completes synchronously: no state machine, no task, on the hot lookup.
            var pending = orders.StatusJsonAsync(order_id, ct);
            return pending.IsCompletedSuccessfully ? ValueTask.FromResult(StatusResult(pending.Result, order_id)) : AwaitStatus(pending, order_id);
        })
            .Produces<OrderExecutionStatus>()
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/reports/{portfolio_id}", Report)
            .Produces<PortfolioExecutionReport>()
            .ProducesValidationProblem();
        group.MapGet("/fills/{trade_id}", async (string trade_id, OrderLookups orders, CancellationToken ct) =>
            await orders.FillAsync(trade_id, ct).ConfigureAwait(false) is { } fill
                ? Results.Ok(fill)
                : Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown fill", detail: $"No fill is known with trade_id '{trade_id}'."))
            .Produces<FillDetails>()
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    private static IResult StatusResult(byte[]? status, string orderId) =>
        status is not null
            ? Results.Bytes(status, "application/json")
            : Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown order", detail: $"No execution is known for order_id '{orderId}'.");

    private static async ValueTask<IResult> AwaitStatus(ValueTask<byte[]?> pending, string orderId) => StatusResult(await pending.ConfigureAwait(false), orderId);

    /// <summary>Longest range one report covers, in days.</summary>
    private const int MaxReportDays = 366;

    private static async Task<IResult> Report(string portfolio_id, string? start_date, string? end_date, OrderLookups orders, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var start = Date(start_date, "start_date", errors);
        var end = Date(end_date, "end_date", errors);
        if (start is { } s && end is { } e)
        {
            if (e < s)
            {
                errors["end_date"] = ["must not be before start_date"];
            }
            else if (e.DayNumber - s.DayNumber + 1 > MaxReportDays)
            {
                errors["end_date"] = [$"the range may cover at most {MaxReportDays} days"];
            }
        }

        return errors.Count > 0
            ? Results.ValidationProblem(errors, title: "The report parameters are invalid.")
            : Results.Ok(await orders.ReportAsync(portfolio_id, start!.Value, end!.Value, ct).ConfigureAwait(false));
    }

    private static DateOnly? Date(string? text, string name, Dictionary<string, string[]> errors)
    {
        if (string.IsNullOrEmpty(text))
        {
            errors[name] = ["is required, as yyyy-MM-dd"];
            return null;
        }

        if (!DateOnly.TryParseExact(text, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var date))
        {
            errors[name] = ["must be a date as yyyy-MM-dd"];
            return null;
        }

        return date;
    }
}
