using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Subscriptions;
using ExecutionDistribution.Security;

namespace ExecutionDistribution.Api;

/// <summary>
/// <c>/api/v1/subscriptions</c>: the REST twin of gRPC ManageSubscription and Acknowledge, over the
/// same registry and rules. Answers 400 naming the field, 404, 409 (exists).
/// </summary>
internal static class SubscriptionsApi
{
    public static IEndpointRouteBuilder MapSubscriptionsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/subscriptions").WithTags("Subscriptions");
        var manage = Scopes.ManageSubscriptions;
        group.MapPost("/", Create).RequireAuthorization(manage).Produces<SubscriptionView>(StatusCodes.Status201Created).ProducesValidationProblem().ProducesProblem(StatusCodes.Status409Conflict);
        group.MapGet("/", (HttpContext http, SubscriptionRegistry registry) =>
            Results.Ok(registry.List().Where(s => Visible(s, http) is not null).Select(s => View(s, registry)))).RequireAuthorization(Scopes.Read).Produces<SubscriptionView[]>();
        group.MapGet("/{subscription_id}", async (string subscription_id, HttpContext http, SubscriptionRegistry registry, CancellationToken ct) =>
            {
                await registry.RefreshAsync(subscription_id, ct).ConfigureAwait(false); // created or changed through another instance, perhaps
                return Visible(registry.Get(subscription_id), http) is { } s ? Results.Ok(View(s, registry)) : NotFound(subscription_id);
            })
            .RequireAuthorization(Scopes.Read).Produces<SubscriptionView>().ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPut("/{subscription_id}", Update).RequireAuthorization(manage).Produces<SubscriptionView>().ProducesValidationProblem().ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("/{subscription_id}/pause", (string subscription_id, HttpContext http, SubscriptionRegistry registry, CancellationToken ct) => SetStatus(subscription_id, "paused", http, registry, ct))
            .RequireAuthorization(manage).Produces<SubscriptionView>().ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("/{subscription_id}/resume", (string subscription_id, HttpContext http, SubscriptionRegistry registry, CancellationToken ct) => SetStatus(subscription_id, "active", http, registry, ct))
            .RequireAuthorization(manage).Produces<SubscriptionView>().ProducesProblem(StatusCodes.Status404NotFound);
        group.MapDelete("/{subscription_id}", async (string subscription_id, HttpContext http, SubscriptionRegistry registry, CancellationToken ct) =>
        {
            await registry.RefreshAsync(subscription_id, ct).ConfigureAwait(false);
            if (Visible(registry.Get(subscription_id), http) is not { } s)
            {
                return NotFound(subscription_id);
            }

            await registry.RemoveAsync(subscription_id, ct).ConfigureAwait(false);
            return Results.Ok(View(s with { Status = "deleted" }, registry));
        }).RequireAuthorization(manage).Produces<SubscriptionView>().ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("/{subscription_id}/ack", Acknowledge).RequireAuthorization(Scopes.Read).Produces<AckView>().ProducesValidationProblem().ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    // A subscription the caller may use (its owner's, or of a workflow its token grants); any other is answered as unknown (404).
    private static ManagedSubscription? Visible(ManagedSubscription? s, HttpContext http) =>
        s is not null && Entitlements.MayUse(CallerRights.Of(http.User), s.Owner, s.SubscriberWorkflow) ? s : null;

    private static async Task<IResult> Create(SubscriptionBody body, HttpContext http, SubscriptionRegistry registry, FanOutDispatcher core, TimeProvider time, CancellationToken ct)
    {
        var managed = SubscriptionRules.Build(body.ToDefinition(body.SubscriptionId), "active", Timestamps.UtcNow(time), core.TokenAtHead(),
            out var problems, out var overLimit);
        if (managed is null)
        {
            return Invalid(problems, overLimit);
        }

        managed = managed with { Owner = CallerRights.Of(http.User).Subject };
        return await registry.TryAddAsync(managed, ct).ConfigureAwait(false)
            ? Results.Created($"/api/v1/subscriptions/{managed.SubscriptionId}", View(managed, registry))
            : Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Subscription exists", detail: $"subscription '{managed.SubscriptionId}' already exists");
    }

    private static async Task<IResult> Update(string subscription_id, SubscriptionBody body, HttpContext http, SubscriptionRegistry registry, CancellationToken ct)
    {
        await registry.RefreshAsync(subscription_id, ct).ConfigureAwait(false);
        if (Visible(registry.Get(subscription_id), http) is not { } existing)
        {
            return NotFound(subscription_id);
        }

        var managed = SubscriptionRules.Build(body.ToDefinition(subscription_id), existing.Status, existing.CreatedAt, existing.Acknowledged, out var problems, out var overLimit);
        if (managed is null)
        {
            return Invalid(problems, overLimit);
        }

        managed = managed with { Owner = existing.Owner };
        await registry.ReplaceAsync(managed, ct).ConfigureAwait(false);
        return Results.Ok(View(managed, registry));
    }

    private static async Task<IResult> SetStatus(string id, string status, HttpContext http, SubscriptionRegistry registry, CancellationToken ct)
    {
        await registry.RefreshAsync(id, ct).ConfigureAwait(false);
        if (Visible(registry.Get(id), http) is not { } s)
        {
            return NotFound(id);
        }

        var changed = s with { Status = status };
        await registry.ReplaceAsync(changed, ct).ConfigureAwait(false);
        return Results.Ok(View(changed, registry));
    }

    private static IResult Acknowledge(string subscription_id, AckBody body, HttpContext http, SubscriptionRegistry registry, FanOutDispatcher core)
    {
        if (Visible(registry.Get(subscription_id), http) is null)
        {
            return NotFound(subscription_id);
        }

        if (!ResumeToken.TryDecode(body.ResumeToken, out var token, out var reason))
        {
            return Invalid([new ValidationProblem("resume_token", reason)], overLimit: false);
        }

        if (token.Epoch != core.TokenEpoch)
        {
            return Invalid([new ValidationProblem("resume_token", "was issued by another cluster (or another run of a service without Kafka)")], overLimit: false);
        }

        return registry.Acknowledge(subscription_id, token) is { } held
            ? Results.Ok(new AckView(subscription_id, held.Encode(), held.Sequence))
            : NotFound(subscription_id);
    }

    private static IResult NotFound(string id) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown subscription", detail: $"subscription '{id}' does not exist");

    // Limits (overLimit) are bad input on REST too: 400 naming the field, like every other problem.
    private static IResult Invalid(List<ValidationProblem> problems, bool overLimit)
    {
        var errors = problems.GroupBy(p => p.Path, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Select(p => p.Message).ToArray(), StringComparer.Ordinal);
        return Results.ValidationProblem(errors, title: overLimit ? "The subscription's filter exceeds a limit." : "The subscription is invalid.");
    }

    private static SubscriptionView View(ManagedSubscription s, SubscriptionRegistry registry) => new(
        s.SubscriptionId,
        s.TopicName,
        s.SubscriberWorkflow,
        FilterBody.From(s.Spec),
        s.Guarantee.Name(),
        s.Status,
        s.CreatedAt,
        registry.IsStreaming(s.SubscriptionId),
        s.Acknowledged.Encode(),
        s.Acknowledged.Sequence);

    /// <summary>The body of POST and PUT.</summary>
    internal sealed record SubscriptionBody(string? SubscriptionId, string? TopicName, string? SubscriberWorkflow, FilterBody? Filter, string? DeliveryGuarantee)
    {
        public SubscriptionDefinition ToDefinition(string? id) =>
            new(id ?? string.Empty, TopicName ?? string.Empty, SubscriberWorkflow ?? string.Empty, (Filter ?? new FilterBody()).ToSpec(), DeliveryGuarantee);
    }

    /// <summary>A filter in JSON (the dimensions of docs/contract.md).</summary>
    internal sealed record FilterBody
    {
        public string[]? Topics { get; init; }
        public string[]? RoutingKeys { get; init; }
        public string[]? DataTypes { get; init; }
        public string[]? OrderIds { get; init; }
        public string[]? Instruments { get; init; }
        public string[]? Venues { get; init; }
        public string[]? TargetWorkflows { get; init; }
        public string[]? PortfolioIds { get; init; }
        public int? MinPriority { get; init; }

        public FilterSpec ToSpec() => new()
        {
            Topics = Topics ?? [],
            RoutingKeys = RoutingKeys ?? [],
            DataTypes = DataTypes ?? [],
            OrderIds = OrderIds ?? [],
            Instruments = Instruments ?? [],
            Venues = Venues ?? [],
            TargetWorkflows = TargetWorkflows ?? [],
            PortfolioIds = PortfolioIds,
            MinPriority = MinPriority,
        };

        public static FilterBody From(FilterSpec s) => new()
        {
            RoutingKeys = [.. s.RoutingKeys],
            DataTypes = [.. s.DataTypes],
            OrderIds = [.. s.OrderIds],
            Instruments = [.. s.Instruments],
            Venues = [.. s.Venues],
            TargetWorkflows = [.. s.TargetWorkflows],
            PortfolioIds = s.PortfolioIds is null ? null : [.. s.PortfolioIds],
            MinPriority = s.MinPriority,
        };
    }

    /// <summary>The body of POST .../ack.</summary>
    internal sealed record AckBody(string? ResumeToken);

    /// <summary>A subscription as REST shows it.</summary>
    internal sealed record SubscriptionView(
        string SubscriptionId,
        string TopicName,
        string SubscriberWorkflow,
        FilterBody Filter,
        string DeliveryGuarantee,
        string Status,
        DateTime CreatedAt,
        bool Streaming,
        string AcknowledgedToken,
        long AcknowledgedSequence);

    /// <summary>The acknowledged point after an acknowledgement.</summary>
    internal sealed record AckView(string SubscriptionId, string AcknowledgedToken, long AcknowledgedSequence);
}
