namespace ExecutionDistribution.Api;

/// <summary>
/// The live dashboard at <c>/</c>: one page (<c>Api/Dashboard/index.html</c>, no build step) that
/// polls <c>/metrics</c>, the core's and the audit's stats and the slowest subscribers once a second.
/// </summary>
internal static class Dashboard
{
    private static readonly Lazy<byte[]> Page = new(() =>
    {
        using var stream = typeof(Dashboard).Assembly.GetManifestResourceStream("ExecutionDistribution.Api.Dashboard.index.html")
            ?? throw new InvalidOperationException("the dashboard page is not embedded");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    public static IEndpointRouteBuilder MapDashboard(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", () => Results.Bytes(Page.Value, "text/html; charset=utf-8")).ExcludeFromDescription().AllowAnonymous();
        return app;
    }
}
