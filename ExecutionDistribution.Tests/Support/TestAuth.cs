using System.Security.Cryptography;
using System.Text;
using ExecutionDistribution.Security;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace ExecutionDistribution.Tests.Support;

/// <summary>
/// A token issuer of the tests' own: an EC key whose public half a host is configured with
/// (<see cref="Settings"/>), and tokens minted with any scopes, portfolios and times, or broken in
/// each way a token can be (another issuer, audience or key; expired; not yet valid; unsigned).
/// </summary>
internal static class TestAuth
{
    public const string Issuer = "https://issuer.test.execdist";

    public const string Audience = "execdist-tests";

    private static readonly ECDsa Key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    private static readonly ECDsa OtherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    /// <summary>Host settings that accept this issuer's tokens.</summary>
    public static string[] Settings() =>
        ["--Auth:Mode=Jwt", $"--Auth:Issuer={Issuer}", $"--Auth:Audience={Audience}", $"--Auth:SigningKeys:0={Key.ExportSubjectPublicKeyInfoPem()}"];

    /// <summary>Host settings of an embedded run (development key and token files of the test's own).</summary>
    public static string[] DevelopmentSettings()
    {
        var folder = Path.Combine(Path.GetTempPath(), "execdist-tests", Guid.NewGuid().ToString("N"));
        return ["--Auth:Mode=Jwt", $"--Auth:DevelopmentKeyFile={Path.Combine(folder, "key.pem")}", $"--Auth:DevelopmentTokensFile={Path.Combine(folder, "tokens.json")}"];
    }

    /// <summary>A revocations file of the test's own (not the user's).</summary>
    public static string[] RevocationsFile(string? path = null) =>
        [$"--Auth:RevocationsFile={path ?? Path.Combine(Path.GetTempPath(), "execdist-tests", Guid.NewGuid().ToString("N"), "revocations.json")}"];

    /// <summary>A valid token granting <paramref name="scopes"/> over <paramref name="portfolios"/>.</summary>
    public static string Token(string[] scopes, string[] portfolios, string subject = "test-client", TimeSpan? lifetime = null, DateTime? issuedAt = null, string[]? workflows = null) =>
        Mint(scopes, portfolios, subject, DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow + (lifetime ?? TimeSpan.FromHours(1)), issuedAt: issuedAt, workflows: workflows);

    /// <summary>A valid token signed by <paramref name="key"/>, naming <paramref name="keyId"/> (a key served by a JWKS).</summary>
    public static string SignedWith(ECDsa key, string keyId, string[] scopes, string[] portfolios) =>
        Mint(scopes, portfolios, "jwks-client", DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddHours(1), key: key, keyId: keyId);

    /// <summary>A token with every scope and every portfolio.</summary>
    public static string Admin() => Token(Scopes.All, [CallerRights.Wildcard], "test-admin");

    /// <summary>The ways a token can be wrong, each as a token a host configured with <see cref="Settings"/> must refuse.</summary>
    public static IReadOnlyDictionary<string, string> BrokenTokens()
    {
        var now = DateTime.UtcNow;
        string[] all = Scopes.All;
        string[] every = [CallerRights.Wildcard];
        return new Dictionary<string, string>
        {
            ["expired"] = Mint(all, every, "late", now.AddHours(-2), now.AddHours(-1)),
            ["not yet valid"] = Mint(all, every, "early", now.AddHours(1), now.AddHours(2)),
            ["wrong issuer"] = Mint(all, every, "stranger", now.AddMinutes(-1), now.AddHours(1), issuer: "https://other.issuer"),
            ["wrong audience"] = Mint(all, every, "elsewhere", now.AddMinutes(-1), now.AddHours(1), audience: "another-service"),
            ["wrong key"] = Mint(all, every, "forger", now.AddMinutes(-1), now.AddHours(1), key: OtherKey),
            ["alg none"] = Unsigned(all, every, now),
            ["garbage"] = "not.a.token",
        };
    }

    private static string Mint(string[] scopes, string[] portfolios, string subject, DateTime notBefore, DateTime expires,
        string issuer = Issuer, string audience = Audience, ECDsa? key = null, DateTime? issuedAt = null, string? keyId = null, string[]? workflows = null)
    {
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            IssuedAt = issuedAt ?? notBefore,
            NotBefore = notBefore,
            Expires = expires,
            SigningCredentials = new SigningCredentials(new ECDsaSecurityKey(key ?? Key) { KeyId = keyId }, SecurityAlgorithms.EcdsaSha256),
            Claims = new Dictionary<string, object>
            {
                ["sub"] = subject,
                ["jti"] = Guid.NewGuid().ToString("N"),
                ["scope"] = string.Join(' ', scopes),
                [CallerRights.PortfoliosClaim] = portfolios,
            },
        };
        if (workflows is not null)
        {
            descriptor.Claims[CallerRights.WorkflowsClaim] = workflows;
        }

        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(descriptor);
    }

    // {"alg":"none"}: a token anyone could write, with every right.
    private static string Unsigned(string[] scopes, string[] portfolios, DateTime now)
    {
        static string Encode(string json) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(json));
        var header = Encode("""{"alg":"none","typ":"JWT"}""");
        var exp = new DateTimeOffset(now.AddHours(1)).ToUnixTimeSeconds();
        var nbf = new DateTimeOffset(now.AddMinutes(-1)).ToUnixTimeSeconds();
        var payload = Encode($$"""{"iss":"{{Issuer}}","aud":"{{Audience}}","sub":"nobody","exp":{{exp}},"nbf":{{nbf}},"scope":"{{string.Join(' ', scopes)}}","portfolios":["{{string.Join("\",\"", portfolios)}}"]}""");
        return $"{header}.{payload}.";
    }
}
