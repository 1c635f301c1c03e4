using ExecutionDistribution.Contract;
using ExecutionDistribution.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Core;

/// <summary>Registers the dispatch core, its lifetime, health check and memory reports.</summary>
internal static class DistributionModule
{
    /// <summary>How long a stopping host lets the dispatcher deliver what it already accepted.</summary>
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    public static WebApplicationBuilder AddDistributionModule(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<DistributionOptions, DistributionOptionsValidator>(builder.Configuration, DistributionOptions.SectionName);
        builder.Services.AddSingleton(sp => new FanOutDispatcher(
            sp.GetRequiredService<IOptions<DistributionOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<FanOutDispatcher>>()));
        builder.Services.AddSingleton<IExecutionIngest>(sp => sp.GetRequiredService<FanOutDispatcher>());
        builder.Services.AddHostedService<DispatcherLifetime>();
        builder.Services.AddHealthChecks().AddCheck<DispatcherHealthCheck>("dispatcher", tags: Health.ReadyTags);
        builder.Services.AddSingleton<IMemoryReporter, RetainedLogMemory>();
        builder.Services.AddSingleton<IModuleMetrics, CoreMetrics>();
        builder.Services.AddSingleton<IMemoryReporter, SubscriberBufferMemory>();
        return builder;
    }

    /// <summary>The retained log: events held and their estimated bytes (<see cref="ExecutionEvent.EstimatedBytes"/>).</summary>
    private sealed class RetainedLogMemory(FanOutDispatcher core, IOptions<DistributionOptions> options) : IMemoryReporter
    {
        public string Store => "retained_log";

        public StoreMemory Report()
        {
            var stats = core.GetStats();
            return new StoreMemory(stats.LogHead - stats.LogTail, stats.LogBytes, stats.LogCapacity, options.Value.RetainedLogMaxBytes,
                $"the oldest event leaves at the capacity or at Distribution:RetainedLogMaxBytes, and after Distribution:RetainedLogMaxAge ({options.Value.RetainedLogMaxAge}); a reader behind it re-reads from Kafka or is told (lost_positions)");
        }
    }

    /// <summary>The subscribers' rings of positions: 8 KB each, and what they grew beyond it.</summary>
    private sealed class SubscriberBufferMemory(FanOutDispatcher core, IOptions<DistributionOptions> options) : IMemoryReporter
    {
        public string Store => "subscriber_buffers";

        public StoreMemory Report()
        {
            var stats = core.GetStats();
            return new StoreMemory(stats.Subscribers, (stats.Subscribers * 8_192L) + stats.BufferBytesGrown, null, (stats.Subscribers * 8_192L) + options.Value.SubscriberBufferBudgetBytes,
                "past Distribution:SubscriberBufferBudgetBytes a full ring does not grow: at_most_once drops, at_least_once catches up from the log");
        }
    }

    /// <summary>Starts the dispatcher with the host and stops it in phases (drain, then close subscribers).</summary>
    private sealed class DispatcherLifetime(FanOutDispatcher core) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            core.Start();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => core.StopAsync(DrainTimeout);
    }

    /// <summary>Unhealthy when the ingest queue is full (the service cannot keep up).</summary>
    private sealed class DispatcherHealthCheck(FanOutDispatcher core, IOptions<DistributionOptions> options) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var stats = core.GetStats();
            var data = new Dictionary<string, object>
            {
                ["ingested"] = stats.Ingested,
                ["subscribers"] = stats.Subscribers,
                ["ingest_queue_depth"] = stats.IngestQueueDepth,
            };
            return Task.FromResult(stats.IngestQueueDepth >= options.Value.IngestQueueCapacity
                ? HealthCheckResult.Degraded("ingest queue is full", data: data)
                : HealthCheckResult.Healthy(data: data));
        }
    }
}
