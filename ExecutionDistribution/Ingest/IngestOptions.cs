using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Ingest;

/// <summary>Settings of the REST ingest seam (section <c>Ingest</c>).</summary>
public sealed class IngestOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Ingest";

    /// <summary>Largest accepted request body; larger bodies get 413.</summary>
    [Range(1024, 268435456)]
    public int MaxRequestBodyBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Most events in one POST.</summary>
    [Range(1, 1000000)]
    public int MaxBatchSize { get; set; } = 10_000;

    /// <summary>How long a POST waits for room in a full ingest queue before answering 503.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:10:00")]
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>Settings of the deterministic demo feed (section <c>DemoFeed</c>).</summary>
public sealed class DemoFeedOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "DemoFeed";

    /// <summary>Turns the feed on.</summary>
    public bool Enabled { get; set; }

    /// <summary>Seed of the stream; the same seed gives the same events.</summary>
    public ulong Seed { get; set; } = 42;

    /// <summary>Events published per second.</summary>
    [Range(1, 10000000)]
    public int EventsPerSecond { get; set; } = 1_000;

    /// <summary>Stop after this many events; 0 runs until the service stops.</summary>
    [Range(typeof(long), "0", "9223372036854775807")]
    public long MaxEvents { get; set; }

    /// <summary>Live orders in the simulated book (BENCHMARKS.md: 100,000).</summary>
    [Range(1, 10000000)]
    public int LiveOrders { get; set; } = 100_000;
}

/// <summary>Validates the ingest settings at start (generated from the annotations).</summary>
[OptionsValidator]
internal sealed partial class IngestOptionsValidator : IValidateOptions<IngestOptions>;

/// <summary>Validates the demo feed's settings at start (generated from the annotations).</summary>
[OptionsValidator]
internal sealed partial class DemoFeedOptionsValidator : IValidateOptions<DemoFeedOptions>;
