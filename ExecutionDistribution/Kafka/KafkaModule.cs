using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Hosting;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Kafka;

/// <summary>
/// Registers the Kafka module: the connection (configured brokers, or the embedded broker), the
/// execution_distributed output, then the ingest (in that order, so the output subscribes before
/// anything is consumed), and a Kafka sink for the demo feed so demo events take the whole Kafka path.
/// </summary>
internal static class KafkaModule
{
    public static WebApplicationBuilder AddKafkaModule(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<KafkaOptions, KafkaOptionsValidator>(builder.Configuration, KafkaOptions.SectionName)
            .PostConfigure(o => o.InputTopics = o.InputTopics.Length == 0 ? [KafkaOptions.DefaultInputTopic] : [.. o.InputTopics.Distinct(StringComparer.Ordinal)]);
        var options = builder.Configuration.GetSection(KafkaOptions.SectionName).Get<KafkaOptions>() ?? new KafkaOptions();
        if (!options.Enabled)
        {
            return builder;
        }

        builder.Services.AddSingleton<KafkaConnection>();
        builder.Services.AddSingleton<OutputReleases>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<KafkaConnection>());

        // In a cluster (processors and gateways) the instances' commands travel on the control topic that
        // every instance reads; `all` is a single instance, with no one to tell.
        if (ClusterOptions.From(builder.Configuration).Role != ClusterRole.All)
        {
            builder.Services.AddSingleton<KafkaControlChannel>();
            builder.Services.AddSingleton<IClusterCommands>(sp => sp.GetRequiredService<KafkaControlChannel>());
            builder.Services.AddHostedService(sp => sp.GetRequiredService<KafkaControlChannel>());
        }
        if (options.OutputEnabled && ClusterOptions.From(builder.Configuration).Processes)
        {
            builder.Services.AddSingleton<KafkaOutputService>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<KafkaOutputService>());
        }

        // The core re-reads from it too: an at_least_once subscriber that falls behind the retained log.
        builder.Services.AddSingleton<IEventReplay>(sp =>
        {
            var replay = ActivatorUtilities.CreateInstance<KafkaEventReplay>(sp);
            sp.GetRequiredService<FanOutDispatcher>().UseReplay(replay);
            return replay;
        });
        builder.Services.AddSingleton<KafkaIngestService>();
        builder.Services.AddHostedService(sp =>
        {
            // Attached to the core before anything is consumed.
            sp.GetRequiredService<IEventReplay>();
            return sp.GetRequiredService<KafkaIngestService>();
        });
        builder.Services.AddHealthChecks().AddCheck<KafkaIngestService>("kafka", tags: Health.ReadyTags)
            .AddCheck<KafkaLagHealthCheck>("kafka-lag", tags: [Health.Ready, Health.ReadyOnly]);
        builder.Services.AddSingleton<IModuleMetrics, KafkaMetrics>();
        builder.Services.AddSingleton<KafkaEventSink>();
        builder.Services.AddSingleton<IEventSink>(sp => sp.GetRequiredService<KafkaEventSink>());
        builder.Services.AddHealthChecks().AddCheck<KafkaEventSink>("kafka-producer", tags: Health.ReadyTags);

        return builder;
    }
}
