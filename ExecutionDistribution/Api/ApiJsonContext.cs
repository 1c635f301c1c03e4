using System.Text.Json;
using System.Text.Json.Serialization;
using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Orders;
using ExecutionDistribution.Topics;

namespace ExecutionDistribution.Api;

/// <summary>
/// The REST API's bodies, serialized by System.Text.Json's source generator (no reflection), with the
/// API's settings (Hosting's <c>ApiJson</c>: snake_case, UTC timestamps with microseconds).
/// </summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    Converters = [typeof(UtcMicrosecondsConverter)])]
[JsonSerializable(typeof(SubscriptionsApi.SubscriptionBody))]
[JsonSerializable(typeof(SubscriptionsApi.AckBody))]
[JsonSerializable(typeof(SubscriptionsApi.SubscriptionView))]
[JsonSerializable(typeof(IEnumerable<SubscriptionsApi.SubscriptionView>))]
[JsonSerializable(typeof(SubscriptionsApi.AckView))]
[JsonSerializable(typeof(TopicsApi.TopicBody))]
[JsonSerializable(typeof(ExecutionTopic))]
[JsonSerializable(typeof(IEnumerable<ExecutionTopic>))]
[JsonSerializable(typeof(FillDetails))]
[JsonSerializable(typeof(PortfolioExecutionReport))]
[JsonSerializable(typeof(DistributionStats))]
[JsonSerializable(typeof(SubscriberLag[]))]
[JsonSerializable(typeof(IReadOnlyList<SubscriberLag>))]
[JsonSerializable(typeof(IReadOnlyList<AuditRecord>))]
[JsonSerializable(typeof(AuditApi.AuditStats))]
[JsonSerializable(typeof(OperationsApi.MemoryView))]
[JsonSerializable(typeof(AdminApi.RevocationBody))]
[JsonSerializable(typeof(ExecutionDistribution.Security.Revocation))]
[JsonSerializable(typeof(IReadOnlyList<ExecutionDistribution.Security.Revocation>))]
internal sealed partial class ApiJsonContext : JsonSerializerContext;
