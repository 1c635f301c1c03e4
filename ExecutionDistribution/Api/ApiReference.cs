using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace ExecutionDistribution.Api;

/// <summary>
/// The REST API's description: an OpenAPI 3.1 document generated from the mapped endpoints
/// (Microsoft.AspNetCore.OpenApi) at <c>/openapi/v1.json</c>, and an interactive reference (Scalar)
/// at <c>/docs</c>.
/// </summary>
public static class ApiReference
{
    /// <summary>The document's path.</summary>
    public const string DocumentPath = "/openapi/v1.json";

    /// <summary>Registers the document's generator.</summary>
    public static WebApplicationBuilder AddApiReference(this WebApplicationBuilder builder)
    {
        builder.Services.AddOpenApi("v1", o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "ExecDist",
                Version = "v1",
                Description = "Execution distribution: ingest executions, look up order status and fills, manage subscriptions and topics, read the delivery audit. Streams are served over WebSocket (/api/v1/execution/stream) and gRPC (execdist.v1.ExecutionStream); see docs/streaming.md.",
            };
            return Task.CompletedTask;
        }));
        return builder;
    }

    /// <summary>Maps the document and the reference page.</summary>
    public static WebApplication MapApiReference(this WebApplication app)
    {
        app.MapOpenApi(DocumentPath).ExcludeFromDescription();
        app.MapScalarApiReference("/docs", o => o.WithTitle("ExecDist API").WithOpenApiRoutePattern(DocumentPath)).ExcludeFromDescription();
        return app;
    }
}
