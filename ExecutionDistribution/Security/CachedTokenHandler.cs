using System.Collections.Concurrent;
using System.Security.Claims;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace ExecutionDistribution.Security;

/// <summary>
/// The JWT handler with the outcome of a valid token remembered until the token expires: a client
/// opening a thousand streams with one token has its signature checked once, not a thousand times
/// (measured: most of the time to connect with authentication on, docs/benchmarks.md). Only the
/// exact token text that validated is remembered, at most <see cref="Capacity"/> of them and for at
/// most <see cref="MaxAge"/>; revocation is checked on every use all the same (OnTokenValidated), and
/// an open stream still ends at the token's expiry. Invalid tokens are never remembered.
/// </summary>
internal sealed class CachedTokenHandler(TimeProvider time) : JsonWebTokenHandler
{
    /// <summary>Tokens remembered at most; beyond it the memory starts again.</summary>
    public const int Capacity = 10_000;

    /// <summary>Longest a validation is remembered (a key withdrawn from the JWKS is then noticed).</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(5);

    private readonly ConcurrentDictionary<string, Entry> _valid = new(StringComparer.Ordinal);

    /// <summary>Claims as the token names them (<c>sub</c>, <c>scope</c>, <c>portfolios</c>), not mapped to other names.</summary>
    public CachedTokenHandler Unmapped()
    {
        MapInboundClaims = false;
        return this;
    }

    /// <inheritdoc />
    public override async Task<TokenValidationResult> ValidateTokenAsync(string token, TokenValidationParameters validationParameters)
    {
        var now = time.GetUtcNow();
        if (_valid.TryGetValue(token, out var entry) && entry.Until > now && ReferenceEquals(entry.Audience, validationParameters.ValidAudience))
        {
            // Each request its own identity (callers may add to it), sharing the claims' values.
            return new TokenValidationResult { IsValid = true, ClaimsIdentity = entry.Identity.Clone(), SecurityToken = entry.Token, Issuer = entry.Issuer };
        }

        var result = await base.ValidateTokenAsync(token, validationParameters).ConfigureAwait(false);
        if (result.IsValid && result.SecurityToken is JsonWebToken jwt && jwt.ValidTo > DateTime.MinValue)
        {
            if (_valid.Count >= Capacity)
            {
                _valid.Clear();
            }

            var until = new DateTimeOffset(DateTime.SpecifyKind(jwt.ValidTo, DateTimeKind.Utc));
            _valid[token] = new Entry(result.ClaimsIdentity, jwt, result.Issuer, validationParameters.ValidAudience, until < now + MaxAge ? until : now + MaxAge);
        }

        return result;
    }

    private sealed record Entry(ClaimsIdentity Identity, JsonWebToken Token, string? Issuer, string? Audience, DateTimeOffset Until);
}
