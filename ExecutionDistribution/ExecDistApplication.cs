using ExecutionDistribution.Api;
using ExecutionDistribution.Audit;
using ExecutionDistribution.Caching;
using ExecutionDistribution.Core;
using ExecutionDistribution.Hosting;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Http;
using ExecutionDistribution.Kafka;
using ExecutionDistribution.Orders;
using ExecutionDistribution.Persistence;
using ExecutionDistribution.Security;
using ExecutionDistribution.Streaming.Grpc;
using ExecutionDistribution.Streaming.WebSockets;
using ExecutionDistribution.Subscriptions;
using ExecutionDistribution.Topics;

namespace ExecutionDistribution;

/// <summary>
/// The composition root: one host, each module registered by its own <c>AddXxxModule</c> and mapped
/// by its own <c>MapXxx</c>. Tests build the same application with other settings (port 0, their own
/// topics), so what they exercise is what runs.
/// </summary>
public static class ExecDistApplication
{
    /// <summary>Builds the application from command-line style arguments (<c>--Section:Key=value</c>).</summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory, // appsettings.json is linked into the output folder
        });

        ListenUrls.Apply(builder.Configuration); // --urls / ASPNETCORE_URLS move the HTTP endpoint, as in any ASP.NET Core app
        KestrelLimits.Apply(builder); // Kestrel:Limits of appsettings.json, which Kestrel does not bind itself
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddProblemDetails();
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            ApiJson.Apply(o.SerializerOptions);
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, Api.ApiJsonContext.Default);
            o.SerializerOptions.TypeInfoResolverChain.Insert(1, Ingest.Http.IngestJsonContext.Default);
        });

        builder.AddClusterOptions();
        builder.AddSecurityModule();
        builder.AddTelemetry();
        builder.AddApiReference();
        builder.AddDistributionModule();
        builder.AddPersistenceModule(); // migrates the database before anything reads it
        builder.AddRevocationLoading(); // revocations in force before anyone is served
        builder.AddCachingModule();
        builder.AddAuditModule();
        builder.AddOrdersModule(); // the order projection subscribes before any ingest starts
        builder.AddIngestModule();
        builder.AddKafkaModule();
        builder.AddSubscriptionsModule();
        builder.AddTopicsModule();
        builder.AddWebSocketModule();
        builder.AddGrpcModule();
        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseSecurity();

        app.MapWebSocketStream();
        app.MapGrpcApi();
        app.MapIngestApi();
        app.MapExecutionApi();
        app.MapSubscriptionsApi();
        app.MapTopicsApi();
        app.MapAuditApi();
        app.MapAdminApi();
        app.MapOperationsApi();
        app.MapHealth();
        app.MapTelemetry();
        app.MapApiReference();
        app.MapDashboard();
        return app;
    }
}
