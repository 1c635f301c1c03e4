using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Persistence;

/// <summary>
/// The <c>Postgres</c> section. With no connection string (the embedded default) topics, subscriptions,
/// orders and fills are kept in memory and the audit goes to the local spill file only.
/// </summary>
public sealed partial class PostgresOptions : IValidatableObject
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Postgres";

    /// <summary>Npgsql connection string; empty runs without PostgreSQL. Give the password through the environment.</summary>
    public string ConnectionString { get; set; } = string.Empty;

    /// <summary>Schema holding every table; created and migrated at start.</summary>
    public string Schema { get; set; } = "execdist";

    /// <summary>How long start-up waits for PostgreSQL before it fails.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan StartupTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>True when a connection string is configured.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(ConnectionString);

    /// <summary>The connection string parses, and the schema is a plain lower-case identifier (it is spliced into SQL).</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Enabled)
        {
            string? problem = null;
            try
            {
                _ = new Npgsql.NpgsqlConnectionStringBuilder(ConnectionString);
            }
            catch (ArgumentException ex)
            {
                problem = ex.Message;
            }

            if (problem is not null)
            {
                yield return new($"{SectionName}:{nameof(ConnectionString)} is not a valid Npgsql connection string ({problem}).");
            }
        }

        if (!Identifier().IsMatch(Schema))
        {
            yield return new($"{SectionName}:{nameof(Schema)} must be a lower-case identifier of at most 63 characters (was '{Schema}').");
        }
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex Identifier();
}

/// <summary>The <c>Redis</c> section: the cache of order status, fills, topic stats and subscriptions.</summary>
public sealed class RedisOptions : IValidatableObject
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Redis";

    /// <summary>StackExchange.Redis configuration (e.g. <c>127.0.0.1:6379</c>); empty runs without the cache.</summary>
    public string Configuration { get; set; } = string.Empty;

    /// <summary>Prefix of every key (tests give each run its own).</summary>
    [MaxLength(100)]
    public string KeyPrefix { get; set; } = string.Empty;

    /// <summary>Time to live of <c>exec_status:{order_id}</c>.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan ExecStatusTtl { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Time to live of <c>fills:{order_id}</c>.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan FillsTtl { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Time to live of <c>topic_stats:{topic}</c>.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan TopicStatsTtl { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Time to live of <c>subscription:{id}</c>.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan SubscriptionTtl { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>True when a configuration is given.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(Configuration);

    /// <summary>The configuration parses as StackExchange.Redis configuration.</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        string? problem = null;
        if (Enabled)
        {
            try
            {
                _ = StackExchange.Redis.ConfigurationOptions.Parse(Configuration);
            }
            catch (ArgumentException ex)
            {
                problem = ex.Message;
            }
        }

        if (problem is not null)
        {
            yield return new($"{SectionName}:{nameof(Configuration)} is not valid ({problem}).");
        }
    }
}

/// <summary>Validates the <c>Postgres</c> settings at start (generated from the annotations and <see cref="PostgresOptions.Validate"/>).</summary>
[OptionsValidator]
internal sealed partial class PostgresOptionsValidator : IValidateOptions<PostgresOptions>;

/// <summary>Validates the <c>Redis</c> settings at start (generated from the annotations and <see cref="RedisOptions.Validate"/>).</summary>
[OptionsValidator]
internal sealed partial class RedisOptionsValidator : IValidateOptions<RedisOptions>;
