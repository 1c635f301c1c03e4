using ExecutionDistribution.Hosting;
using ExecutionDistribution.Orders;
using ExecutionDistribution.Persistence;
using ExecutionDistribution.Subscriptions;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ExecutionDistribution.Caching;

/// <summary>
/// Registers the caching module: with <c>Redis:Configuration</c> set, the Redis cache sits in front of
/// the order store and mirrors subscriptions; without it, lookups read the store directly.
/// </summary>
internal static class CachingModule
{
    public static WebApplicationBuilder AddCachingModule(this WebApplicationBuilder builder)
    {
        var redis = builder.Configuration.GetSection(RedisOptions.SectionName).Get<RedisOptions>() ?? new RedisOptions();
        if (redis.Enabled)
        {
            builder.Services.AddSingleton<RedisCache>();
            builder.Services.AddSingleton<IOrderCache>(sp => sp.GetRequiredService<RedisCache>());
            builder.Services.AddSingleton<ISubscriptionCache>(sp => sp.GetRequiredService<RedisCache>());
            builder.Services.AddHostedService<CacheHealer>();
            builder.Services.AddHealthChecks().AddCheck<RedisHealth>("redis", HealthStatus.Degraded, Health.ReadyTags);
        }
        else
        {
            builder.Services.AddSingleton<IOrderCache, NoOrderCache>();
            builder.Services.AddSingleton<ISubscriptionCache, NoSubscriptionCache>();
        }

        return builder;
    }

    /// <summary>Tries to heal an untrusted cache every second.</summary>
    private sealed class CacheHealer(RedisCache cache, TimeProvider time) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), time);
            try
            {
                while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
                {
                    await cache.HealAsync().ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // Stopping.
            }
        }
    }

    /// <summary>Degraded (not unhealthy) while Redis is down: lookups still answer from the store.</summary>
    private sealed class RedisHealth(RedisCache cache) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(cache.Healthy ? HealthCheckResult.Healthy() : HealthCheckResult.Degraded($"Redis unreachable or healing ({cache.Failures} failed commands)"));
    }
}
