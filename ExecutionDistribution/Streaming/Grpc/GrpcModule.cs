using ExecutionDistribution.Hosting;
using Grpc.AspNetCore.Server.Model;
using Grpc.Health.V1;
using Grpc.Reflection;
using Grpc.Reflection.V1Alpha;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Streaming.Grpc;

/// <summary>
/// Registers the gRPC module: the ExecutionStream service, the standard gRPC health service (backed
/// by the host's health checks) and server reflection, so that generic gRPC tools can call it. gRPC
/// listens on its own HTTP/2 endpoint (<c>Kestrel:Endpoints:Grpc</c>). ExecutionStream's methods are
/// bound by <see cref="ExecutionStreamMethods"/> (streams write pre-encoded frames), so reflection is
/// given the services' descriptors here rather than finding them through the generated base class.
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
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IServiceMethodProvider<ExecutionStreamService>, ExecutionStreamMethods>());
        builder.Services.AddGrpcHealthChecks();
        // Both reflection versions (v1, which current tools ask first, and v1alpha); AddGrpcReflection keeps these.
        Google.Protobuf.Reflection.ServiceDescriptor[] described =
            [ExecutionDistribution.Grpc.V1.ExecutionStream.Descriptor, Health.Descriptor, global::Grpc.Reflection.V1.ServerReflection.Descriptor, ServerReflection.Descriptor];
        builder.Services.AddSingleton(new ReflectionServiceImpl(described));
        builder.Services.AddSingleton(new ReflectionV1ServiceImpl(described));
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
