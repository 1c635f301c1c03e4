using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Audit;

/// <summary>The <c>Audit</c> section: which deliveries are audited, and how rows are written.</summary>
public sealed class AuditOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Audit";

    /// <summary>Record delivery outcomes at all (false: no audit rows, e.g. a deployment that audits elsewhere).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Audit every event, not only those with <c>metadata.audit_required</c>.</summary>
    public bool AllEvents { get; set; }

    /// <summary>Rows buffered in memory before producers wait (the queue's bound): a ring of this many slots (rounded up to a power of two, about 200 bytes each) allocated at start.</summary>
    [Range(1024, 16777216)]
    public int QueueCapacity { get; set; } = 131_072;

    /// <summary>With PostgreSQL, how many connections write batches in parallel.</summary>
    [Range(1, 16)]
    public int Writers { get; set; } = 2;

    /// <summary>Most rows in one batch.</summary>
    [Range(1, 65536)]
    public int BatchSize { get; set; } = 8192;

    /// <summary>Longest a row waits before its batch is written.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:00:10")]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Wait before trying PostgreSQL again after a failure (and the full local store).</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The local store: the audit without PostgreSQL, the spill while PostgreSQL is unreachable.</summary>
    [ValidateObjectMembers]
    public AuditLocalOptions Local { get; set; } = new();
}

/// <summary>The <c>Audit:Local</c> section: where and how much audit the service keeps on its own disk.</summary>
public sealed class AuditLocalOptions
{
    /// <summary>Folder of the segments; empty: <c>execdist/audit</c> in the user's local application data folder (<c>~/.local/share</c>).</summary>
    public string Directory { get; set; } = string.Empty;

    /// <summary>Largest segment file.</summary>
    [Range(65536L, 17179869184L)]
    public long SegmentBytes { get; set; } = 64L << 20;

    /// <summary>Most bytes kept in all segments; then <see cref="WhenFull"/> applies.</summary>
    [Range(1048576L, 1099511627776L)]
    public long MaxBytes { get; set; } = 1L << 30;

    /// <summary>Segments last written longer ago are deleted (without PostgreSQL; spilled rows wait for PostgreSQL however old).</summary>
    [Range(typeof(TimeSpan), "00:01:00", "3650.00:00:00")]
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>At <see cref="MaxBytes"/>: BackPressure (rows wait, then streams; nothing lost) or DropOldest (oldest segments deleted, counted).</summary>
    public AuditFullPolicy WhenFull { get; set; } = AuditFullPolicy.BackPressure;

    /// <summary>The folder used.</summary>
    public string ResolvedDirectory => Directory.Length > 0 ? Directory
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify) is { Length: > 0 } data ? data : Path.GetTempPath(), "execdist", "audit");
}

/// <summary>Validates the <c>Audit</c> settings at start (generated from the annotations).</summary>
[OptionsValidator]
internal sealed partial class AuditOptionsValidator : IValidateOptions<AuditOptions>;
