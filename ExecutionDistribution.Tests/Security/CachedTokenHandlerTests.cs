using System.Security.Cryptography;
using ExecutionDistribution.Security;
using ExecutionDistribution.Tests.Core;
using Microsoft.IdentityModel.Tokens;

namespace ExecutionDistribution.Tests.Security;

/// <summary>A token presented again is not checked again until it expires (or for five minutes); an invalid one always is.</summary>
[Category("Unit")]
public sealed class CachedTokenHandlerTests
{
    [Test]
    public async Task A_valid_token_is_checked_once_per_five_minutes_and_an_invalid_one_every_time()
    {
        var time = Dispatchers.FakeTime();
        time.SetUtcNow(DateTimeOffset.UtcNow);
        var handler = new CachedTokenHandler(time).Unmapped();
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var key = new ECDsaSecurityKey(ec) { KeyId = "k" };
        var checks = 0;
        var parameters = new TokenValidationParameters
        {
            ValidIssuer = "issuer", ValidAudience = "audience", ClockSkew = TimeSpan.Zero,
            IssuerSigningKeyResolver = (_, _, _, _) => { checks++; return [key]; },
        };
        var token = DevelopmentTokens.Mint(key, new TokenGrant("client", [Scopes.Read], ["PF001"], TimeSpan.FromHours(1)), TimeProvider.System, "issuer", "audience");

        var first = await handler.ValidateTokenAsync(token, parameters);
        var again = await handler.ValidateTokenAsync(token, parameters);
        Assert.That((first.IsValid, again.IsValid, checks), Is.EqualTo((true, true, 1)), "the second use is remembered");
        Assert.That(again.ClaimsIdentity.FindFirst("sub")?.Value, Is.EqualTo("client"));
        Assert.That(again.ClaimsIdentity, Is.Not.SameAs(first.ClaimsIdentity), "each use its own identity");

        time.Advance(CachedTokenHandler.MaxAge + TimeSpan.FromSeconds(1));
        Assert.That((await handler.ValidateTokenAsync(token, parameters)).IsValid, Is.True);
        Assert.That(checks, Is.EqualTo(2), "checked again after five minutes");

        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var forged = DevelopmentTokens.Mint(new ECDsaSecurityKey(other) { KeyId = "k" }, new TokenGrant("forger", [Scopes.Admin], ["*"], TimeSpan.FromHours(1)), TimeProvider.System, "issuer", "audience");
        Assert.That((await handler.ValidateTokenAsync(forged, parameters)).IsValid, Is.False);
        Assert.That((await handler.ValidateTokenAsync(forged, parameters)).IsValid, Is.False);
        Assert.That(checks, Is.EqualTo(4), "an invalid token is checked every time");
    }
}
