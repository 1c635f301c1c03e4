using ExecutionDistribution.Hosting;
using System.Globalization;
using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Orders;
using ExecutionDistribution.Security;
using ExecutionDistribution.Subscriptions;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using Filter = ExecutionDistribution.Grpc.V1.Filter;

namespace ExecutionDistribution.Streaming.Grpc;

/// <summary>
/// The spec's <c>ExecutionStream</c> gRPC service on its generated base, a thin layer over the
/// connection model: a <c>StreamExecution</c> call is a connection of one subscription
/// (<see cref="ExecutionCall"/>), a <c>StreamMultiplexed</c> call one of several (<see cref="MultiplexedCall"/>),
/// whose messages share each event's JSON bytes. Grpc.AspNetCore frames them.
/// Errors: InvalidArgument (a field named), NotFound, AlreadyExists, FailedPrecondition (paused,
/// already streaming, token from an earlier run), OutOfRange (events after the token no longer
/// retained), ResourceExhausted (stream limit), Aborted (the subscription changed under the stream),
/// Unavailable (the service is stopping). See docs/streaming.md.
/// </summary>
internal sealed class ExecutionStreamService(
    FanOutDispatcher core,
    SubscriptionRegistry registry,
    IOptions<GrpcStreamOptions> options,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    OrderLookups lookups,
    AuditTrail trail,
    [FromKeyedServices(GrpcStreamOptions.SectionName)] StreamLimiter limiter,
    IOptions<ClusterOptions> cluster,
    AccessRevocations revocations,
    TokenValidation tokens,
    IEventReplay? replay = null) : ExecutionStream.ExecutionStreamBase
{
    [Authorize(Policy = Scopes.Read)]
    public override async Task StreamExecution(StreamRequest request, IServerStreamWriter<ExecutionMessage> responseStream, ServerCallContext context)
    {
        ServesStreams();
        var o = options.Value;
        var rights = CallerRights.Of(context.GetHttpContext().User);
        var (filter, guarantee, managed, resume, replayFrom, snapshot, perMessage, narrowed) =
            await ResolveAsync(request, rights, context.CancellationToken).ConfigureAwait(false);
        var client = ClientOf(context);
        if (!limiter.TryAcquire(client, out var refusal))
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, refusal));
        }

        // Ends the stream: the client going away (a write then fails at once), or the service stopping:
        // then the subscription stops, what it holds is sent, and the stream ends with its token (a drain).
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        var id = managed?.SubscriptionId ?? $"grpc-{Guid.NewGuid():N}";
        var call = new ExecutionCall(core, registry, trail, o, time, responseStream, context.GetHttpContext().Response.BodyWriter, id, context.CancellationToken);
        using var draining = lifetime.ApplicationStopping.Register(call.Subscriptions.StopAll);
        using var access = call.Access = revocations.Track(id, rights, call.Deny);
        var heartbeats = Task.CompletedTask;
        try
        {
            var admission = call.Subscriptions.Admit(id, managed, guarantee, filter, out var refused)
                ?? throw new RpcException(new Status(StatusCode.FailedPrecondition, $"subscription '{id}' already has an active stream"));
            var headersSent = false;
            if (replayFrom is { } from)
            {
                // The events before the retained log come from Kafka first; the core takes over where the log begins.
                try
                {
                    await context.WriteResponseHeadersAsync(Headers(from.Encode(), id, narrowed)).ConfigureAwait(false);
                    headersSent = true;
                    resume = await ReplayAsync(from, filter, id, call, perMessage, admission.Audit, ended.Token).ConfigureAwait(false);
                }
                catch
                {
                    call.Subscriptions.Abandon(admission);
                    throw;
                }
            }

            var member = call.Subscriptions.Join(admission, filter, guarantee, resume, o.BufferCapacity, perMessage, out refused)
                ?? throw new RpcException(new Status(refused!.Kind == RefusalKind.Limit ? StatusCode.ResourceExhausted : StatusCode.FailedPrecondition, refused.Reason));
            using var stop = ended.Token.Register(call.Subscriptions.StopAll);
            try
            {
                // Headers now: a client that has them knows it is attached, and where it started.
                if (!headersSent)
                {
                    await context.WriteResponseHeadersAsync(Headers(member.ResumeToken, id, narrowed)).ConfigureAwait(false);
                }

                if (snapshot is not null)
                {
                    await call.WriteAsync(new ExecutionMessage { SubscriptionId = id, ResumeToken = member.ResumeToken, Snapshot = snapshot }).ConfigureAwait(false);
                }
            }
            finally
            {
                // Read from now on (even when the opening failed, so it is let go of like any other).
                call.Subscriptions.Activate(member);
            }

            heartbeats = call.HeartbeatLoopAsync(ended.Token);
            await call.Done.ConfigureAwait(false);
            if (context.CancellationToken.IsCancellationRequested)
            {
                return;
            }

            // The token after the last message, in the trailers too: the client resumes on another instance with it.
            var trailers = new Metadata { { "x-resume-token", member.ResumeToken } };
            if (call.DeniedReason is { } denied)
            {
                throw new RpcException(new Status(StatusCode.PermissionDenied, denied), trailers);
            }

            throw member.EndReason == ConnectionSubscriptions.ChangedReason && !lifetime.ApplicationStopping.IsCancellationRequested
                ? new RpcException(new Status(StatusCode.Aborted, $"subscription '{id}' was changed, paused or deleted; reconnect with your resume token"), trailers)
                : new RpcException(new Status(StatusCode.Unavailable, "the instance is stopping; reconnect (to another instance) with your resume token"), trailers);
        }
        finally
        {
            call.Subscriptions.StopAll();
            call.Subscriptions.ReleaseAll();

            await ended.CancelAsync().ConfigureAwait(false);
            await heartbeats.ConfigureAwait(false);
            await StopAsync(call, context).ConfigureAwait(false);
            limiter.Release(client);
        }
    }

    /// <summary>
    /// What a stream request asks for, or an <see cref="RpcException"/> naming the field: its filter and
    /// guarantee (ad hoc, or a managed subscription's), where it starts (its token, the managed
    /// subscription's acknowledged point, or the order snapshot's position), and whether its start is
    /// older than the retained log and must be re-read from Kafka.
    /// </summary>
    internal async Task<StreamPlan> ResolveAsync(StreamRequest request, CallerRights rights, CancellationToken cancellationToken)
    {
        if (request.SubscriptionId.Length > 0)
        {
            // Created, changed or acknowledged through another instance, perhaps.
            await registry.RefreshAsync(request.SubscriptionId, cancellationToken).ConfigureAwait(false);
        }

        var (asked, guarantee, managed) = ResolveTarget(request, rights);
        var (filter, narrowed) = Entitlements.Apply(asked, rights);
        ResumeToken? resume = null;
        ResumeToken? replayFrom = null;
        var tokenText = request.ResumeToken;
        if (tokenText.Length == 0 && managed is not null)
        {
            // A subscription's stream without a token continues after its last acknowledgement
            // (or from its creation): everything not acknowledged is delivered again.
            tokenText = ResumeRouting.StartOf(managed, core).Encode();
        }

        if (tokenText.Length > 0)
        {
            if (!ResumeToken.TryDecode(tokenText, out var token, out var reason))
            {
                throw Invalid("resume_token", reason);
            }

            resume = token;
            var (route, why) = ResumeRouting.Decide(core, replay, token);
            switch (route)
            {
                case ResumeRoute.Invalid:
                    throw Invalid("resume_token", why!);
                case ResumeRoute.Foreign:
                    throw new RpcException(new Status(StatusCode.FailedPrecondition, $"resume_token {why}"));
                case ResumeRoute.Expired:
                    throw new RpcException(new Status(StatusCode.OutOfRange, $"resume_token {why}"));
                case ResumeRoute.Replay:
                    // Older than the retained log (or than this instance's start): re-read from Kafka first.
                    replayFrom = token;
                    break;
            }
        }

        var perMessage = request.MaxEventsPerMessage == 0 ? options.Value.DefaultEventsPerMessage : request.MaxEventsPerMessage;
        if (perMessage is < 1 or > 1_024)
        {
            throw Invalid("max_events_per_message", "must be between 1 and 1024");
        }

        // Watching orders from now: their current state first, then events from exactly the position it reflects.
        OrderSnapshot? snapshot = null;
        if (managed is null && resume is null && filter.OrderIds.Count > 0)
        {
            var (current, asOf) = await lookups.SnapshotAsync(filter.OrderIds, cancellationToken).ConfigureAwait(false);
            snapshot = ToMessage([.. current.Where(s => Entitlements.MaySee(rights, s.PortfolioId))]);
            resume = core.TokenAt(asOf, 0);
        }

        return new StreamPlan(filter, guarantee, managed, resume, replayFrom, snapshot, perMessage, narrowed);
    }

    /// <summary>Several subscriptions on one call (<see cref="MultiplexedCall"/>).</summary>
    [Authorize(Policy = Scopes.Read)]
    public override async Task StreamMultiplexed(IAsyncStreamReader<StreamCommand> requestStream, IServerStreamWriter<MultiplexedMessage> responseStream, ServerCallContext context)
    {
        ServesStreams();
        var client = ClientOf(context);
        if (!limiter.TryAcquire(client, out var refusal))
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, refusal));
        }

        MultiplexedCall call;
        try
        {
            var rights = CallerRights.Of(context.GetHttpContext().User);
            call = new MultiplexedCall(this, rights, tokens, core, registry, trail, options.Value, time, responseStream,
                context.GetHttpContext().Response.BodyWriter, replay, context.CancellationToken);
            using var access = call.Access = revocations.Track($"grpc-call-{Guid.NewGuid():N}", rights, call.Deny);
            await call.RunAsync(requestStream, context, lifetime.ApplicationStopping).ConfigureAwait(false);
        }
        finally
        {
            limiter.Release(client);
        }

        if (call.Unreadable is { } why)
        {
            throw why;
        }

        if (call.DeniedReason is { } denied)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, denied));
        }

        if (lifetime.ApplicationStopping.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "the service is stopping; reconnect with your resume tokens"));
        }
    }

    // "ipv4:127.0.0.1:50312" -> "127.0.0.1": the client is its address, whatever its port.
    private static string ClientOf(ServerCallContext context)
    {
        var peer = context.Peer ?? "unknown";
        var colon = peer.LastIndexOf(':');
        var first = peer.IndexOf(':', StringComparison.Ordinal);
        return colon > first && first >= 0 ? peer[(first + 1)..colon] : peer;
    }

    [Authorize(Policy = Scopes.ManageSubscriptions)]
    public override async Task<SubscriptionResponse> ManageSubscription(SubscriptionRequest request, ServerCallContext context)
    {
        var id = request.SubscriptionId;
        var rights = CallerRights.Of(context.GetHttpContext().User);
        if (SubscriptionRules.CheckId(id) is { } problem)
        {
            throw Invalid(problem.Path, problem.Message);
        }

        if (request.Action != SubscriptionAction.Create)
        {
            await registry.RefreshAsync(id, context.CancellationToken).ConfigureAwait(false); // created or changed through another instance, perhaps
        }

        switch (request.Action)
        {
            case SubscriptionAction.Create:
                // Durable from now: a first stream, whenever it comes, starts at this point.
                var created = core.TokenAtHead();
                if (!await registry.TryAddAsync(Build(request, "active", Timestamps.UtcNow(time), created) with { Owner = rights.Subject }, context.CancellationToken).ConfigureAwait(false))
                {
                    throw new RpcException(new Status(StatusCode.AlreadyExists, $"subscription '{id}' already exists"));
                }

                break;
            case SubscriptionAction.Update:
                var existing = Existing(id, rights);
                await registry.ReplaceAsync(Build(request, existing.Status, existing.CreatedAt, existing.Acknowledged) with { Owner = existing.Owner }, context.CancellationToken).ConfigureAwait(false);
                break;
            case SubscriptionAction.Pause:
                await registry.ReplaceAsync(Existing(id, rights) with { Status = "paused" }, context.CancellationToken).ConfigureAwait(false);
                break;
            case SubscriptionAction.Resume:
                await registry.ReplaceAsync(Existing(id, rights) with { Status = "active" }, context.CancellationToken).ConfigureAwait(false);
                break;
            case SubscriptionAction.Delete:
                var deleted = Existing(id, rights);
                await registry.RemoveAsync(id, context.CancellationToken).ConfigureAwait(false);
                return new SubscriptionResponse { Subscription = ToMessage(deleted with { Status = "deleted" }) };
            case SubscriptionAction.Get:
                break;
            default:
                throw Invalid("action", "must be CREATE, UPDATE, PAUSE, RESUME, DELETE or GET");
        }

        return new SubscriptionResponse { Subscription = ToMessage(Existing(id, rights)) };
    }

    // A processor serves no streams: the client is sent to a gateway.
    private void ServesStreams()
    {
        if (!cluster.Value.ServesClients)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, ClusterRoles.NoStreamsHere));
        }
    }

    [Authorize(Policy = Scopes.Read)]
    public override Task<TokenRefreshed> RefreshStream(RefreshRequest request, ServerCallContext context)
    {
        var access = revocations.Find(request.StreamId)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"stream_id: '{request.StreamId}' is not a stream open on this instance"));
        var rights = CallerRights.Of(context.GetHttpContext().User);
        return access.Refresh(rights) is { } problem
            ? throw new RpcException(new Status(StatusCode.PermissionDenied, problem))
            : Task.FromResult(Refreshed(string.Empty, rights));
    }

    /// <summary>The reply to a refresh: when the new token expires.</summary>
    internal static TokenRefreshed Refreshed(string requestId, CallerRights rights) => new()
    {
        RequestId = requestId,
        ExpiresAt = rights.ExpiresAt is { } at ? at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture) : string.Empty,
    };

    [Authorize(Policy = Scopes.Read)]
    public override Task<AckResponse> Acknowledge(AckRequest request, ServerCallContext context) =>
        Task.FromResult(Acknowledge(request, CallerRights.Of(context.GetHttpContext().User)));

    /// <summary>
    /// Nothing writes to the call once this returns: waits for a write under way, and ends the request
    /// when its client has not read it for <see cref="StopWait"/> (then nothing else would end it).
    /// </summary>
    internal static async Task StopAsync(Connection call, ServerCallContext context)
    {
        var stopped = call.StopAsync();
        if (await Task.WhenAny(stopped, Task.Delay(StopWait, CancellationToken.None)).ConfigureAwait(false) != stopped)
        {
            context.GetHttpContext().Abort();
        }

        await stopped.ConfigureAwait(false);
    }

    /// <summary>How long a call that ends waits for its client to read what is being written.</summary>
    internal static readonly TimeSpan StopWait = TimeSpan.FromSeconds(5);

    /// <summary>Records an acknowledgement, or an <see cref="RpcException"/> naming the field.</summary>
    internal AckResponse Acknowledge(AckRequest request, CallerRights rights)
    {
        if (request.SubscriptionId.Length is 0 or > 100)
        {
            throw Invalid("subscription_id", "must be 1 to 100 characters");
        }

        _ = Existing(request.SubscriptionId, rights);

        if (!ResumeToken.TryDecode(request.ResumeToken, out var token, out var reason))
        {
            throw Invalid("resume_token", reason);
        }

        if (token.Epoch != core.TokenEpoch)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, "resume_token was issued by another cluster (or another run of a service without Kafka)"));
        }

        var held = registry.Acknowledge(request.SubscriptionId, token)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"subscription '{request.SubscriptionId}' does not exist"));
        return new AckResponse { AcknowledgedToken = held.Encode(), AcknowledgedSequence = held.Sequence };
    }

    // Sends the events from a token older than the retained log, re-read from Kafka, and returns where
    // the core takes over. A record that cannot be re-read ends the stream with OutOfRange: the client
    // holds the token of the last message it got, and nothing after it was skipped.
    private async Task<ResumeToken> ReplayAsync(
        ResumeToken from, SubscriptionFilter filter, string id, ExecutionCall call, int perMessage, StreamAudit audit, CancellationToken cancellationToken)
    {
        var frames = new EventFrames();
        try
        {
            return await replay!.SendUntilHandOverAsync(filter, from, perMessage, async (batch, token) =>
            {
                await audit.WaitForRoomAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    await call.WriteEventsAsync(frames, id, token.Encode(), batch).ConfigureAwait(false);
                }
                catch
                {
                    audit.Failed(batch.Deliveries, reread: true);
                    throw;
                }

                // A write after the client vanished is swallowed by Kestrel: audited as failed, not delivered.
                if (cancellationToken.IsCancellationRequested)
                {
                    audit.Failed(batch.Deliveries, reread: true);
                    throw new OperationCanceledException(cancellationToken);
                }

                audit.Delivered(batch.Deliveries, reread: true);
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (ReplayException ex)
        {
            throw new RpcException(new Status(StatusCode.OutOfRange, $"resume_token: {ex.Message}"));
        }
    }

    private (SubscriptionFilter Filter, DeliveryGuarantee Guarantee, ManagedSubscription? Managed) ResolveTarget(StreamRequest request, CallerRights rights)
    {
        if (request.SubscriptionId.Length > 0)
        {
            if (request.Filter is not null)
            {
                throw Invalid("filter", "give either filter or subscription_id, not both");
            }

            _ = Existing(request.SubscriptionId, rights);
            var managed = registry.ResolveForStream(request.SubscriptionId, out var reason, out var notFound)
                ?? throw new RpcException(new Status(notFound ? StatusCode.NotFound : StatusCode.FailedPrecondition, reason!));
            return (managed.Filter, managed.Guarantee, managed);
        }

        var guarantee = ParseGuarantee(request.DeliveryGuarantee, "delivery_guarantee");
        var filter = BuildFilter(request.Filter ?? new Filter(), "filter");
        return (filter, guarantee, null);
    }

    // A subscription the caller may use (its owner's, or of a workflow its token grants); any other is answered as unknown.
    private ManagedSubscription Existing(string id, CallerRights rights) =>
        registry.Get(id) is { } s && Entitlements.MayUse(rights, s.Owner, s.SubscriberWorkflow)
            ? s
            : throw new RpcException(new Status(StatusCode.NotFound, $"subscription '{id}' does not exist"));

    private static ManagedSubscription Build(SubscriptionRequest request, string status, DateTime createdAt, ResumeToken acknowledged)
    {
        var given = request.Filter ?? new Filter();
        var definition = new SubscriptionDefinition(request.SubscriptionId, request.TopicName, request.SubscriberWorkflow, Spec(given), request.DeliveryGuarantee);
        var managed = SubscriptionRules.Build(definition, status, createdAt, acknowledged, out var problems, out var overLimit);
        if (managed is null)
        {
            var first = problems[0];
            var message = $"{first.Path}: {first.Message}" + (problems.Count > 1 ? $" (and {problems.Count - 1} more problems)" : string.Empty);
            throw new RpcException(new Status(overLimit ? StatusCode.ResourceExhausted : StatusCode.InvalidArgument, message));
        }

        return managed;
    }

    private static FilterSpec Spec(Filter filter) => new()
    {
        Topics = [.. filter.Topics],
        RoutingKeys = [.. filter.RoutingKeys],
        DataTypes = [.. filter.DataTypes],
        OrderIds = [.. filter.OrderIds],
        Instruments = [.. filter.Instruments],
        Venues = [.. filter.Venues],
        TargetWorkflows = [.. filter.TargetWorkflows],
        PortfolioIds = filter.PortfolioIds.Count > 0 ? [.. filter.PortfolioIds] : null,
        MinPriority = filter.MinPriority == 0 ? null : filter.MinPriority,
    };

    private static SubscriptionFilter BuildFilter(Filter filter, string field)
    {
        var built = Spec(filter).Build(out var problems, out var overLimit);
        if (built is null)
        {
            var first = problems[0];
            var message = $"{field}.{first.Path}: {first.Message}" + (problems.Count > 1 ? $" (and {problems.Count - 1} more problems)" : string.Empty);
            throw new RpcException(new Status(overLimit ? StatusCode.ResourceExhausted : StatusCode.InvalidArgument, message));
        }

        return built;
    }

    private static DeliveryGuarantee ParseGuarantee(string text, string field)
    {
        if (text.Length == 0)
        {
            return DeliveryGuarantee.AtLeastOnce;
        }

        return WireNames.TryParseDeliveryGuarantee(text, out var g) ? g : throw Invalid(field, "must be at_least_once or at_most_once");
    }

    private Subscription ToMessage(ManagedSubscription s)
    {
        var filter = new Filter { MinPriority = s.Spec.MinPriority ?? 0 };
        filter.RoutingKeys.AddRange(s.Spec.RoutingKeys);
        filter.DataTypes.AddRange(s.Spec.DataTypes);
        filter.OrderIds.AddRange(s.Spec.OrderIds);
        filter.Instruments.AddRange(s.Spec.Instruments);
        filter.Venues.AddRange(s.Spec.Venues);
        filter.TargetWorkflows.AddRange(s.Spec.TargetWorkflows);
        filter.PortfolioIds.AddRange(s.Spec.PortfolioIds ?? []);
        return new Subscription
        {
            SubscriptionId = s.SubscriptionId,
            TopicName = s.TopicName,
            SubscriberWorkflow = s.SubscriberWorkflow,
            Filter = filter,
            DeliveryGuarantee = s.Guarantee.Name(),
            Status = s.Status,
            CreatedAt = s.CreatedAt.ToString(Timestamps.WireFormat, CultureInfo.InvariantCulture),
            Streaming = registry.IsStreaming(s.SubscriptionId),
            AcknowledgedToken = s.Acknowledged.Encode(),
        };
    }

    private static OrderSnapshot ToMessage(IReadOnlyList<OrderExecutionStatus> statuses)
    {
        static string D(decimal value) => value.ToString(CultureInfo.InvariantCulture);
        var snapshot = new OrderSnapshot();
        foreach (var s in statuses)
        {
            snapshot.Orders.Add(new OrderState
            {
                OrderId = s.OrderId,
                Status = s.Status,
                OrderQty = s.OrderQty is { } q ? D(q) : string.Empty,
                CumQty = D(s.CumQty),
                LeavesQty = s.LeavesQty is { } leaves ? D(leaves) : string.Empty,
                AvgPx = D(s.AvgPx),
                FillCount = s.FillCount,
                UpdatedAt = s.UpdatedAt.ToString(Timestamps.WireFormat, CultureInfo.InvariantCulture),
                InstrumentId = s.InstrumentId ?? string.Empty,
                PortfolioId = s.PortfolioId ?? string.Empty,
                Side = s.Side ?? string.Empty,
            });
        }

        return snapshot;
    }

    /// <summary>A stream request resolved (<see cref="ResolveAsync"/>).</summary>
    internal sealed record StreamPlan(
        SubscriptionFilter Filter, DeliveryGuarantee Guarantee, ManagedSubscription? Managed, ResumeToken? Resume, ResumeToken? ReplayFrom, OrderSnapshot? Snapshot, int PerMessage, string? Narrowed);

    // A stream's response headers: where it starts, its id, and what of its filter the caller is not entitled to.
    private static Metadata Headers(string token, string id, string? narrowed)
    {
        var headers = new Metadata { { "x-resume-token", token }, { "x-subscription-id", id } };
        if (narrowed is not null)
        {
            headers.Add("x-filter-narrowed", narrowed);
        }

        return headers;
    }

    internal static RpcException Invalid(string field, string message) =>
        new(new Status(StatusCode.InvalidArgument, $"{field}: {message}"));
}
