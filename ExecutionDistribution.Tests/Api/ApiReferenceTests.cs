using System.Net;
using ExecutionDistribution.Tests.Support;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;
using Microsoft.OpenApi.Reader;

namespace ExecutionDistribution.Tests.Api;

/// <summary>The OpenAPI document describes every REST route the service maps, and is a valid OpenAPI 3.1 document; the reference page is served.</summary>
[Category("Unit")]
public sealed partial class ApiReferenceTests
{
    [Test]
    public async Task The_openapi_document_is_valid_and_describes_every_mapped_rest_route()
    {
        await using var host = await ServiceHost.StartAsync();
        var text = await host.Client.GetStringAsync("/openapi/v1.json");
        var read = OpenApiDocument.Parse(text, OpenApiConstants.Json);

        Assert.That(read.Diagnostic!.Errors, Is.Empty, "the document validates");
        Assert.That(read.Diagnostic.SpecificationVersion, Is.EqualTo(OpenApiSpecVersion.OpenApi3_1));
        var documented = read.Document!.Paths.SelectMany(p => p.Value.Operations!.Keys.Select(m => $"{m.Method} {p.Key}")).ToHashSet(StringComparer.OrdinalIgnoreCase);

        var mapped = host.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<IExcludeFromDescriptionMetadata>() is not { ExcludeFromDescription: true })
            .Where(e => e.RoutePattern.RawText!.StartsWith("/api/", StringComparison.Ordinal) || e.RoutePattern.RawText.StartsWith("api/", StringComparison.Ordinal))
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? []).Select(m => $"{m} /{Parameter().Replace(e.RoutePattern.RawText!.TrimStart('/').TrimEnd('/'), "{$1}")}"))
            .ToList();

        Assert.That(mapped, Has.Count.GreaterThanOrEqualTo(20), "the REST routes were found");
        Assert.That(mapped.Where(route => !documented.Contains(route)), Is.Empty, "every mapped route is documented");
        Assert.That(read.Document.Paths.Keys, Does.Contain("/api/v1/execution/{order_id}/status"), "the spec's routes, as the spec writes them");

        // Each operation says what it answers: a JSON body with its schema on success, ProblemDetails on errors.
        var operations = read.Document.Paths.SelectMany(p => p.Value.Operations!.Select(o => (Route: $"{o.Key.Method} {p.Key}", Responses: o.Value.Responses!))).ToList();
        Assert.That(operations.Where(o => !o.Responses.Any(r => r.Key.StartsWith('2') && r.Value.Content?.ContainsKey("application/json") == true
            && r.Value.Content["application/json"].Schema is not null)).Select(o => o.Route), Is.Empty, "a success body with a schema");
        Assert.That(operations.SelectMany(o => o.Responses.Where(r => r.Key.StartsWith('4') || r.Key.StartsWith('5'))
            .Where(r => r.Value.Content?.ContainsKey("application/problem+json") != true).Select(r => $"{o.Route} {r.Key}")), Is.Empty, "errors as ProblemDetails");
        var bodies = read.Document.Paths.SelectMany(p => p.Value.Operations!.Where(o => o.Value.RequestBody is not null).Select(o => (Route: $"{o.Key.Method} {p.Key}", Body: o.Value.RequestBody!))).ToList();
        Assert.That(bodies, Has.Count.GreaterThanOrEqualTo(6));
        Assert.That(bodies.Where(b => b.Body.Content?["application/json"].Example is null).Select(b => b.Route), Is.Empty, "every request body has an example");
        var ingestExample = bodies.Single(b => b.Route == "POST /api/v1/executions").Body.Content!["application/json"].Example!.ToJsonString();
        using var ingested = await host.Client.PostAsync("/api/v1/executions", new StringContent(ingestExample, System.Text.Encoding.UTF8, "application/json"));
        Assert.That(ingested.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), "the ingest example is a valid event");

        using var page = await host.Client.GetAsync("/docs/");
        Assert.That(page.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await page.Content.ReadAsStringAsync(), Does.Contain("openapi/v1.json"), "the reference page reads the document");
    }

    // {**catch_all} and {name:constraint} are the parameter {name} in the document.
    [System.Text.RegularExpressions.GeneratedRegex(@"\{\**(\w+)(?::[^}]*)?\}")]
    private static partial System.Text.RegularExpressions.Regex Parameter();
}
