using System.Text.RegularExpressions;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Security;
using ExecutionDistribution.Topics;

namespace ExecutionDistribution.Api;

/// <summary>
/// <c>/api/v1/topics</c>: create, list, read, update and disable execution topics (the spec's
/// execution_topics); and <c>/api/v1/topic-stats/{topic}</c>, the spec's TopicStats of a topic.
/// </summary>
internal static partial class TopicsApi
{
    public static IEndpointRouteBuilder MapTopicsApi(this IEndpointRouteBuilder app)
    {
        // The spec's TopicStats of a topic: current figures from memory; a topic not seen in this run
        // from Redis (topic_stats:{topic}, written every 5 s, kept 5 min), e.g. just after a restart.
        app.MapGet("/api/v1/topic-stats/{**topic}", async (string topic, TopicStatsCollector stats, IServiceProvider services) =>
        {
            if (stats.Get(topic) is { } current)
            {
                return Results.Bytes(TopicStatsCollector.Json(current), "application/json");
            }

            return services.GetService<ExecutionDistribution.Caching.RedisCache>() is { } redis && await redis.TopicStatsAsync(topic).ConfigureAwait(false) is { } cached
                ? Results.Bytes(cached, "application/json")
                : Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No events on this topic", detail: $"no event has been distributed on topic '{topic}' since the service started");
        }).WithTags("Topics").RequireAuthorization(Scopes.Read).Produces<TopicStats>().ProducesProblem(StatusCodes.Status404NotFound);

        var group = app.MapGroup("/api/v1/topics").WithTags("Topics");
        group.MapPost("/", async (TopicBody body, ITopicStore topics, TimeProvider time, CancellationToken ct) =>
        {
            var problems = Validate(body, requireName: true);
            if (problems.Count > 0)
            {
                return Results.ValidationProblem(problems);
            }

            var topic = new ExecutionTopic(Guid.NewGuid(), body.TopicName!, body.DataType!.ToUpperInvariant(), body.Partitions ?? 1, body.RetentionPolicy ?? "7d",
                body.LatencyRequirementMs ?? 100, body.Enabled ?? true, Timestamps.UtcNow(time));
            return await topics.TryAddAsync(topic, ct).ConfigureAwait(false)
                ? Results.Created($"/api/v1/topics/{topic.TopicName}", topic)
                : Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Topic exists", detail: $"topic '{topic.TopicName}' already exists");
        }).RequireAuthorization(Scopes.ManageTopics).Produces<ExecutionTopic>(StatusCodes.Status201Created).ProducesValidationProblem().ProducesProblem(StatusCodes.Status409Conflict);
        group.MapGet("/", async (ITopicStore topics, bool? enabled, CancellationToken ct) =>
            Results.Ok((await topics.ListAsync(ct).ConfigureAwait(false)).Where(t => enabled is null || t.Enabled == enabled))).RequireAuthorization(Scopes.Read).Produces<ExecutionTopic[]>();
        group.MapGet("/{**topic_name}", async (string topic_name, ITopicStore topics, CancellationToken ct) =>
            await topics.GetAsync(topic_name, ct).ConfigureAwait(false) is { } t ? Results.Ok(t) : NotFound(topic_name))
            .RequireAuthorization(Scopes.Read).Produces<ExecutionTopic>().ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPut("/{**topic_name}", async (string topic_name, TopicBody body, ITopicStore topics, CancellationToken ct) =>
        {
            if (await topics.GetAsync(topic_name, ct).ConfigureAwait(false) is not { } existing)
            {
                return NotFound(topic_name);
            }

            var problems = Validate(body with { TopicName = topic_name, DataType = body.DataType ?? existing.DataType }, requireName: false);
            if (problems.Count > 0)
            {
                return Results.ValidationProblem(problems);
            }

            var updated = existing with
            {
                DataType = (body.DataType ?? existing.DataType).ToUpperInvariant(),
                Partitions = body.Partitions ?? existing.Partitions,
                RetentionPolicy = body.RetentionPolicy ?? existing.RetentionPolicy,
                LatencyRequirementMs = body.LatencyRequirementMs ?? existing.LatencyRequirementMs,
                Enabled = body.Enabled ?? existing.Enabled,
            };
            await topics.PutAsync(updated, ct).ConfigureAwait(false);
            return Results.Ok(updated);
        }).RequireAuthorization(Scopes.ManageTopics).Produces<ExecutionTopic>().ProducesValidationProblem().ProducesProblem(StatusCodes.Status404NotFound);

        // Disabling keeps the row (the audit refers to topics by name); DELETE disables.
        group.MapDelete("/{**topic_name}", async (string topic_name, ITopicStore topics, CancellationToken ct) =>
        {
            if (await topics.GetAsync(topic_name, ct).ConfigureAwait(false) is not { } existing)
            {
                return NotFound(topic_name);
            }

            var disabled = existing with { Enabled = false };
            await topics.PutAsync(disabled, ct).ConfigureAwait(false);
            return Results.Ok(disabled);
        }).RequireAuthorization(Scopes.ManageTopics).Produces<ExecutionTopic>().ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    private static Dictionary<string, string[]> Validate(TopicBody body, bool requireName)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (requireName && (string.IsNullOrWhiteSpace(body.TopicName) || body.TopicName.Length > 200))
        {
            errors["topic_name"] = ["is required, 1 to 200 characters"];
        }
        else if (TextRules.HasNul(body.TopicName))
        {
            errors["topic_name"] = [TextRules.NoNul];
        }
        else if (body.TopicName is not null && !TextRules.IsPrintableAscii(body.TopicName))
        {
            errors["topic_name"] = [TextRules.PrintableAsciiOnly];
        }

        if (string.IsNullOrEmpty(body.DataType) || !WireNames.TryParseDataType(body.DataType, out _))
        {
            errors["data_type"] = [$"must be one of {string.Join(", ", WireNames.DataTypes)}"];
        }

        if (body.Partitions is < 1 or > 10_000)
        {
            errors["partitions"] = ["must be between 1 and 10000"];
        }

        if (body.RetentionPolicy is { } retention && (retention.Length > 50 || !RetentionPattern().IsMatch(retention)))
        {
            errors["retention_policy"] = ["must be a number and a unit: ms, s, m, h or d (e.g. 7d)"];
        }

        if (body.LatencyRequirementMs is < 1 or > 3_600_000)
        {
            errors["latency_requirement_ms"] = ["must be between 1 and 3600000"];
        }

        return errors;
    }

    private static IResult NotFound(string name) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown topic", detail: $"topic '{name}' does not exist");

    [GeneratedRegex("^[0-9]{1,9}(ms|s|m|h|d)$")]
    private static partial Regex RetentionPattern();

    /// <summary>The body of POST and PUT; omitted fields keep their default (POST) or value (PUT).</summary>
    internal sealed record TopicBody(string? TopicName, string? DataType, int? Partitions, string? RetentionPolicy, int? LatencyRequirementMs, bool? Enabled);
}
