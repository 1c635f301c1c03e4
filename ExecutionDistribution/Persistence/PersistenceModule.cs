using ExecutionDistribution.Orders;
using ExecutionDistribution.Subscriptions;
using ExecutionDistribution.Topics;
using Microsoft.Extensions.Options;
using ExecutionDistribution.Hosting;

namespace ExecutionDistribution.Persistence;

/// <summary>
/// Registers the persistence module: with <c>Postgres:ConnectionString</c> set, topics, subscriptions
/// (with acknowledged positions), the order query side and the audit live in PostgreSQL through
/// Dapper, in the schema <c>Postgres:Schema</c>, migrated at start; without it (the embedded run) the
/// same interfaces are served in memory and the audit goes to the local spill file.
/// </summary>
internal static partial class PersistenceModule
{
    public static WebApplicationBuilder AddPersistenceModule(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddValidatedOptions<PostgresOptions, PostgresOptionsValidator>(builder.Configuration, PostgresOptions.SectionName);
        services.AddValidatedOptions<RedisOptions, RedisOptionsValidator>(builder.Configuration, RedisOptions.SectionName);

        var postgres = builder.Configuration.GetSection(PostgresOptions.SectionName).Get<PostgresOptions>() ?? new PostgresOptions();
        if (postgres.Enabled)
        {
            services.AddSingleton<PostgresDatabase>();
            services.AddSingleton<ITopicStore, PostgresTopicStore>();
            services.AddSingleton<ISubscriptionStore, PostgresSubscriptionStore>();
            services.AddSingleton<IOrderStore, PostgresOrderStore>();
            services.AddSingleton<Security.IRevocationStore, PostgresRevocationStore>();
            services.AddHostedService<DatabaseStartup>();
            services.AddHealthChecks().AddCheck<PostgresHealthCheck>("postgres", tags: Health.ReadyTags);
        }
        else
        {
            services.AddSingleton<ITopicStore, InMemoryTopicStore>();
            services.AddSingleton<ISubscriptionStore, MemoryOnlySubscriptionStore>();
            services.AddSingleton<IOrderStore, ProjectionOrderStore>();
        }

        return builder;
    }

    /// <summary>Waits for PostgreSQL (up to <c>Postgres:StartupTimeout</c>) and applies the migrations, before anything reads the tables.</summary>
    private sealed partial class DatabaseStartup(PostgresDatabase db, IOptions<PostgresOptions> options, TimeProvider time, ILogger<DatabaseStartup> logger) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            var deadline = time.GetUtcNow() + options.Value.StartupTimeout;
            while (true)
            {
                try
                {
                    var applied = await db.MigrateAsync(cancellationToken).ConfigureAwait(false);
                    LogMigrated(logger, db.Schema, applied.Count == 0 ? "none" : string.Join(", ", applied));
                    return;
                }
                catch (Exception ex) when (PostgresErrors.IsTransient(ex) && time.GetUtcNow() < deadline)
                {
                    LogWaiting(logger, ex.Message);
                    await Task.Delay(TimeSpan.FromSeconds(1), time, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(EventId = 5000, Level = LogLevel.Information, Message = "PostgreSQL schema {Schema} is up to date (migrations applied now: {Applied})")]
        private static partial void LogMigrated(ILogger logger, string schema, string applied);

        [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "Waiting for PostgreSQL: {Reason}")]
        private static partial void LogWaiting(ILogger logger, string reason);
    }
}
