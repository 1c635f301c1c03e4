using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;

namespace ExecutionDistribution.Benchmarks.Workloads;

/// <summary>One subscriber of a workload: an id and its filter.</summary>
public sealed record SubscriberDefinition(string Id, SubscriptionFilter Filter);

/// <summary>
/// The subscriber populations of ../shared/BENCHMARKS.md: the 1,000 standard subscribers
/// (10 workflow, 490 instrument-pattern, 500 order-watch) and the broadcast variant.
/// </summary>
public static class StandardSubscribers
{
    private static readonly (string Workflow, ExecutionDataType[] Types)[] WorkflowTypes =
    [
        ("portfolio_management", [ExecutionDataType.FillNotification, ExecutionDataType.OrderUpdate]),
        ("risk_management", [ExecutionDataType.FillNotification, ExecutionDataType.OrderUpdate, ExecutionDataType.VenueStatus]),
        ("reporting_analytics", [ExecutionDataType.FillNotification, ExecutionDataType.ExecutionReport, ExecutionDataType.TcaResult]),
        ("compliance_surveillance", [ExecutionDataType.ExecutionReport, ExecutionDataType.OrderUpdate]),
        ("settlement_operations", [ExecutionDataType.SettlementUpdate, ExecutionDataType.FillNotification]),
        ("tca_analytics", [ExecutionDataType.TcaResult, ExecutionDataType.FillNotification]),
        ("order_management", [ExecutionDataType.OrderUpdate, ExecutionDataType.ExecutionReport]),
        ("trading_operations", [ExecutionDataType.VenueStatus, ExecutionDataType.OrderUpdate]),
        ("treasury", [ExecutionDataType.SettlementUpdate]),
        ("client_reporting", [ExecutionDataType.ExecutionReport, ExecutionDataType.SettlementUpdate]),
    ];

    /// <summary>The 1,000 standard subscribers for <paramref name="stream"/>'s universe.</summary>
    public static List<SubscriberDefinition> Standard(SyntheticExecutionStream stream, ulong seed)
    {
        var list = new List<SubscriberDefinition>(1_000);
        foreach (var (workflow, types) in WorkflowTypes)
        {
            list.Add(new SubscriberDefinition($"wf-{workflow}", new SubscriptionFilter { DataTypes = new HashSet<ExecutionDataType>(types) }));
        }

        // 490 instrument subscribers, each matching roughly 0.1% to 2% of events: whole instruments of
        // Zipf rank 8-144 ("AAPL.#"), one kind of event for the heaviest ranks ("AAPL.fill.*"), and
        // cross-instrument patterns on rarer kinds ("*.settlement.failed").
        string[] settlementStates = ["pending", "matched", "affirmed", "settled"];
        string[] venueStates = ["pre_open", "open", "auction", "halted", "closed", "degraded"];
        for (var i = 0; i < 490; i++)
        {
            string pattern;
            if (i < 274)
            {
                pattern = $"{stream.InstrumentSymbols[7 + (i % 137)]}.#";
            }
            else if (i < 454)
            {
                var rank = 1 + ((i - 274) % 60);
                var symbol = stream.InstrumentSymbols[rank - 1];
                pattern = rank <= 2 ? $"{symbol}.report.*" : rank <= 20 ? $"{symbol}.fill.*" : $"{symbol}.*.*";
            }
            else if (i < 474)
            {
                pattern = $"*.settlement.{settlementStates[i % 4]}";
            }
            else
            {
                pattern = $"*.venue.{venueStates[i % 6]}";
            }

            list.Add(new SubscriberDefinition($"inst-{i:000}", new SubscriptionFilter { RoutingKeys = [Parse(pattern)] }));
        }

        // 500 order-watch subscribers, 20 live order ids each.
        for (var i = 0; i < 500; i++)
        {
            var ids = stream.SampleLiveOrderIds(20, seed + (ulong)i + 1);
            list.Add(new SubscriberDefinition($"watch-{i:000}", new SubscriptionFilter { OrderIds = new HashSet<string>(ids, StringComparer.Ordinal) }));
        }

        return list;
    }

    /// <summary>The broadcast variant: <paramref name="count"/> subscribers that each take every event.</summary>
    public static List<SubscriberDefinition> Broadcast(int count = 1_000) =>
        [.. Enumerable.Range(0, count).Select(i => new SubscriberDefinition($"all-{i:000}", SubscriptionFilter.All))];

    private static TopicPattern Parse(string pattern) =>
        TopicPattern.TryParse(pattern, '.', out var parsed, out var reason) ? parsed! : throw new InvalidOperationException($"{pattern}: {reason}");
}
