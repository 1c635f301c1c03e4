using ExecutionDistribution.Core;

namespace ExecutionDistribution.Security;

/// <summary>A subscription's filter as the server applies it: the client's, narrowed to what the caller is entitled to.</summary>
/// <param name="Filter">The filter in force.</param>
/// <param name="Narrowed">What of the client's filter the caller is not entitled to (told to the client), or null.</param>
public readonly record struct EntitledFilter(SubscriptionFilter Filter, string? Narrowed);

/// <summary>
/// Applies a caller's entitlements to what it asks for. A filter is intersected with the entitled
/// portfolios once, when the subscription is made, so nothing is checked per event beyond the filter
/// itself, and the client cannot widen it: events of other portfolios never reach the stream.
/// </summary>
public static class Entitlements
{
    /// <summary><paramref name="filter"/> narrowed to <paramref name="rights"/>' portfolios.</summary>
    public static EntitledFilter Apply(SubscriptionFilter filter, CallerRights rights)
    {
        var entitled = rights.Portfolios;
        if (entitled.IsEvery)
        {
            return new EntitledFilter(filter, null);
        }

        if (filter.Portfolios is null)
        {
            return new EntitledFilter(filter.WithPortfolios(entitled.Ids), null);
        }

        var kept = new HashSet<string>(StringComparer.Ordinal);
        var dropped = new List<string>();
        foreach (var portfolio in filter.Portfolios)
        {
            if (entitled.Ids.Contains(portfolio))
            {
                kept.Add(portfolio);
            }
            else
            {
                dropped.Add(portfolio);
            }
        }

        dropped.Sort(StringComparer.Ordinal);
        return new EntitledFilter(
            filter.WithPortfolios(kept),
            dropped.Count == 0 ? null : $"portfolio_ids: not entitled to {string.Join(", ", dropped)}; the stream carries {(kept.Count == 0 ? "none of the portfolios asked for" : string.Join(", ", kept.Order(StringComparer.Ordinal)))}");
    }

    /// <summary>
    /// May <paramref name="rights"/> use (read, stream, acknowledge, change) a managed subscription of
    /// <paramref name="owner"/> for <paramref name="workflow"/>? Its owner may, and whoever the token
    /// grants the workflow (<c>workflows</c>, or <c>*</c>). Anyone else is told it does not exist.
    /// </summary>
    public static bool MayUse(CallerRights rights, string? owner, string workflow) =>
        (owner is not null && owner == rights.Subject) || rights.Workflows.Contains(workflow) || rights.Workflows.Contains(CallerRights.Wildcard);

    /// <summary>May <paramref name="rights"/> see what belongs to <paramref name="portfolio"/> (a lookup's order, fill or report)?</summary>
    public static bool MaySee(CallerRights rights, string? portfolio) => rights.Portfolios.Allows(portfolio);
}
