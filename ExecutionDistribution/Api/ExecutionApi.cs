using ExecutionDistribution.Orders;
using ExecutionDistribution.Security;

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
        var group = app.MapGroup("/api/v1/execution").WithTags("Execution").RequireAuthorization(Scopes.Read);
        group.MapGet("/{order_id}/status", (string order_id, HttpContext http, OrderLookups orders, CancellationToken ct) =>
        {
            // A near-cache hit completes synchronously: no state machine, no task, on the hot lookup.
            var rights = CallerRights.Of(http.User);
            var pending = orders.StatusJsonAsync(order_id, ct);
            return pending.IsCompletedSuccessfully ? ValueTask.FromResult(StatusResult(Visible(pending.Result, rights), order_id)) : AwaitStatus(pending, order_id, rights);
        })
            .Produces<OrderExecutionStatus>()
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/reports/{portfolio_id}", Report)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .Produces<PortfolioExecutionReport>()
            .ProducesValidationProblem();
        group.MapGet("/fills/{trade_id}", async (string trade_id, HttpContext http, OrderLookups orders, CancellationToken ct) =>
            await orders.FillAsync(trade_id, ct).ConfigureAwait(false) is { } fill && await MaySeeOrderAsync(CallerRights.Of(http.User), fill.OrderId, orders, ct).ConfigureAwait(false)
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

    private static async ValueTask<IResult> AwaitStatus(ValueTask<byte[]?> pending, string orderId, CallerRights rights) =>
        StatusResult(Visible(await pending.ConfigureAwait(false), rights), orderId);

    // What belongs to a portfolio the caller is not entitled to is answered as unknown (404, not 403: ids do not leak).
    private static byte[]? Visible(byte[]? status, CallerRights rights) =>
        status is null || rights.Portfolios.IsEvery || Entitlements.MaySee(rights, PortfolioOf(status)) ? status : null;

    private static async Task<bool> MaySeeOrderAsync(CallerRights rights, string orderId, OrderLookups orders, CancellationToken ct) =>
        rights.Portfolios.IsEvery || Visible(await orders.StatusJsonAsync(orderId, ct).ConfigureAwait(false), rights) is not null;

    // The portfolio_id of an order status document (a top-level property).
    private static string? PortfolioOf(byte[] status)
    {
        var reader = new System.Text.Json.Utf8JsonReader(status);
        while (reader.Read())
        {
            if (reader.CurrentDepth == 1 && reader.TokenType == System.Text.Json.JsonTokenType.PropertyName && reader.ValueTextEquals("portfolio_id"u8))
            {
                return reader.Read() && reader.TokenType == System.Text.Json.JsonTokenType.String ? reader.GetString() : null;
            }

            if (reader.CurrentDepth >= 1 && reader.TokenType is System.Text.Json.JsonTokenType.StartObject or System.Text.Json.JsonTokenType.StartArray)
            {
                reader.Skip();
            }
        }

        return null;
    }

    /// <summary>Longest range one report covers, in days.</summary>
    private const int MaxReportDays = 366;

    private static async Task<IResult> Report(string portfolio_id, string? start_date, string? end_date, HttpContext http, OrderLookups orders, CancellationToken ct)
    {
        if (!Entitlements.MaySee(CallerRights.Of(http.User), portfolio_id))
        {
            return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown portfolio", detail: $"No portfolio '{portfolio_id}' is known to this caller.");
        }

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
