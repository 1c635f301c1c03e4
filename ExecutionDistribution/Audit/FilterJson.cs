using System.Text.Json;
using System.Text.Json.Serialization;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Hosting;

namespace ExecutionDistribution.Audit;

/// <summary>A stream's filter as the audit keeps it: the <see cref="FilterSpec"/> JSON a client would send for it.</summary>
internal static class FilterJson
{
    /// <summary>The filter written as JSON.</summary>
    public static string Write(SubscriptionFilter f) => JsonSerializer.Serialize(new FilterSpec
    {
        Topics = [.. f.Topics.Select(t => t.Text)],
        RoutingKeys = [.. f.RoutingKeys.Select(k => k.Text)],
        DataTypes = [.. f.DataTypes.Order().Select(t => t.Name())],
        OrderIds = [.. f.OrderIds.Order(StringComparer.Ordinal)],
        Instruments = [.. f.Instruments.Order(StringComparer.Ordinal)],
        Venues = [.. f.Venues.Order(StringComparer.Ordinal)],
        TargetWorkflows = [.. f.TargetWorkflows.Order(StringComparer.Ordinal)],
        PortfolioIds = f.Portfolios is null ? null : [.. f.Portfolios.Order(StringComparer.Ordinal)], // the entitlements in force
        MinPriority = f.MinPriority,
    }, Options);

    private static readonly JsonSerializerOptions Options = ApiJson.For(FilterSpecJson.Default);

    /// <summary>The filter read back; null when the text is not a filter (never written by <see cref="Write"/>).</summary>
    public static SubscriptionFilter? Read(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<FilterSpec>(json, Options)?.Build(out _);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>Filters in the API's JSON, by the source generator.</summary>
[JsonSerializable(typeof(FilterSpec))]
internal sealed partial class FilterSpecJson : JsonSerializerContext;
