using ExecutionDistribution.Core;
using ExecutionDistribution.Hosting;
using ExecutionDistribution.Security;

namespace ExecutionDistribution.Api;

/// <summary>
/// What an operator reads besides <c>/health</c>: <c>/api/v1/distribution/stats</c> (the dispatch
/// core's counters) and <c>/api/v1/memory</c> (the process's memory and each store's share of it).
/// </summary>
internal static class OperationsApi
{
    public static IEndpointRouteBuilder MapOperationsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1").WithTags("Operations").RequireAuthorization(Scopes.Operations);
        group.MapGet("/distribution/stats", (FanOutDispatcher core) => TypedResults.Ok(core.GetStats()));
        group.MapGet("/distribution/subscribers", (FanOutDispatcher core, int? slowest) => slowest is < 1 or > 1000
            ? Results.ValidationProblem(new Dictionary<string, string[]> { ["slowest"] = ["must be between 1 and 1000"] })
            : Results.Ok(core.Slowest(slowest ?? 10))).Produces<SubscriberLag[]>().ProducesValidationProblem();
        group.MapGet("/memory", (IEnumerable<IMemoryReporter> reporters) =>
        {
            var gc = GC.GetGCMemoryInfo();
            using var process = System.Diagnostics.Process.GetCurrentProcess();
            return Results.Ok(new MemoryView(
                new ProcessMemory(process.WorkingSet64, gc.HeapSizeBytes, gc.TotalCommittedBytes),
                reporters.OrderBy(r => r.Store, StringComparer.Ordinal).ToDictionary(r => r.Store, r => r.Report())));
        }).Produces<MemoryView>();
        return app;
    }

    /// <summary><c>GET /api/v1/memory</c>: the process, and each store against its bound.</summary>
    internal sealed record MemoryView(ProcessMemory Process, Dictionary<string, StoreMemory> Stores);

    /// <summary>The process's memory as the OS and the GC see it.</summary>
    internal sealed record ProcessMemory(long WorkingSetBytes, long ManagedHeapBytes, long GcCommittedBytes);
}
