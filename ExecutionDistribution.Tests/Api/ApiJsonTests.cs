using System.Text.Json;
using ExecutionDistribution.Api;
using ExecutionDistribution.Hosting;
using ExecutionDistribution.Orders;
using ExecutionDistribution.Tests.Support;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Tests.Api;

/// <summary>
/// The REST bodies are serialized by System.Text.Json's source generator, with the API's settings:
/// the host resolves every body type from the generated context, and a generated body is byte for
/// byte what the API's settings write by reflection (which the cached order status and topic stats use).
/// </summary>
[Category("Unit")]
public sealed class ApiJsonTests
{
    private static readonly Type[] Bodies =
    [
        typeof(SubscriptionsApi.SubscriptionBody), typeof(SubscriptionsApi.SubscriptionView), typeof(IEnumerable<SubscriptionsApi.SubscriptionView>),
        typeof(SubscriptionsApi.AckBody), typeof(SubscriptionsApi.AckView), typeof(TopicsApi.TopicBody), typeof(ExecutionDistribution.Topics.ExecutionTopic),
        typeof(FillDetails), typeof(PortfolioExecutionReport), typeof(ExecutionDistribution.Core.DistributionStats), typeof(IReadOnlyList<ExecutionDistribution.Audit.AuditRecord>),
        typeof(AuditApi.AuditStats), typeof(OperationsApi.MemoryView), typeof(ExecutionDistribution.Ingest.Http.IngestAccepted),
    ];

    [Test]
    public async Task The_host_resolves_every_rest_body_from_a_source_generated_context()
    {
        await using var host = await ServiceHost.StartAsync();
        var options = host.App.Services.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;

        foreach (var type in Bodies)
        {
            Assert.That(options.GetTypeInfo(type).OriginatingResolver, Is.InstanceOf<System.Text.Json.Serialization.JsonSerializerContext>(), type.Name);
        }
    }

    [Test]
    public void A_generated_body_is_byte_for_byte_what_the_api_settings_write_by_reflection()
    {
        var generated = ApiJson.Apply(new JsonSerializerOptions(JsonSerializerDefaults.Web));
        generated.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default);
        var view = new SubscriptionsApi.SubscriptionView(
            "sub-ü", "execution/fills/#", "risk", new SubscriptionsApi.FilterBody { Venues = ["XNAS"], MinPriority = 3 }, "at_least_once", "active",
            new DateTime(2026, 12, 7, 10, 0, 0, DateTimeKind.Utc).AddTicks(12_340), Streaming: true, "token", 42);
        var stats = new AuditApi.AuditStats(1, 2, 3, 4, Degraded: false, Full: false, 5, new AuditApi.LocalAuditStats("/tmp/a", 6, 7, 8, 9, 10));

        Assert.That(JsonSerializer.Serialize(view, generated), Is.EqualTo(JsonSerializer.Serialize(view, ApiJson.Options)));
        Assert.That(JsonSerializer.Serialize(stats, generated), Is.EqualTo(JsonSerializer.Serialize(stats, ApiJson.Options)));
        Assert.That(JsonSerializer.Serialize(view, generated), Does.Contain("\"created_at\":\"2026-12-07T10:00:00.001234Z\"").And.Contain("\"min_priority\":3"));
    }
}
