using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Security;

/// <summary>Whether clients authenticate.</summary>
public enum AuthMode
{
    /// <summary>
    /// Every interface takes a JWT bearer token (default). Keys come from <see cref="AuthOptions.Authority"/>,
    /// <see cref="AuthOptions.JwksUrl"/> or <see cref="AuthOptions.SigningKeys"/>; with none of them, an
    /// embedded run signs its own with a development key.
    /// </summary>
    Jwt,

    /// <summary>No authentication: every caller may do everything. Logged as a warning at start and shown in /health.</summary>
    Off,
}

/// <summary>The <c>Auth</c> section: who may call the service, and how that is proven.</summary>
[OptionsValidator]
internal sealed partial class AuthOptionsValidator : IValidateOptions<AuthOptions>;

/// <summary>The <c>Auth</c> section (docs/security.md).</summary>
public sealed class AuthOptions : IValidatableObject
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Auth";

    /// <summary>The algorithms accepted when <see cref="Algorithms"/> is not configured.</summary>
    public static readonly string[] DefaultAlgorithms = ["RS256", "PS256", "ES256"];

    /// <summary><c>Jwt</c> (default) or <c>Off</c>.</summary>
    public AuthMode Mode { get; set; } = AuthMode.Jwt;

    /// <summary>The <c>iss</c> every token must carry. Required with configured keys.</summary>
    public string? Issuer { get; set; }

    /// <summary>The <c>aud</c> every token must carry. Required with configured keys.</summary>
    public string? Audience { get; set; }

    /// <summary>An OpenID Connect authority: its discovery document names the issuer's keys (JWKS), re-read as they rotate.</summary>
    public string? Authority { get; set; }

    /// <summary>A JWKS URL serving the signing keys, re-read as they rotate (a token naming an unknown key id fetches it again, at most every <see cref="JwksMinRefresh"/>).</summary>
    public string? JwksUrl { get; set; }

    /// <summary>Public keys (PEM, <c>-----BEGIN PUBLIC KEY-----</c>) that sign the tokens, when there is no authority or JWKS URL.</summary>
    public List<string> SigningKeys { get; set; } = [];

    /// <summary>The only signature algorithms accepted (never <c>none</c>). Default RS256, PS256, ES256.</summary>
    public List<string> Algorithms { get; set; } = [];

    /// <summary>How far a token's times may be off the service's clock.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:05:00")]
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the JWKS is re-read in any case.</summary>
    [Range(typeof(TimeSpan), "00:00:10", "1.00:00:00")]
    public TimeSpan JwksRefresh { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The least time between two reads of the JWKS prompted by unknown key ids (at least 1 s).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan JwksMinRefresh { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The development signing key of an embedded run (created on first use, outside the repository). Default: <c>~/.execdist/development-signing-key.json</c>.</summary>
    public string? DevelopmentKeyFile { get; set; }

    /// <summary>Where an embedded run writes the development tokens it mints at start. Default: <c>execdist-development-tokens.json</c> in the temp folder.</summary>
    public string? DevelopmentTokensFile { get; set; }

    /// <summary>Where revocations are kept without PostgreSQL. Default: <c>revocations.json</c> beside the development key.</summary>
    public string? RevocationsFile { get; set; }

    /// <summary>Whether a WebSocket may carry its token in the URL (<c>?access_token=</c>). Off by default: URLs end up in logs.</summary>
    public bool AllowTokenInQuery { get; set; }

    /// <summary>True when keys are configured (an authority, a JWKS URL or public keys): tokens are the issuer's, not development ones.</summary>
    public bool HasKeys => !string.IsNullOrWhiteSpace(Authority) || !string.IsNullOrWhiteSpace(JwksUrl) || SigningKeys.Count > 0;

    /// <summary>The algorithm allow-list in force.</summary>
    public IReadOnlyList<string> AcceptedAlgorithms => Algorithms.Count > 0 ? Algorithms : DefaultAlgorithms;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Mode == AuthMode.Off)
        {
            yield break;
        }

        foreach (var algorithm in Algorithms)
        {
            if (string.IsNullOrWhiteSpace(algorithm) || algorithm.Equals("none", StringComparison.OrdinalIgnoreCase) || algorithm.StartsWith("HS", StringComparison.OrdinalIgnoreCase))
            {
                yield return new($"{SectionName}:{nameof(Algorithms)} may list only asymmetric signature algorithms such as RS256, PS256, ES256 (was '{algorithm}'): never 'none', and no shared secrets");
            }
        }

        if (HasKeys && string.IsNullOrWhiteSpace(Issuer))
        {
            yield return new($"{SectionName}:{nameof(Issuer)} is required with configured keys: the issuer whose tokens are accepted");
        }

        if (HasKeys && string.IsNullOrWhiteSpace(Audience))
        {
            yield return new($"{SectionName}:{nameof(Audience)} is required with configured keys: the audience tokens must be issued for");
        }

        foreach (var (url, key) in new[] { (Authority, nameof(Authority)), (JwksUrl, nameof(JwksUrl)) })
        {
            if (!string.IsNullOrWhiteSpace(url) && (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http")))
            {
                yield return new($"{SectionName}:{key} must be an absolute http(s) URL (was '{url}')");
            }
        }

        for (var i = 0; i < SigningKeys.Count; i++)
        {
            if (SigningKeyParser.Problem(SigningKeys[i]) is { } problem)
            {
                yield return new($"{SectionName}:{nameof(SigningKeys)}:{i} {problem}");
            }
        }
    }
}

/// <summary>
/// Refuses to start an instance that uses a real Kafka or PostgreSQL with nothing to check tokens
/// against: development keys are for an embedded run only, and running open must be said.
/// </summary>
internal sealed class AuthDeploymentValidator(IConfiguration configuration) : IValidateOptions<AuthOptions>
{
    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        if (options.Mode == AuthMode.Off || options.HasKeys)
        {
            return ValidateOptionsResult.Success;
        }

        var kafkaOn = !string.Equals(configuration["Kafka:Enabled"], "false", StringComparison.OrdinalIgnoreCase)
            && !string.IsNullOrWhiteSpace(configuration["Kafka:BootstrapServers"]);
        var postgres = !string.IsNullOrWhiteSpace(configuration["Postgres:ConnectionString"]);
        return kafkaOn || postgres
            ? ValidateOptionsResult.Fail(
                $"Auth: this instance uses a real {(kafkaOn ? "Kafka (Kafka:BootstrapServers)" : "PostgreSQL (Postgres:ConnectionString)")} but no keys to check tokens with: " +
                "configure Auth:Authority, Auth:JwksUrl or Auth:SigningKeys with Auth:Issuer and Auth:Audience, or set Auth:Mode=Off to run without authentication")
            : ValidateOptionsResult.Success;
    }
}
