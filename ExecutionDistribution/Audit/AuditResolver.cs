using System.Buffers.Binary;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;

namespace ExecutionDistribution.Audit;

/// <summary>
/// Turns stored audit rows back into one outcome per event and subscription: an event (its
/// <see cref="AuditRowKind.Event"/> row) was delivered, acknowledged or failed for a subscription when
/// a range of one of its streams, in the same log, covers the event's position and the stream's filter
/// takes the event; single rows (drops, deliveries re-read from Kafka) are outcomes as they are. A drop
/// of an event for a subscription outweighs a range of that subscription around it (an at_most_once
/// stream skips what it dropped). Both stores answer through it, so they answer alike.
/// </summary>
internal sealed class AuditResolver(IEnumerable<AuditRow> streams)
{
    private readonly Dictionary<Guid, AuditRow> _streams = streams.ToDictionary(s => s.StreamId);
    private readonly Dictionary<Guid, SubscriptionFilter?> _filters = [];

    /// <summary>The outcomes among <paramref name="events"/>, <paramref name="ranges"/> and <paramref name="singles"/> that <paramref name="query"/> asks for, oldest first.</summary>
    public List<AuditRecord> Resolve(AuditQuery query, IEnumerable<AuditRow> events, IEnumerable<AuditRow> ranges, IEnumerable<AuditRow> singles)
    {
        var found = new List<AuditRecord>();
        var dropped = new HashSet<(string EventId, string Subscription)>();
        foreach (var s in singles)
        {
            var record = new AuditRecord(s.Id, s.EventId!, s.TopicName!, s.RoutingKey!, s.Status!, s.DeliveryTimeMs, s.RetryCount, s.CreatedAt, s.OrderId, s.SubscriptionId);
            if (query.Matches(record))
            {
                found.Add(record);
            }

            if (s.Status == DeliveryStatuses.Dropped)
            {
                dropped.Add((s.EventId!, s.SubscriptionId!));
            }
        }

        // Ranges per log, ordered by first position: an event looks only at those that start at or before it.
        var byLog = ranges.Where(r => query.SubscriptionId is null || r.SubscriptionId == query.SubscriptionId)
            .GroupBy(r => r.Epoch).ToDictionary(g => g.Key, g => g.OrderBy(r => r.FirstPosition).ToArray());
        var widest = byLog.ToDictionary(kv => kv.Key, kv => kv.Value.Max(r => r.LastPosition - r.FirstPosition));
        foreach (var e in events)
        {
            if (!byLog.TryGetValue(e.Epoch, out var candidates) || (query.EventId is not null && e.EventId != query.EventId) || (query.OrderId is not null && e.OrderId != query.OrderId))
            {
                continue;
            }

            ExecutionEvent? parsed = null;
            // Only ranges that start within the widest range's span before the event can cover it.
            var end = UpperBound(candidates, e.FirstPosition);
            for (var i = UpperBound(candidates, e.FirstPosition - widest[e.Epoch] - 1); i < end; i++)
            {
                var r = candidates[i];
                if (r.LastPosition < e.FirstPosition || dropped.Contains((e.EventId!, r.SubscriptionId!)))
                {
                    continue;
                }

                if (parsed is null && ExecutionEventParser.Parse(System.Text.Encoding.UTF8.GetBytes(e.JsonText ?? string.Empty)).Event is { } read)
                {
                    read.PortfolioId ??= e.Portfolio; // as it was distributed: a fill under its order's portfolio
                    parsed = read;
                }

                if (parsed is null || Filter(r.StreamId) is not { } filter || !filter.Matches(parsed))
                {
                    continue;
                }

                var record = new AuditRecord(OutcomeId(r.Id, e.FirstPosition), e.EventId!, e.TopicName!, e.RoutingKey!, r.Status!,
                    e.IngestedAt is { } at ? Math.Max(0, Math.Round((r.CreatedAt - at).TotalMilliseconds, 3)) : null, r.RetryCount, r.CreatedAt, e.OrderId, r.SubscriptionId,
                    _streams.TryGetValue(r.StreamId, out var opened) ? opened.Caller : null);
                if (query.Matches(record))
                {
                    found.Add(record);
                }
            }
        }

        return [.. found.OrderBy(r => r.CreatedAt).ThenBy(r => r.Id).Take(query.Limit)];
    }

    private SubscriptionFilter? Filter(Guid stream)
    {
        if (!_filters.TryGetValue(stream, out var filter))
        {
            _filters[stream] = filter = _streams.TryGetValue(stream, out var s) && s.Text is { } json ? FilterJson.Read(json) : null;
        }

        return filter;
    }

    // Index of the first range starting after `position`.
    private static int UpperBound(AuditRow[] ranges, long position)
    {
        int lo = 0, hi = ranges.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (ranges[mid].FirstPosition <= position)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    // One id per (range, event): the range's id with the event's position folded into its random bits.
    private static Guid OutcomeId(Guid range, long position)
    {
        Span<byte> bytes = stackalloc byte[16];
        range.TryWriteBytes(bytes, bigEndian: true, out _);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]) ^ ((ulong)position & 0x3FFF_FFFF_FFFF_FFFF));
        return new Guid(bytes, bigEndian: true);
    }
}
