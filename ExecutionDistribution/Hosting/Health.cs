using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ExecutionDistribution.Hosting;

/// <summary>
/// Health endpoints: <c>/health/live</c> (the process answers), <c>/health/ready</c> (the checks
/// tagged <see cref="Ready"/>: the core, Kafka's partitions and lag, PostgreSQL when configured;
/// Redis and the audit report Degraded, which is still ready), each with a JSON body naming every
/// check, and <c>/health</c> (every check but those for readiness alone; its status as plain text).
/// </summary>
public static class Health
{
    /// <summary>The tag of the checks that decide readiness.</summary>
    public const string Ready = "ready";

    /// <summary>The tag of a readiness check that <c>/health</c> leaves out (e.g. Kafka lag: the instance works, it is behind).</summary>
    public const string ReadyOnly = "ready-only";

    /// <summary>Tags of a check that decides readiness and is part of <c>/health</c>.</summary>
    public static readonly string[] ReadyTags = [Ready];

    /// <summary>Maps the three endpoints.</summary>
    public static WebApplication MapHealth(this WebApplication app)
    {
        app.MapHealthChecks("/health", new HealthCheckOptions { Predicate = check => !check.Tags.Contains(ReadyOnly) }).AllowAnonymous();
        app.MapHealthChecks("/health/live", Options(_ => false)).AllowAnonymous();
        app.MapHealthChecks("/health/ready", Options(check => check.Tags.Contains(Ready))).AllowAnonymous();
        return app;
    }

    private static HealthCheckOptions Options(Func<HealthCheckRegistration, bool> predicate) => new()
    {
        Predicate = predicate,
        ResponseWriter = WriteAsync,
    };

    // {"status":"Healthy","checks":{"kafka":{"status":"Healthy","description":"...","data":{...}}}}
    private static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("status", report.Status.ToString());
            w.WriteStartObject("checks");
            foreach (var (name, entry) in report.Entries)
            {
                w.WriteStartObject(name);
                w.WriteString("status", entry.Status.ToString());
                if (entry.Description is { } description)
                {
                    w.WriteString("description", description);
                }

                w.WriteStartObject("data");
                foreach (var (key, value) in entry.Data)
                {
                    w.WriteString(key, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));
                }

                w.WriteEndObject();
                w.WriteEndObject();
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        return context.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length)).AsTask();
    }
}
