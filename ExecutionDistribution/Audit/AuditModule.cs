using System.Globalization;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Persistence;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Audit;

/// <summary>
/// Registers the audit trail: outcomes recorded by the streams and the dispatcher (drops), written in
/// batches by <see cref="AuditWriter"/> to PostgreSQL's distribution_audit (or, without PostgreSQL, the
/// local file <c>{Audit:SpillDirectory}/audit.jsonl</c>), and <c>GET /api/v1/audit</c> to find rows.
/// </summary>
internal static class AuditModule
{
    /// <summary>Most rows one query returns.</summary>
    public const int MaxLimit = 10_000;

    /// <summary>Longest time range one query covers.</summary>
    public static readonly TimeSpan MaxRange = TimeSpan.FromDays(31);

    public static WebApplicationBuilder AddAuditModule(this WebApplicationBuilder builder)
    {
        var postgres = builder.Configuration.GetSection(PostgresOptions.SectionName).Get<PostgresOptions>() ?? new PostgresOptions();
        builder.Services.AddSingleton<AuditTrail>();
        builder.Services.AddKeyedSingleton("spill", (sp, _) =>
            new AuditSpillFile(Path.Combine(sp.GetRequiredService<IOptions<AuditOptions>>().Value.SpillDirectory, postgres.Enabled ? "pending.jsonl" : "audit.jsonl")));
        if (postgres.Enabled)
        {
            builder.Services.AddSingleton<IAuditStore, PostgresAuditStore>();
        }
        else
        {
            builder.Services.AddSingleton<IAuditStore>(sp => new FileAuditStore(sp.GetRequiredKeyedService<AuditSpillFile>("spill")));
        }

        builder.Services.AddSingleton<AuditWriter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AuditWriter>());
        builder.Services.AddHostedService<DropAuditing>();
        return builder;
    }

    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/audit", Query).WithTags("Audit").Produces<AuditRecord[]>().ProducesValidationProblem();
        app.MapGet("/api/v1/audit/stats", (AuditTrail trail, AuditWriter writer) =>
            Results.Ok(new { recorded = trail.Recorded, queued = trail.Queued, written = writer.Written, spilled = writer.Spilled, degraded = writer.Degraded }))
            .WithTags("Audit");
        return app;
    }

    private static async Task<IResult> Query(
        string? event_id, string? order_id, string? subscription_id, string? from, string? to, int? limit, IAuditStore store, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var start = Time(from, "from", errors);
        var end = Time(to, "to", errors);
        if (start is { } s && end is { } e)
        {
            if (e <= s)
            {
                errors["to"] = ["must be after from"];
            }
            else if (e - s > MaxRange)
            {
                errors["to"] = [$"the range may cover at most {MaxRange.TotalDays} days"];
            }
        }

        if (event_id is null && order_id is null && (start is null || end is null) && !errors.ContainsKey("from") && !errors.ContainsKey("to"))
        {
            errors["event_id"] = ["give event_id, order_id, or both from and to"];
        }

        if (limit is < 1 or > MaxLimit)
        {
            errors["limit"] = [$"must be between 1 and {MaxLimit}"];
        }

        foreach (var (name, value) in new[] { ("event_id", event_id), ("order_id", order_id), ("subscription_id", subscription_id) })
        {
            if (value is { Length: 0 or > 200 })
            {
                errors[name] = ["must be 1 to 200 characters"];
            }
            else if (TextRules.HasNul(value))
            {
                errors[name] = [TextRules.NoNul];
            }
        }

        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors, title: "The audit query is invalid.");
        }

        return Results.Ok(await store.QueryAsync(new AuditQuery(event_id, order_id, subscription_id, start, end, limit ?? 1_000), ct).ConfigureAwait(false));
    }

    private static DateTime? Time(string? text, string name, Dictionary<string, string[]> errors)
    {
        if (text is null)
        {
            return null;
        }

        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var value))
        {
            errors[name] = ["must be an ISO 8601 time, e.g. 2025-06-21T10:00:00Z"];
            return null;
        }

        return value.UtcDateTime;
    }

    /// <summary>Points the dispatcher's drop notifications at the audit trail.</summary>
    private sealed class DropAuditing(FanOutDispatcher core, AuditTrail trail) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            core.DropObserver = trail;
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
