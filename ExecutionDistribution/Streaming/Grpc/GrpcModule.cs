using ExecutionDistribution.Hosting;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Streaming.Grpc;

/// <summary>
/// Registers the gRPC module: the ExecutionStream service, the standard gRPC health service (backed
/// by the host's health checks) and server reflection, so that generic gRPC tools can call it. gRPC
/// listens on its own HTTP/2 endpoint (<c>Kestrel:Endpoints:Grpc</c>). ExecutionStream is served
/// from its generated base; a request that is not a valid message is answered InvalidArgument
/// (<see cref="RequestValidation"/>).
/// </summary>
internal static class GrpcModule
{
    /// <summary>
    /// The largest message a client may send (a request or a <c>StreamMultiplexed</c> command; filters
    /// are limited far below it). Larger ones end their call with ResourceExhausted.
    /// </summary>
    public const int MaxCommandBytes = 1024 * 1024;

    public static WebApplicationBuilder AddGrpcModule(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<GrpcStreamOptions, GrpcOptionsValidator>(builder.Configuration, GrpcStreamOptions.SectionName);
        builder.Services.AddKeyedSingleton(GrpcStreamOptions.SectionName, (sp, _) =>
        {
            var o = sp.GetRequiredService<IOptions<GrpcStreamOptions>>().Value;
            return new Streaming.StreamLimiter(o.MaxStreams, o.MaxStreamsPerClient, GrpcStreamOptions.SectionName);
        });
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = MaxCommandBytes;
            o.EnableDetailedErrors = false;
        });
        // The overall status ("") and the service by name follow readiness.
        builder.Services.AddGrpcHealthChecks(o =>
        {
            o.Services.Map(string.Empty, r => r.Tags.Contains(Health.Ready));
            o.Services.Map("execdist.v1.ExecutionStream", r => r.Tags.Contains(Health.Ready));
        });
        builder.Services.AddGrpcReflection();
        return builder;
    }

    public static WebApplication MapGrpcApi(this WebApplication app)
    {
        app.UseGrpcRequestValidation();
        app.MapGrpcService<ExecutionStreamService>();
        app.MapGrpcHealthChecksService().AllowAnonymous();
        app.MapGrpcReflectionService();
        return app;
    }
}
