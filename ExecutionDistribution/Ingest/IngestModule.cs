using ExecutionDistribution.Hosting;
using ExecutionDistribution.Ingest.Demo;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Ingest;

/// <summary>Registers the ingest module: REST ingest and the demo feed, into the core through <see cref="IEventSink"/> (the Kafka module replaces it with the input topic).</summary>
internal static class IngestModule
{
    public static WebApplicationBuilder AddIngestModule(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<IngestOptions, IngestOptionsValidator>(builder.Configuration, IngestOptions.SectionName);
        builder.Services.AddValidatedOptions<DemoFeedOptions, DemoFeedOptionsValidator>(builder.Configuration, DemoFeedOptions.SectionName);
        builder.Services.AddSingleton<IEventSink, CoreEventSink>();
        builder.Services.AddSingleton<IngestMetrics>();
        builder.Services.AddSingleton<Hosting.IModuleMetrics>(sp => sp.GetRequiredService<IngestMetrics>());
        builder.Services.AddHostedService<DemoFeedService>();
        return builder;
    }
}
