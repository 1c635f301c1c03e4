using System.Globalization;
using System.Text.Json;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Orders;
using ExecutionDistribution.Security;
using ExecutionDistribution.Subscriptions;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace ExecutionDistribution.Streaming.WebSockets;

/// <summary>What one subscription of a WebSocket connection streams, and from where.</summary>
internal sealed record StreamPlan(
    string Id,
    SubscriptionFilter Filter,
    DeliveryGuarantee Guarantee,
    ResumeToken? Resume,
    ManagedSubscription? Managed,
    IReadOnlyList<OrderExecutionStatus>? Snapshot,
    ResumeToken? ReplayFrom = null,
    string? Narrowed = null);

/// <summary>
/// Turns a subscription's parameters (the connection's query string, or a <c>subscribe</c> message's
/// fields) into a <see cref="StreamPlan"/>, or the first problem, naming its parameter.
/// </summary>
internal static class StreamRequest
{
    /// <summary>Filter parameters: lists are comma-separated or repeated.</summary>
    public static readonly string[] FilterParameters = ["topics", "routing_keys", "data_types", "order_ids", "instruments", "venues", "target_workflows", "portfolio_ids", "min_priority", "delivery_guarantee"];

    /// <summary>True when the parameters describe a subscription (any filter, a subscription id or a token).</summary>
    public static bool DescribesStream(IQueryCollection query) =>
        Array.Exists(FilterParameters, query.ContainsKey) || query.ContainsKey("subscription_id") || query.ContainsKey("resume_token");

    /// <summary>
    /// Resolves the parameters. With <paramref name="replay"/>, a token older than the retained log is
    /// accepted when its events can be re-read from Kafka (<see cref="StreamPlan.ReplayFrom"/>).
    /// </summary>
    public static async Task<(StreamPlan? Plan, ValidationProblem? Problem)> ResolveAsync(
        IQueryCollection query, CallerRights rights, FanOutDispatcher core, SubscriptionRegistry registry, OrderLookups lookups, IEventReplay? replay, CancellationToken cancellationToken)
    {
        var problems = new List<ValidationProblem>();
        var spec = new FilterSpec
        {
            Topics = List(query["topics"]),
            RoutingKeys = List(query["routing_keys"]),
            DataTypes = List(query["data_types"]),
            OrderIds = List(query["order_ids"]),
            Instruments = List(query["instruments"]),
            Venues = List(query["venues"]),
            TargetWorkflows = List(query["target_workflows"]),
            PortfolioIds = query.ContainsKey("portfolio_ids") ? List(query["portfolio_ids"]) : null,
            MinPriority = ParseInt(query["min_priority"], "min_priority", problems),
        };
        var filter = spec.Build(out var filterProblems);
        problems.AddRange(filterProblems);
        var guarantee = DeliveryGuarantee.AtLeastOnce;
        if (query["delivery_guarantee"] is { Count: > 0 } g && !WireNames.TryParseDeliveryGuarantee(g[0], out guarantee))
        {
            problems.Add(new ValidationProblem("delivery_guarantee", "must be at_least_once or at_most_once"));
        }

        // A managed subscription brings its own filter and guarantee, and starts at its acknowledged point.
        ManagedSubscription? managed = null;
        if (query["subscription_id"] is { Count: > 0 } sid)
        {
            if (Array.Exists(FilterParameters, query.ContainsKey))
            {
                problems.Add(new ValidationProblem("subscription_id", "give either a subscription_id or filter parameters, not both"));
            }
            else
            {
                // Created, changed or acknowledged through another instance, perhaps.
                await registry.RefreshAsync(sid[0] ?? string.Empty, cancellationToken).ConfigureAwait(false);
                // Another's (not its owner, no grant of its workflow) is answered as unknown, whatever its state.
                string? why;
                if (registry.Get(sid[0] ?? string.Empty) is { } known && !Entitlements.MayUse(rights, known.Owner, known.SubscriberWorkflow))
                {
                    (managed, why) = (null, $"subscription '{sid[0]}' does not exist");
                }
                else
                {
                    managed = registry.ResolveForStream(sid[0] ?? string.Empty, out why, out _);
                }

                if (managed is null)
                {
                    problems.Add(new ValidationProblem("subscription_id", why!));
                }
                else
                {
                    filter = managed.Filter;
                    guarantee = managed.Guarantee;
                }
            }
        }

        var tokenText = query["resume_token"] is { Count: > 0 } given ? given[0] : managed is null ? null : ResumeRouting.StartOf(managed, core).Encode();
        ResumeToken? resume = null;
        ResumeToken? replayFrom = null;
        if (tokenText is not null)
        {
            if (!ResumeToken.TryDecode(tokenText, out var token, out var reason))
            {
                problems.Add(new ValidationProblem("resume_token", reason));
            }
            else
            {
                resume = token;
                var (route, why) = ResumeRouting.Decide(core, replay, token);
                if (route == ResumeRoute.Replay)
                {
                    replayFrom = token;
                }
                else if (route != ResumeRoute.Attach)
                {
                    problems.Add(new ValidationProblem("resume_token", why!));
                }
            }
        }

        if (problems.Count > 0)
        {
            return (null, problems[0]);
        }

        // What the caller may see: the filter narrowed to its entitlements (the client is told what was cut).
        (filter, var narrowed) = Entitlements.Apply(filter!, rights);

        // Watching orders from now: their current state first, then events from exactly the position it reflects.
        IReadOnlyList<OrderExecutionStatus>? snapshot = null;
        if (managed is null && resume is null && filter.OrderIds.Count > 0)
        {
            (var current, var asOf) = await lookups.SnapshotAsync(filter.OrderIds, cancellationToken).ConfigureAwait(false);
            snapshot = [.. current.Where(s => Entitlements.MaySee(rights, s.PortfolioId))];
            resume = core.TokenAt(asOf, 0);
        }

        var id = managed?.SubscriptionId ?? $"ws-{Guid.NewGuid():N}";
        return (new StreamPlan(id, filter, guarantee, resume, managed, snapshot, replayFrom, narrowed), null);
    }

    /// <summary>The problem of a JSON string that escapes a lone surrogate (<c>"\ud800"</c>): valid JSON, but no text.</summary>
    public const string NotText = "must be text (an escaped lone surrogate is not)";

    /// <summary>A JSON string's text, or null when it escapes a lone surrogate, which no .NET string of valid UTF-16 can hold.</summary>
    public static string? Text(JsonElement value)
    {
        try
        {
            return value.GetString();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>
    /// The fields of a <c>subscribe</c> message as stream parameters: each a string, a number or a
    /// list of them (the query string's names and meanings). <c>type</c> and <c>request_id</c> are not parameters.
    /// </summary>
    public static IQueryCollection FromMessage(JsonElement message, out ValidationProblem? problem)
    {
        problem = null;
        var fields = new Dictionary<string, StringValues>(StringComparer.Ordinal);
        foreach (var property in message.EnumerateObject())
        {
            if (property.NameEquals("type"u8) || property.NameEquals("request_id"u8))
            {
                continue;
            }

            if (!Array.Exists(FilterParameters, p => property.NameEquals(p)) && !property.NameEquals("subscription_id"u8) && !property.NameEquals("resume_token"u8))
            {
                problem = new ValidationProblem(property.Name, "is not a stream parameter (see docs/streaming.md)");
                return QueryCollection.Empty;
            }

            var value = property.Value;
            switch (value.ValueKind)
            {
                case JsonValueKind.String:
                    if (Text(value) is not { } text)
                    {
                        problem = new ValidationProblem(property.Name, NotText);
                        return QueryCollection.Empty;
                    }

                    fields[property.Name] = text;
                    break;
                case JsonValueKind.Number:
                    fields[property.Name] = value.GetRawText();
                    break;
                case JsonValueKind.Array:
                    var items = new List<string>();
                    foreach (var item in value.EnumerateArray())
                    {
                        if (item.ValueKind is not (JsonValueKind.String or JsonValueKind.Number))
                        {
                            problem = new ValidationProblem($"{property.Name}[{items.Count}]", "must be a string");
                            return QueryCollection.Empty;
                        }

                        if ((item.ValueKind == JsonValueKind.String ? Text(item) : item.GetRawText()) is not { } itemText)
                        {
                            problem = new ValidationProblem($"{property.Name}[{items.Count}]", NotText);
                            return QueryCollection.Empty;
                        }

                        items.Add(itemText);
                    }

                    fields[property.Name] = items.ToArray();
                    break;
                default:
                    problem = new ValidationProblem(property.Name, "must be a string or a list of strings");
                    return QueryCollection.Empty;
            }
        }

        return new QueryCollection(fields);
    }

    private static string[] List(StringValues values)
    {
        if (values.Count == 0)
        {
            return [];
        }

        var items = new List<string>();
        foreach (var value in values)
        {
            if (value is null)
            {
                continue;
            }

            foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                items.Add(part);
            }
        }

        return [.. items];
    }

    private static int? ParseInt(StringValues values, string field, List<ValidationProblem> problems)
    {
        if (values.Count == 0)
        {
            return null;
        }

        if (int.TryParse(values[0], CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        problems.Add(new ValidationProblem(field, "must be an integer"));
        return null;
    }
}
