using System.Text.Json;
using System.Text.Json.Serialization;
using ExecutionDistribution.Core;

namespace ExecutionDistribution.Subscriptions;

/// <summary>A subscription as stored: its definition, status and acknowledged position.</summary>
/// <param name="SubscriptionId">Its id.</param>
/// <param name="TopicName">Topic pattern.</param>
/// <param name="SubscriberWorkflow">Who subscribes.</param>
/// <param name="Filters">The filter as JSON (<see cref="FilterSpec"/>, snake_case).</param>
/// <param name="DeliveryGuarantee">at_least_once or at_most_once.</param>
/// <param name="Status">active or paused.</param>
/// <param name="CreatedAt">When created, UTC.</param>
/// <param name="ResumeToken">The acknowledged point (a resume token: offsets per partition), if one was stored.</param>
/// <param name="Sequence">Acknowledged sequence number.</param>
/// <param name="Owner">The subject that created it (null: created without authentication).</param>
internal sealed record StoredSubscription(
    string SubscriptionId,
    string TopicName,
    string SubscriberWorkflow,
    string? Filters,
    string DeliveryGuarantee,
    string Status,
    DateTime CreatedAt,
    string? ResumeToken,
    long? Sequence,
    string? Owner = null)
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, TypeInfoResolver = StoredFilterJson.Default };

    /// <summary>The filter as stored.</summary>
    public static string FilterJson(FilterSpec spec) => JsonSerializer.Serialize(spec, Json);

    /// <summary>A token's offsets as stored beside it, for people and queries: <c>[{"topic_hash":..,"partition":..,"offset":..}]</c>.</summary>
    public static string OffsetsJson(ResumeToken token) =>
        "[" + string.Join(",", (token.Offsets ?? []).Select(o => FormattableString.Invariant($"{{\"topic_hash\":{o.Topic},\"partition\":{o.Partition},\"offset\":{o.Offset}}}"))) + "]";

    /// <summary>The acknowledged point as stored: its token, or, when none is (or one of an older format), a start with the sequence going on.</summary>
    public ResumeToken Acknowledged() =>
        Core.ResumeToken.TryDecode(ResumeToken, out var token, out _) ? token : new Core.ResumeToken(Guid.Empty, [], Sequence ?? 0);

    /// <summary>The stored filter, read back.</summary>
    public FilterSpec Filter() => string.IsNullOrEmpty(Filters) ? new FilterSpec() : JsonSerializer.Deserialize<FilterSpec>(Filters, Json) ?? new FilterSpec();
}

/// <summary>
/// Where managed subscriptions live: PostgreSQL's execution_subscriptions (with their acknowledged
/// positions in subscription_positions), or nowhere but the registry's memory in the embedded run.
/// </summary>
internal interface ISubscriptionStore
{
    /// <summary>Every stored subscription.</summary>
    Task<IReadOnlyList<StoredSubscription>> LoadAsync(CancellationToken cancellationToken);

    /// <summary>True when other instances share this store (a subscription may change, or be acknowledged, elsewhere).</summary>
    bool IsShared { get; }

    /// <summary>One stored subscription as it is now, or null when there is none.</summary>
    Task<StoredSubscription?> LoadAsync(string subscriptionId, CancellationToken cancellationToken);

    /// <summary>Stores a new subscription; false when its id is taken.</summary>
    Task<bool> InsertAsync(ManagedSubscription subscription, CancellationToken cancellationToken);

    /// <summary>Stores a changed definition or status.</summary>
    Task UpdateAsync(ManagedSubscription subscription, CancellationToken cancellationToken);

    /// <summary>Deletes a subscription and its position.</summary>
    Task DeleteAsync(string subscriptionId, CancellationToken cancellationToken);

    /// <summary>Stores acknowledged positions.</summary>
    Task SavePositionsAsync(IReadOnlyList<ManagedSubscription> subscriptions, CancellationToken cancellationToken);
}

/// <summary>No store: the registry's memory is all there is (the embedded run).</summary>
internal sealed class MemoryOnlySubscriptionStore : ISubscriptionStore
{
    public Task<IReadOnlyList<StoredSubscription>> LoadAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<StoredSubscription>>([]);

    public bool IsShared => false;

    public Task<StoredSubscription?> LoadAsync(string subscriptionId, CancellationToken cancellationToken) => Task.FromResult<StoredSubscription?>(null);

    public Task<bool> InsertAsync(ManagedSubscription subscription, CancellationToken cancellationToken) => Task.FromResult(true);

    public Task UpdateAsync(ManagedSubscription subscription, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task DeleteAsync(string subscriptionId, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task SavePositionsAsync(IReadOnlyList<ManagedSubscription> subscriptions, CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Stored filters, by the source generator.</summary>
[JsonSerializable(typeof(FilterSpec))]
internal sealed partial class StoredFilterJson : JsonSerializerContext;
