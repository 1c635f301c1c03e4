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
