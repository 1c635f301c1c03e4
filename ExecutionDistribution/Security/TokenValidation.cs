using System.Security.Claims;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace ExecutionDistribution.Security;

/// <summary>
/// Validates a token as the bearer handler does, for tokens that do not come in an Authorization
/// header (a browser's WebSocket sends its token in its first message; a stream refreshes its token
/// in-band). A token signed by a key the JWKS did not have when last read fetches the JWKS again
/// (at most every <c>Auth:JwksMinRefresh</c>) and is checked once more, so rotated keys are taken
/// up without a restart and without failing the first request that uses them.
/// </summary>
internal sealed class TokenValidation(IOptionsMonitor<JwtBearerOptions> bearer, AccessRevocations revocations, CachedTokenHandler handler)
{
    private readonly CachedTokenHandler _handler = handler;

    /// <summary>The caller <paramref name="token"/> proves, or why it proves none.</summary>
    public async Task<(ClaimsPrincipal? Principal, string? Problem)> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        var options = bearer.Get(JwtBearerDefaults.AuthenticationScheme);
        var result = await ValidateOnceAsync(options, token, cancellationToken).ConfigureAwait(false);
        if (!result.IsValid && result.Exception is SecurityTokenSignatureKeyNotFoundException && options.ConfigurationManager is { } keys)
        {
            keys.RequestRefresh();
            result = await ValidateOnceAsync(options, token, cancellationToken).ConfigureAwait(false);
        }

        if (!result.IsValid)
        {
            return (null, Describe(result.Exception));
        }

        var principal = new ClaimsPrincipal(result.ClaimsIdentity);
        return revocations.RevokedReason(CallerRights.Of(principal)) is { } revoked ? (null, revoked) : (principal, null);
    }

    private async Task<TokenValidationResult> ValidateOnceAsync(JwtBearerOptions options, string token, CancellationToken cancellationToken)
    {
        var parameters = options.TokenValidationParameters.Clone();
        if (options.ConfigurationManager is { } manager)
        {
            var configuration = await manager.GetConfigurationAsync(cancellationToken).ConfigureAwait(false);
            parameters.IssuerSigningKeys = parameters.IssuerSigningKeys is { } configured ? [.. configured, .. configuration.SigningKeys] : configuration.SigningKeys;
        }

        return await _handler.ValidateTokenAsync(token, parameters).ConfigureAwait(false);
    }

    /// <summary>A reason to tell the caller, without the token or key material.</summary>
    public static string Describe(Exception? exception) => exception switch
    {
        SecurityTokenExpiredException => "the token has expired",
        SecurityTokenNotYetValidException => "the token is not valid yet",
        SecurityTokenInvalidIssuerException => "the token's issuer is not accepted",
        SecurityTokenInvalidAudienceException => "the token's audience is not this service",
        SecurityTokenInvalidAlgorithmException => "the token's signature algorithm is not accepted",
        SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException => "the token's signature does not verify",
        SecurityTokenNoExpirationException => "the token has no expiry",
        SecurityTokenMalformedException or ArgumentException => "the token is malformed",
        null => "the token is not valid",
        _ => "the token is not valid",
    };
}

/// <summary>Reads a JWKS document (a bare key set, no OpenID discovery) as a configuration of signing keys.</summary>
internal sealed class JwksRetriever : IConfigurationRetriever<OpenIdConnectConfiguration>
{
    public async Task<OpenIdConnectConfiguration> GetConfigurationAsync(string address, IDocumentRetriever retriever, CancellationToken cancel)
    {
        var document = await retriever.GetDocumentAsync(address, cancel).ConfigureAwait(false);
        var keys = new JsonWebKeySet(document);
        var configuration = new OpenIdConnectConfiguration { JsonWebKeySet = keys };
        foreach (var key in keys.GetSigningKeys())
        {
            configuration.SigningKeys.Add(key);
        }

        return configuration;
    }
}
