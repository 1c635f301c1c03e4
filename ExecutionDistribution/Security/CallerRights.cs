using System.Globalization;
using System.Security.Claims;

namespace ExecutionDistribution.Security;

/// <summary>
/// What an authenticated caller may do, read from its token's claims: the scopes (<c>scope</c>,
/// space-separated, or <c>scp</c>), the portfolios it is entitled to (<c>portfolios</c>: an array or a
/// space-separated string; <c>*</c> for every portfolio, as compliance has), who it is (<c>sub</c>)
/// and which token it is (<c>jti</c>, <c>exp</c>).
/// </summary>
public sealed class CallerRights
{
    /// <summary>The claim naming the entitled portfolios.</summary>
    public const string PortfoliosClaim = "portfolios";

    /// <summary>The claim naming the workflows whose managed subscriptions the caller may use (<c>*</c>: all).</summary>
    public const string WorkflowsClaim = "workflows";

    /// <summary>The entitlement to every portfolio.</summary>
    public const string Wildcard = "*";

    private CallerRights(string subject, string? tokenId, DateTimeOffset? expiresAt, HashSet<string> scopes, PortfolioEntitlement portfolios, DateTime? issuedAt = null, HashSet<string>? workflows = null)
    {
        IssuedAt = issuedAt;
        Workflows = workflows ?? [];
        Subject = subject;
        TokenId = tokenId;
        ExpiresAt = expiresAt;
        ScopeSet = scopes;
        Portfolios = portfolios;
    }

    /// <summary>The caller when authentication is off (<c>Auth:Mode=Off</c>): every scope, every portfolio.</summary>
    public static CallerRights Everyone { get; } = new("anonymous", null, null, [.. Scopes.All], PortfolioEntitlement.Every, workflows: [Wildcard]);

    /// <summary>Who the caller is (<c>sub</c>; a client certificate's subject).</summary>
    public string Subject { get; }

    /// <summary>The token's id (<c>jti</c>), when it has one.</summary>
    public string? TokenId { get; }

    /// <summary>When the token was issued (<c>iat</c>, else <c>nbf</c>), UTC; null when it does not say.</summary>
    public DateTime? IssuedAt { get; }

    /// <summary>When the token expires (<c>exp</c>); null when it does not.</summary>
    public DateTimeOffset? ExpiresAt { get; }

    /// <summary>The scopes granted.</summary>
    public IReadOnlySet<string> ScopeSet { get; }

    /// <summary>The workflows whose managed subscriptions the caller may use besides its own (<c>workflows</c>; <c>*</c> for all).</summary>
    public IReadOnlySet<string> Workflows { get; }

    /// <summary>The portfolios whose executions the caller may see.</summary>
    public PortfolioEntitlement Portfolios { get; }

    /// <summary>Does the token grant <paramref name="scope"/>?</summary>
    public bool Has(string scope) => ScopeSet.Contains(scope);

    // One principal's rights, read from its claims once: the scope policy, the endpoint and the
    // revocation check of one request all ask for them.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ClaimsPrincipal, CallerRights> Read = [];

    /// <summary>The rights of <paramref name="user"/>; none for an anonymous one.</summary>
    public static CallerRights Of(ClaimsPrincipal user) => Read.GetValue(user, From);

    private static CallerRights From(ClaimsPrincipal user)
    {
        if (user.Identity?.IsAuthenticated != true)
        {
            return new CallerRights(string.Empty, null, null, [], PortfolioEntitlement.None);
        }

        if (user.HasClaim(OpenAccess.Claim, "true"))
        {
            return Everyone;
        }

        var scopes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var claim in user.FindAll("scope").Concat(user.FindAll("scp")))
        {
            scopes.UnionWith(claim.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        }

        var portfolios = new HashSet<string>(StringComparer.Ordinal);
        foreach (var claim in user.FindAll(PortfoliosClaim))
        {
            portfolios.UnionWith(claim.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        }

        var workflows = new HashSet<string>(StringComparer.Ordinal);
        foreach (var claim in user.FindAll(WorkflowsClaim))
        {
            workflows.UnionWith(claim.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        }

        var expires = Seconds(user, "exp");
        var issued = Seconds(user, "iat") ?? Seconds(user, "nbf");
        var subject = user.FindFirst("sub")?.Value ?? user.FindFirst(ClaimTypes.NameIdentifier)?.Value ?? user.Identity.Name ?? string.Empty;
        return new CallerRights(subject, user.FindFirst("jti")?.Value, expires, scopes, PortfolioEntitlement.From(portfolios), issued?.UtcDateTime, workflows);
    }

    private static DateTimeOffset? Seconds(ClaimsPrincipal user, string claim) =>
        user.FindFirst(claim)?.Value is { } text && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : null;
}

/// <summary>The portfolios a caller is entitled to: every one, or a set.</summary>
public sealed class PortfolioEntitlement
{
    private PortfolioEntitlement(bool every, IReadOnlySet<string> ids)
    {
        IsEvery = every;
        Ids = ids;
    }

    /// <summary>Every portfolio (the <c>*</c> entitlement).</summary>
    public static PortfolioEntitlement Every { get; } = new(true, new HashSet<string>());

    /// <summary>No portfolio.</summary>
    public static PortfolioEntitlement None { get; } = new(false, new HashSet<string>());

    /// <summary>True for the entitlement to every portfolio.</summary>
    public bool IsEvery { get; }

    /// <summary>The entitled portfolios (empty when <see cref="IsEvery"/>).</summary>
    public IReadOnlySet<string> Ids { get; }

    /// <summary>The entitlement of a token's <c>portfolios</c> values.</summary>
    public static PortfolioEntitlement From(IReadOnlySet<string> values) =>
        values.Contains(CallerRights.Wildcard) ? Every : values.Count == 0 ? None : new(false, values);

    /// <summary>May the caller see what belongs to <paramref name="portfolio"/>? (Unknown: only with every portfolio.)</summary>
    public bool Allows(string? portfolio) => IsEvery || (portfolio is not null && Ids.Contains(portfolio));

    /// <inheritdoc />
    public override string ToString() => IsEvery ? CallerRights.Wildcard : string.Join(' ', Ids.Order(StringComparer.Ordinal));
}
