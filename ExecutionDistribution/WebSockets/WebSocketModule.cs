using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Distribution;
using Microsoft.Extensions.Options;
using ExecutionDistribution.Orders;
using ExecutionDistribution.Subscriptions;
using Microsoft.Extensions.Primitives;

namespace ExecutionDistribution.WebSockets;

/// <summary>
/// Registers <c>WebSocket /api/v1/execution/stream</c>: query parameters <c>order_ids</c>,
/// <c>data_types</c> (the spec's), plus <c>topics</c>, <c>routing_keys</c>, <c>instruments</c>,
/// <c>venues</c>, <c>target_workflows</c>, <c>min_priority</c>, <c>delivery_guarantee</c> and
/// <c>resume_token</c>. Lists are comma-separated or repeated. A bad parameter closes the socket with
/// 1008 and a reason naming it. See docs/streaming.md.
/// </summary>
internal static class WebSocketModule
{
    public static WebApplicationBuilder AddWebSocketModule(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<WebSocketOptions>().Bind(builder.Configuration.GetSection(WebSocketOptions.SectionName)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<WebSocketOptions>, WebSocketOptionsValidator>();
        builder.Services.AddKeyedSingleton(WebSocketOptions.SectionName, (sp, _) =>
        {
            var o = sp.GetRequiredService<IOptions<WebSocketOptions>>().Value;
            return new StreamLimiter(o.MaxStreams, o.MaxStreamsPerClient, WebSocketOptions.SectionName);
        });

        // Protocol pings from our settings, read when the pipeline is built at start (after validation).
        builder.Services.AddOptions<Microsoft.AspNetCore.Builder.WebSocketOptions>()
            .Configure<IOptions<WebSocketOptions>>((aspnet, ours) => aspnet.KeepAliveInterval = ours.Value.KeepAliveInterval);
        return builder;
    }

    public static WebApplication MapWebSocketStream(this WebApplication app)
    {
        app.UseWebSockets();
        app.Map("/api/v1/execution/stream", StreamAsync);
        return app;
    }

    private static readonly string[] FilterParameters = ["topics", "routing_keys", "data_types", "order_ids", "instruments", "venues", "target_workflows", "min_priority", "delivery_guarantee"];

    private static async Task StreamAsync(
        HttpContext context,
        FanOutDispatcher core,
        SubscriptionRegistry registry,
        AuditTrail trail,
        IOptions<WebSocketOptions> options,
        TimeProvider time,
        IHostApplicationLifetime lifetime,
        OrderLookups lookups,
        [FromKeyedServices(WebSocketOptions.SectionName)] StreamLimiter limiter)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "WebSocket upgrade required",
                detail: "Connect to /api/v1/execution/stream with a WebSocket client.").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        var query = context.Request.Query;
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
            if (Array.Exists(FilterParameters, p => query.ContainsKey(p)))
            {
                problems.Add(new ValidationProblem("subscription_id", "give either a subscription_id or filter parameters, not both"));
            }
            else
            {
                managed = registry.ResolveForStream(sid[0] ?? string.Empty, out var why, out _);
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

        var tokenText = query["resume_token"] is { Count: > 0 } given ? given[0] : managed?.StartIn(core.LogEpoch, core.Tail).Encode();
        ResumeToken? resume = null;
        if (tokenText is not null)
        {
            if (!ResumeToken.TryDecode(tokenText, out var token, out var reason))
            {
                problems.Add(new ValidationProblem("resume_token", reason));
            }
            else
            {
                resume = token;
                var check = core.CheckResume(token);
                if (check != ResumeCheck.Available)
                {
                    problems.Add(new ValidationProblem("resume_token", check switch
                    {
                        ResumeCheck.OtherEpoch => "is from an earlier run of the service; its events cannot be replayed exactly",
                        ResumeCheck.Expired => $"points before the oldest retained event (position {core.Tail}); events were missed",
                        _ => "is not a resume token issued by this service",
                    }));
                }
            }
        }

        // Watching orders from now: their current state first, then events from exactly the position it reflects.
        IReadOnlyList<OrderExecutionStatus>? snapshot = null;
        if (problems.Count == 0 && managed is null && resume is null && filter!.OrderIds.Count > 0)
        {
            (snapshot, var asOf) = await lookups.SnapshotAsync(filter.OrderIds, context.RequestAborted).ConfigureAwait(false);
            resume = new ResumeToken(core.LogEpoch, asOf, 0);
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
        if (problems.Count > 0)
        {
            await WebSocketStreamSession.RejectAsync(socket, problems[0].ToString()).ConfigureAwait(false);
            return;
        }

        var client = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        if (!limiter.TryAcquire(client, out var refusal))
        {
            await WebSocketStreamSession.RejectAsync(socket, refusal).ConfigureAwait(false);
            return;
        }

        using var changed = new CancellationTokenSource();
        var id = managed?.SubscriptionId ?? $"ws-{Guid.NewGuid():N}";
        var audit = new StreamAudit(trail, id, managed is null ? null : registry, guarantee);
        try
        {
            if (managed is not null && !registry.TryAttach(managed.SubscriptionId, changed, audit))
            {
                await WebSocketStreamSession.RejectAsync(socket, $"subscription_id: '{managed.SubscriptionId}' already has an active stream").ConfigureAwait(false);
                return;
            }

            var session = new WebSocketStreamSession(socket, core, options.Value, time, audit);
            var attachment = managed is null ? null : new SubscriptionAttachment(managed.SubscriptionId, registry, changed);
            await session.RunAsync(id, filter!, guarantee, resume, attachment, snapshot,
                context.RequestAborted, lifetime.ApplicationStopping).ConfigureAwait(false);
        }
        catch (SubscriptionRejectedException ex)
        {
            await WebSocketStreamSession.RejectAsync(socket, ex.Message).ConfigureAwait(false);
        }
        finally
        {
            if (managed is not null)
            {
                registry.Detach(managed.SubscriptionId, changed);
            }

            limiter.Release(client);
        }
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

        if (int.TryParse(values[0], System.Globalization.CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        problems.Add(new ValidationProblem(field, "must be an integer"));
        return null;
    }
}
