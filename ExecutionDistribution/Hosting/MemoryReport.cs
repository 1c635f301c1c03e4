namespace ExecutionDistribution.Hosting;

/// <summary>What one in-memory store holds and may hold.</summary>
/// <param name="Items">Items held (orders, events, rows, entries).</param>
/// <param name="EstimatedBytes">Memory they take, estimated as the store says.</param>
/// <param name="MaxItems">The store's bound by count, if any.</param>
/// <param name="MaxBytes">The store's bound by bytes, if any.</param>
/// <param name="Policy">What happens at the bound.</param>
public sealed record StoreMemory(long Items, long EstimatedBytes, long? MaxItems, long? MaxBytes, string Policy);

/// <summary>A store that reports its memory (each module registers its own).</summary>
public interface IMemoryReporter
{
    /// <summary>The store's name in the report.</summary>
    string Store { get; }

    /// <summary>What it holds now.</summary>
    StoreMemory Report();
}

/// <summary><c>GET /api/v1/memory</c>: the process's memory and each store's share of it.</summary>
internal static class MemoryReport
{
    public static IEndpointRouteBuilder MapMemoryApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/memory", (IEnumerable<IMemoryReporter> reporters) =>
        {
            var gc = GC.GetGCMemoryInfo();
            using var process = System.Diagnostics.Process.GetCurrentProcess();
            return Results.Ok(new
            {
                process = new { working_set_bytes = process.WorkingSet64, managed_heap_bytes = gc.HeapSizeBytes, gc_committed_bytes = gc.TotalCommittedBytes },
                stores = reporters.OrderBy(r => r.Store, StringComparer.Ordinal).ToDictionary(r => r.Store, r => r.Report()),
            });
        }).WithTags("Operations");
        return app;
    }
}
