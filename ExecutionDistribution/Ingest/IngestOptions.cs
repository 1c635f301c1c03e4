using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Ingest;

/// <summary>Settings of the REST ingest seam (section <c>Ingest</c>).</summary>
public sealed class IngestOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Ingest";

    /// <summary>Largest accepted request body; larger bodies get 413.</summary>
    public int MaxRequestBodyBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Most events in one POST.</summary>
    public int MaxBatchSize { get; set; } = 10_000;

    /// <summary>How long a POST waits for room in a full ingest queue before answering 503.</summary>
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
    public int EventsPerSecond { get; set; } = 1_000;

    /// <summary>Stop after this many events; 0 runs until the service stops.</summary>
    public long MaxEvents { get; set; }

    /// <summary>Live orders in the simulated book (BENCHMARKS.md: 100,000).</summary>
    public int LiveOrders { get; set; } = 100_000;
}

/// <summary>Validates the ingest settings at start, naming the bad key.</summary>
internal sealed class IngestOptionsValidator : IValidateOptions<IngestOptions>, IValidateOptions<DemoFeedOptions>
{
    public ValidateOptionsResult Validate(string? name, IngestOptions o)
    {
        var failures = new List<string>();
        var p = IngestOptions.SectionName;
        OptionRules.Range(failures, p, nameof(o.MaxRequestBodyBytes), o.MaxRequestBodyBytes, 1024, 256 * 1024 * 1024);
        OptionRules.Range(failures, p, nameof(o.MaxBatchSize), o.MaxBatchSize, 1, 1_000_000);
        OptionRules.Range(failures, p, nameof(o.PublishTimeout), o.PublishTimeout, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(10));
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    public ValidateOptionsResult Validate(string? name, DemoFeedOptions o)
    {
        var failures = new List<string>();
        var p = DemoFeedOptions.SectionName;
        OptionRules.Range(failures, p, nameof(o.EventsPerSecond), o.EventsPerSecond, 1, 10_000_000);
        OptionRules.Range(failures, p, nameof(o.MaxEvents), o.MaxEvents, 0, long.MaxValue);
        OptionRules.Range(failures, p, nameof(o.LiveOrders), o.LiveOrders, 1, 10_000_000);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
