using ExecutionDistribution.Core;

namespace ExecutionDistribution.Tests.Support;

/// <summary>
/// The events of the multiplexing tests: two orders, where a "fills of O1" subscription and an
/// "everything of O1 and O2" one overlap on O1's fills, with venue events neither takes.
/// </summary>
internal static class OverlappingStreams
{
    /// <summary>Publishes <paramref name="rounds"/> rounds of a fill and an order update of <paramref name="o1"/>, a fill of <paramref name="o2"/> and a venue event; returns what each subscription must receive, in order.</summary>
    public static (List<string> Fills, List<string> Both) Publish(FanOutDispatcher core, string run, string o1, string o2, int rounds = 500)
    {
        var fills = new List<string>();
        var both = new List<string>();
        for (var i = 0; i < rounds; i++)
        {
            var fill = Events.Fill(o1, eventId: $"{run}-f{i}");
            var update = Events.Order(o1, eventId: $"{run}-u{i}");
            var other = Events.Fill(o2, eventId: $"{run}-g{i}");
            fills.Add(fill.EventId);
            both.AddRange([fill.EventId, update.EventId, other.EventId]);
            core.TryPublish(fill);
            core.TryPublish(update);
            core.TryPublish(other);
            core.TryPublish(Events.Venue());
        }

        return (fills, both);
    }
}
