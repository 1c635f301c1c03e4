using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Persistence;

/// <summary>
/// The <c>Postgres</c> section. With no connection string (the embedded default) topics, subscriptions,
/// orders and fills are kept in memory and the audit goes to the local spill file only.
/// </summary>
public sealed class PostgresOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Postgres";

    /// <summary>Npgsql connection string; empty runs without PostgreSQL. Give the password through the environment.</summary>
    public string ConnectionString { get; set; } = string.Empty;

    /// <summary>Schema holding every table; created and migrated at start.</summary>
    public string Schema { get; set; } = "execdist";

    /// <summary>How long start-up waits for PostgreSQL before it fails.</summary>
    public TimeSpan StartupTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>True when a connection string is configured.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(ConnectionString);
}

/// <summary>The <c>Redis</c> section: the cache of order status, fills, topic stats and subscriptions.</summary>
public sealed class RedisOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Redis";

    /// <summary>StackExchange.Redis configuration (e.g. <c>127.0.0.1:6379</c>); empty runs without the cache.</summary>
    public string Configuration { get; set; } = string.Empty;

    /// <summary>Prefix of every key (tests give each run its own).</summary>
    public string KeyPrefix { get; set; } = string.Empty;

    /// <summary>Time to live of <c>exec_status:{order_id}</c>.</summary>
    public TimeSpan ExecStatusTtl { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Time to live of <c>fills:{order_id}</c>.</summary>
    public TimeSpan FillsTtl { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Time to live of <c>topic_stats:{topic}</c>.</summary>
    public TimeSpan TopicStatsTtl { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Time to live of <c>subscription:{id}</c>.</summary>
    public TimeSpan SubscriptionTtl { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>True when a configuration is given.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(Configuration);
}

/// <summary>The <c>Audit</c> section: which deliveries leave a row, and how rows are written.</summary>
public sealed class AuditOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Audit";

    /// <summary>Record delivery outcomes at all (false: no audit rows, e.g. a deployment that audits elsewhere).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Audit every event, not only those with <c>metadata.audit_required</c>.</summary>
    public bool AllEvents { get; set; }

    /// <summary>Rows buffered in memory before producers wait (the queue's bound): a ring of this many slots (rounded up to a power of two, about 100 bytes each) allocated at start: the default takes about 110 MB of memory from the start, and never allocates again.</summary>
    public int QueueCapacity { get; set; } = 1_048_576;

    /// <summary>With PostgreSQL, how many connections write batches in parallel (one COPY each).</summary>
    public int Writers { get; set; } = 2;

    /// <summary>Most rows in one statement.</summary>
    public int BatchSize { get; set; } = 8192;

    /// <summary>Longest a row waits before its batch is written.</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Folder of the append-only spill file (relative to the working directory).</summary>
    public string SpillDirectory { get; set; } = "audit-spill";

    /// <summary>Wait before trying PostgreSQL again after a failure.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>Checks the three sections at start; each message names its key.</summary>
internal sealed partial class PersistenceOptionsValidator(IOptions<RedisOptions> redis, IOptions<AuditOptions> audit) : IValidateOptions<PostgresOptions>
{
    public ValidateOptionsResult Validate(string? name, PostgresOptions options)
    {
        var failures = new List<string>();
        if (options.Enabled)
        {
            try
            {
                _ = new Npgsql.NpgsqlConnectionStringBuilder(options.ConnectionString);
            }
            catch (ArgumentException ex)
            {
                failures.Add($"{PostgresOptions.SectionName}:ConnectionString is not a valid Npgsql connection string ({ex.Message}).");
            }
        }

        if (!Identifier().IsMatch(options.Schema))
        {
            failures.Add($"{PostgresOptions.SectionName}:Schema must be a lower-case identifier of at most 63 characters (was '{options.Schema}').");
        }

        OptionRules.Range(failures, PostgresOptions.SectionName, nameof(options.StartupTimeout), options.StartupTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(10));

        var r = redis.Value;
        if (r.Enabled)
        {
            try
            {
                _ = StackExchange.Redis.ConfigurationOptions.Parse(r.Configuration);
            }
            catch (ArgumentException ex)
            {
                failures.Add($"{RedisOptions.SectionName}:Configuration is not valid ({ex.Message}).");
            }
        }

        if (r.KeyPrefix.Length > 100)
        {
            failures.Add($"{RedisOptions.SectionName}:KeyPrefix must be at most 100 characters.");
        }

        OptionRules.Range(failures, RedisOptions.SectionName, nameof(r.ExecStatusTtl), r.ExecStatusTtl, TimeSpan.FromSeconds(1), TimeSpan.FromDays(30));
        OptionRules.Range(failures, RedisOptions.SectionName, nameof(r.FillsTtl), r.FillsTtl, TimeSpan.FromSeconds(1), TimeSpan.FromDays(30));
        OptionRules.Range(failures, RedisOptions.SectionName, nameof(r.TopicStatsTtl), r.TopicStatsTtl, TimeSpan.FromSeconds(1), TimeSpan.FromDays(30));
        OptionRules.Range(failures, RedisOptions.SectionName, nameof(r.SubscriptionTtl), r.SubscriptionTtl, TimeSpan.FromSeconds(1), TimeSpan.FromDays(30));

        var a = audit.Value;
        OptionRules.Range(failures, AuditOptions.SectionName, nameof(a.QueueCapacity), a.QueueCapacity, 1_024, 16 * 1_048_576);
        OptionRules.Range(failures, AuditOptions.SectionName, nameof(a.BatchSize), a.BatchSize, 1, 65_536);
        OptionRules.Range(failures, AuditOptions.SectionName, nameof(a.Writers), a.Writers, 1, 16);
        OptionRules.Range(failures, AuditOptions.SectionName, nameof(a.FlushInterval), a.FlushInterval, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(10));
        OptionRules.Range(failures, AuditOptions.SectionName, nameof(a.RetryInterval), a.RetryInterval, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1));
        if (string.IsNullOrWhiteSpace(a.SpillDirectory))
        {
            failures.Add($"{AuditOptions.SectionName}:SpillDirectory is required.");
        }

        return failures.Count > 0 ? ValidateOptionsResult.Fail(failures) : ValidateOptionsResult.Success;
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex Identifier();
}
