using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Hosting;
using ExecutionDistribution.Orders;
using ExecutionDistribution.Security;
using ExecutionDistribution.Subscriptions;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Streaming.WebSockets;

/// <summary>
/// Registers <c>WebSocket /api/v1/execution/stream</c>: query parameters <c>order_ids</c>,
/// <c>data_types</c> (the spec's), plus <c>topics</c>, <c>routing_keys</c>, <c>instruments</c>,
/// <c>venues</c>, <c>target_workflows</c>, <c>min_priority</c>, <c>delivery_guarantee</c> and
/// <c>resume_token</c>. Lists are comma-separated or repeated. A bad parameter closes the socket with
/// 1008 and a reason naming it. With <c>multiplex=true</c> one connection carries several
/// subscriptions, opened and closed by <c>subscribe</c> / <c>unsubscribe</c> messages. See docs/streaming.md.
/// </summary>
internal static class WebSocketModule
{
    public static WebApplicationBuilder AddWebSocketModule(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<WebSocketOptions, WebSocketOptionsValidator>(builder.Configuration, WebSocketOptions.SectionName);
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
        app.Map("/api/v1/execution/stream", StreamAsync).AllowAnonymous(); // authenticated by the session: a header, or the first message
        return app;
    }

    private static async Task StreamAsync(
        HttpContext context,
        FanOutDispatcher core,
        SubscriptionRegistry registry,
        AuditTrail trail,
        IOptions<WebSocketOptions> options,
        TimeProvider time,
        IHostApplicationLifetime lifetime,
        OrderLookups lookups,
        [FromKeyedServices(WebSocketOptions.SectionName)] StreamLimiter limiter,
        IOptions<ClusterOptions> cluster)
    {
        if (!cluster.Value.ServesClients)
        {
            await TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Streams are served by gateways",
                detail: ClusterRoles.NoStreamsHere).ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        if (!context.WebSockets.IsWebSocketRequest)
        {
            await TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "WebSocket upgrade required",
                detail: "Connect to /api/v1/execution/stream with a WebSocket client.").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        if (!OriginPolicy.Allows(context.Request, options.Value.AllowedOrigins))
        {
            await TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Origin not allowed",
                detail: $"Pages of origin '{context.Request.Headers.Origin}' may not open streams; {WebSocketOptions.SectionName}:{nameof(WebSocketOptions.AllowedOrigins)} lists the origins that may.")
                .ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        // Who is calling: a token with the upgrade is checked before it (401 / 403, like any request);
        // without one, the connection is accepted and its first message must carry one.
        if (WebSocketAuth.CarriedBadToken(context))
        {
            await context.ChallengeAsync().ConfigureAwait(false);
            return;
        }

        var rights = WebSocketAuth.FromRequest(context);
        if (rights is not null && !rights.Has(Scopes.Read))
        {
            await context.ForbidAsync().ConfigureAwait(false);
            return;
        }

        var query = context.Request.Query;
        var multiplex = false;
        ValidationProblem? problem = null;
        if (query["multiplex"] is { Count: > 0 } m && !bool.TryParse(m[0], out multiplex))
        {
            problem = new ValidationProblem("multiplex", "must be true or false");
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
        if (rights is null)
        {
            (rights, var code, var why) = await WebSocketAuth.FirstMessageAsync(socket, context.RequestServices.GetRequiredService<TokenValidation>(), context.RequestAborted).ConfigureAwait(false);
            if (rights is null || !rights.Has(Scopes.Read))
            {
                var (status, reason) = rights is null ? (code, why) : (WebSocketAuth.Forbidden, $"forbidden: the token does not grant {Scopes.Read}");
                if (reason is not null)
                {
                    context.RequestServices.GetRequiredService<SecurityMetrics>().Denied(rights is null ? "unauthenticated" : "forbidden");
                    await WebSocketAuth.CloseAsync(socket, status, reason).ConfigureAwait(false);
                }

                return;
            }
        }

        // A multiplexed connection may open with no subscription and add them by message.
        StreamPlan? first = null;
        if (problem is null && (!multiplex || StreamRequest.DescribesStream(query)))
        {
            // A token older than the retained log: its events are re-read from Kafka (where the service reads Kafka).
            var replay = context.RequestServices.GetService<IEventReplay>();
            (first, problem) = await StreamRequest.ResolveAsync(query, rights, core, registry, lookups, replay, context.RequestAborted).ConfigureAwait(false);
        }

        if (problem is { } bad)
        {
            await WebSocketStreamSession.RejectAsync(socket, bad.ToString()).ConfigureAwait(false);
            return;
        }

        var client = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        if (!limiter.TryAcquire(client, out var refusal))
        {
            await WebSocketStreamSession.RejectAsync(socket, refusal).ConfigureAwait(false);
            return;
        }

        try
        {
            var session = new WebSocketStreamSession(socket, core, registry, trail, lookups, rights, options.Value, time, multiplex, context.RequestAborted, context.RequestServices.GetService<IEventReplay>())
            {
                Tokens = context.RequestServices.GetRequiredService<TokenValidation>(),
            };
            using var access = session.Access = context.RequestServices.GetRequiredService<AccessRevocations>().Track(first?.Id ?? $"ws-call-{Guid.NewGuid():N}", rights, session.Deny);
            await session.RunAsync(first, lifetime.ApplicationStopping).ConfigureAwait(false);
        }
        finally
        {
            limiter.Release(client);
        }
    }
}
