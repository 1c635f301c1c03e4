using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Ingest;

/// <summary>Registers the ingest module: the REST ingest seam and the demo feed (the Kafka consumer joins here).</summary>
internal static class IngestModule
{
    public static WebApplicationBuilder AddIngestModule(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<IngestOptions>().Bind(builder.Configuration.GetSection(IngestOptions.SectionName)).ValidateOnStart();
        builder.Services.AddOptions<DemoFeedOptions>().Bind(builder.Configuration.GetSection(DemoFeedOptions.SectionName)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<IngestOptions>, IngestOptionsValidator>();
        builder.Services.AddSingleton<IValidateOptions<DemoFeedOptions>, IngestOptionsValidator>();
        builder.Services.AddSingleton<IDemoFeedSink, CoreDemoFeedSink>();
        builder.Services.AddHostedService<DemoFeedService>();
        return builder;
    }
}
