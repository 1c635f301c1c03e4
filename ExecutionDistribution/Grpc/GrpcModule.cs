using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Grpc;

/// <summary>
/// Registers the gRPC module: the ExecutionStream service, the standard gRPC health service (backed
/// by the host's health checks) and server reflection, so that generic gRPC tools can call it. gRPC
/// listens on its own HTTP/2 endpoint (<c>Kestrel:Endpoints:Grpc</c>).
/// </summary>
internal static class GrpcModule
{
    public static WebApplicationBuilder AddGrpcModule(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<GrpcStreamOptions>().Bind(builder.Configuration.GetSection(GrpcStreamOptions.SectionName)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<GrpcStreamOptions>, GrpcOptionsValidator>();
        builder.Services.AddKeyedSingleton(GrpcStreamOptions.SectionName, (sp, _) =>
        {
            var o = sp.GetRequiredService<IOptions<GrpcStreamOptions>>().Value;
            return new Subscriptions.StreamLimiter(o.MaxStreams, o.MaxStreamsPerClient, GrpcStreamOptions.SectionName);
        });
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = 1024 * 1024;
            o.EnableDetailedErrors = false;
        });
        builder.Services.AddGrpcHealthChecks();
        builder.Services.AddGrpcReflection();
        return builder;
    }

    public static WebApplication MapGrpcApi(this WebApplication app)
    {
        app.MapGrpcService<ExecutionStreamService>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        return app;
    }
}
