using System.Net.Http.Headers;
using System.Security.Cryptography;
using ExecutionDistribution.Security;
using Microsoft.IdentityModel.Tokens;

namespace ExecutionDistribution.Benchmarks.Support;

/// <summary>
/// Authentication for a workload's service: an EC key of the run's own whose public half the service
/// is configured with, and one token (read and publish, entitled to the given portfolios by name)
/// that every stream and the publisher present.
/// </summary>
internal sealed class BenchAuth
{
    private const string Issuer = "https://issuer.bench.execdist";
    private const string Audience = "execdist-bench";

    private BenchAuth(string[] settings, string token)
    {
        Settings = settings;
        Token = token;
    }

    /// <summary>The service's settings: authentication on, with this run's key.</summary>
    public string[] Settings { get; }

    /// <summary>The token the clients present.</summary>
    public string Token { get; }

    public static BenchAuth Create(IEnumerable<string> portfolios)
    {
        var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var key = new ECDsaSecurityKey(ec) { KeyId = "bench" };
        var token = DevelopmentTokens.Mint(key, new TokenGrant("bench-client", [Scopes.Read, Scopes.Publish], [.. portfolios], TimeSpan.FromHours(6)), TimeProvider.System, Issuer, Audience);
        return new BenchAuth(
            ["--Auth:Mode=Jwt", $"--Auth:Issuer={Issuer}", $"--Auth:Audience={Audience}", $"--Auth:SigningKeys:0={ec.ExportSubjectPublicKeyInfoPem()}"],
            token);
    }

    /// <summary>A client of the REST API, with the token when there is one.</summary>
    public static HttpClient Http(Uri address, string? bearer)
    {
        var http = new HttpClient { BaseAddress = address };
        if (bearer is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return http;
    }
}
