using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Core;

/// <summary>Settings of the dispatch core (section <c>Distribution</c>).</summary>
public sealed class DistributionOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Distribution";

    /// <summary>Events waiting for the dispatcher; producers wait (Kafka) or get 503 (REST) when full.</summary>
    [Range(1, 16777216)]
    public int IngestQueueCapacity { get; set; } = 65_536;

    /// <summary>Events kept for catch-up and resume (rounded up to a power of two).</summary>
    [Range(2, 67108864)]
    public int RetainedLogCapacity { get; set; } = 262_144;

    /// <summary>
    /// Bytes the retained log may hold (each event's estimate: twice its JSON and 256): past it the
    /// oldest events leave the log, as at its capacity, so large events cannot exhaust memory.
    /// </summary>
    [Range(typeof(long), "1048576", "1099511627776")]
    public long RetainedLogMaxBytes { get; set; } = 1L << 30;

    /// <summary>Events older than this are not served from the log.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan RetainedLogMaxAge { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Positions buffered per subscriber before its overflow policy applies (rounded up to a power of
    /// two). A ring starts at 1,024 positions (8 KB) and doubles while its subscriber is behind, up to
    /// this; it goes back to 1,024 once drained and not grown for 30 seconds.
    /// </summary>
    [Range(2, 16777216)]
    public int SubscriberBufferCapacity { get; set; } = 65_536;

    /// <summary>
    /// Bytes all subscribers' rings together may take beyond their first 8 KB each. A ring that would
    /// grow past it applies its overflow policy instead (at_most_once drops, at_least_once catches up
    /// from the log), so a crowd of subscribers behind at once cannot exhaust the process's memory.
    /// </summary>
    [Range(typeof(long), "0", "1099511627776")]
    public long SubscriberBufferBudgetBytes { get; set; } = 1L << 30;

    /// <summary>
    /// Most events the dispatcher takes per batch (wake-ups are per batch). Batches are this large only
    /// when events queue up (saturation); at lower rates they hold what arrived since the last one.
    /// </summary>
    [Range(1, 65536)]
    public int DispatchBatchSize { get; set; } = 1_024;

    /// <summary>Most deliveries one subscriber read returns.</summary>
    [Range(1, 65536)]
    public int ReadBatchSize { get; set; } = 256;

    /// <summary>Most subscribers attached at once.</summary>
    [Range(1, 1000000)]
    public int MaxSubscribers { get; set; } = 10_000;

    /// <summary>
    /// Delivery loop threads reading and sending the client connections; default one per core beside the
    /// dispatcher's (one on 2 cores: a second loop there competes with the dispatcher for a core).
    /// </summary>
    [Range(1, 256)]
    public int DeliveryThreads { get; set; } = Math.Max(1, Environment.ProcessorCount - 1);

    /// <summary>
    /// Positions whose source partition and offset are remembered (8 bytes each, with a checkpoint of
    /// every partition's offset each 64 positions): how far back a resume token, or a subscriber
    /// behind the retained log, is placed exactly by offsets. Older tokens are re-read from Kafka from
    /// their own offsets. At least 1,024.
    /// </summary>
    [Range(1024, 1073741824)]
    public int SourceIndexCapacity { get; set; } = 4_194_304;
}

/// <summary>Validates <see cref="DistributionOptions"/> at start (generated from the annotations).</summary>
[OptionsValidator]
internal sealed partial class DistributionOptionsValidator : IValidateOptions<DistributionOptions>;
