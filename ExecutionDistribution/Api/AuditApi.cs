using System.Globalization;
using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Security;

namespace ExecutionDistribution.Api;

/// <summary>
/// <c>/api/v1/audit</c>: the delivery outcomes of events (by event, order, subscription, time range),
/// and <c>/api/v1/audit/stats</c>: what the trail recorded, queued, wrote and spilled, and the local store.
/// </summary>
internal static class AuditApi
{
    /// <summary>Most rows one query returns.</summary>
    public const int MaxLimit = 10_000;

    /// <summary>Longest time range one query covers.</summary>
    public static readonly TimeSpan MaxRange = TimeSpan.FromDays(31);

    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/audit").WithTags("Audit").RequireAuthorization(Scopes.ReadAudit);
        group.MapGet("/", Query).Produces<AuditRecord[]>().ProducesValidationProblem();
        group.MapGet("/stats", (AuditTrail trail, AuditWriter writer, EventRecorder events) =>
        {
            var local = writer.Local;
            var (droppedSegments, droppedBytes) = local.Dropped;
            return Results.Ok(new AuditStats(
                trail.Recorded, trail.Queued, writer.Written, writer.Spilled, writer.Degraded || writer.Full, writer.Full, events.Unrecorded,
                new LocalAuditStats(local.Directory, local.Bytes, local.SegmentCount, droppedSegments, droppedBytes, local.Expired)));
        }).Produces<AuditStats>();
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

    /// <summary><c>GET /api/v1/audit/stats</c>.</summary>
    internal sealed record AuditStats(long Recorded, long Queued, long Written, long Spilled, bool Degraded, bool Full, long EventsUnrecorded, LocalAuditStats Local);

    /// <summary>The local audit store (docs/operations.md).</summary>
    internal sealed record LocalAuditStats(string Directory, long Bytes, int Segments, long DroppedSegments, long DroppedBytes, long ExpiredSegments);
}
