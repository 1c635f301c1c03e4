using System.Text.Json.Nodes;
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
        }).AddOperationTransformer((operation, context, _) =>
        {
            var key = $"{context.Description.HttpMethod} {context.Description.RelativePath?.TrimEnd('/').Replace("{**", "{", StringComparison.Ordinal)}";
            if (RequestExamples.TryGetValue(key, out var example) && operation.RequestBody?.Content?.TryGetValue("application/json", out var media) == true)
            {
                media.Example = JsonNode.Parse(example);
            }

            return Task.CompletedTask;
        }));
        return builder;
    }

    // A request body for each operation that takes one (the spec's examples where it gives them).
    private static readonly Dictionary<string, string> RequestExamples = new(StringComparer.OrdinalIgnoreCase)
    {
        ["POST api/v1/executions"] = """
            {"event_id":"5b0f7c8e-0a51-4c57-9a53-2f1b8f0e6c02","timestamp":"2025-06-21T10:00:00.000000Z","data_type":"FILL_NOTIFICATION",
             "routing":{"topic":"execution/fills/processed","routing_key":"AAPL.fill.complete","target_workflows":["portfolio_management"],"priority":1,"delivery_guarantee":"at_least_once"},
             "data":{"order_id":"order_20250621_001","fill_id":"fill_20250621_001","instrument_id":"AAPL","side":"BUY","quantity":100,"price":150.25,"venue":"NYSE","execution_time":"2025-06-21T10:00:00.000000Z","commission":1.50},
             "metadata":{"source_service":"order_management_service","execution_venue":"NYSE","latency_sensitive":true,"audit_required":true,"compliance_flags":["MiFID_II"]}}
            """,
        ["POST api/v1/subscriptions"] = """
            {"subscription_id":"pm-fills","topic_name":"execution/fills/#","subscriber_workflow":"portfolio_management",
             "filter":{"data_types":["FILL_NOTIFICATION"],"instruments":["AAPL","MSFT"]},"delivery_guarantee":"at_least_once"}
            """,
        ["PUT api/v1/subscriptions/{subscription_id}"] = """
            {"topic_name":"execution/fills/#","subscriber_workflow":"portfolio_management","filter":{"data_types":["FILL_NOTIFICATION"],"venues":["NYSE"]},"delivery_guarantee":"at_least_once"}
            """,
        ["POST api/v1/subscriptions/{subscription_id}/ack"] = """{"resume_token":"(a resume_token from the subscription's stream)"}""",
        ["POST api/v1/topics"] = """{"topic_name":"execution/fills/processed","data_type":"FILL_NOTIFICATION","partitions":12,"retention_policy":"7d","latency_requirement_ms":10}""",
        ["POST api/v1/admin/revocations"] = """{"subject":"risk-desk-7","reason":"left the firm"}""",
        ["PUT api/v1/topics/{topic_name}"] = """{"partitions":24,"retention_policy":"14d","latency_requirement_ms":5,"enabled":true}""",
    };

    /// <summary>Maps the document and the reference page.</summary>
    public static WebApplication MapApiReference(this WebApplication app)
    {
        app.MapOpenApi(DocumentPath).ExcludeFromDescription().AllowAnonymous();
        app.MapScalarApiReference("/docs", o => o.WithTitle("ExecDist API").WithOpenApiRoutePattern(DocumentPath)).ExcludeFromDescription().AllowAnonymous();
        return app;
    }
}
