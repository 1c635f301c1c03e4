using System.Text.Json;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace ExecutionDistribution.Security;

/// <summary>What a minted token grants.</summary>
/// <param name="Subject">Its <c>sub</c>.</param>
/// <param name="Scopes">Its scopes (<see cref="Scopes"/>).</param>
/// <param name="Portfolios">Its portfolios (<c>*</c>: every one).</param>
/// <param name="Lifetime">How long it is valid from now.</param>
internal sealed record TokenGrant(string Subject, IReadOnlyList<string> Scopes, IReadOnlyList<string> Portfolios, TimeSpan Lifetime);

/// <summary>
/// Tokens signed with the development key (<see cref="DevelopmentKey"/>): the two an embedded run
/// prints at start, and those the <c>token</c> command mints.
/// </summary>
internal static class DevelopmentTokens
{
    /// <summary>The portfolio the read-only development token is limited to (one of the demo feed's).</summary>
    public const string DemoPortfolio = "PF001";

    /// <summary>A token for <paramref name="grant"/>, signed with <paramref name="key"/> (ES256).</summary>
    public static string Mint(SecurityKey key, TokenGrant grant, TimeProvider time, string issuer = DevelopmentKey.Issuer, string audience = DevelopmentKey.Audience)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            IssuedAt = now,
            NotBefore = now,
            Expires = now + grant.Lifetime,
            SigningCredentials = new SigningCredentials(key, key is RsaSecurityKey ? SecurityAlgorithms.RsaSha256 : SecurityAlgorithms.EcdsaSha256),
            Claims = new Dictionary<string, object>
            {
                ["sub"] = grant.Subject,
                ["jti"] = Guid.NewGuid().ToString("N"),
                ["scope"] = string.Join(' ', grant.Scopes),
                [CallerRights.PortfoliosClaim] = grant.Portfolios.ToArray(),
            },
        };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(descriptor);
    }

    /// <summary>
    /// <c>ExecutionDistribution token [--subject S] [--scopes a,b] [--portfolios P1,P2|*] [--lifetime hh:mm:ss] [--key-file F]</c>:
    /// prints a development token; 0 on success, 2 on bad arguments.
    /// </summary>
    public static int Command(string[] args, TextWriter output, TextWriter error)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["--subject"] = "developer",
            ["--scopes"] = Scopes.Read,
            ["--portfolios"] = DemoPortfolio,
            ["--lifetime"] = "12:00:00",
            ["--key-file"] = string.Empty,
        };
        for (var i = 0; i < args.Length; i++)
        {
            if (!values.ContainsKey(args[i]) || i + 1 >= args.Length)
            {
                error.WriteLine($"token: unknown or incomplete option '{args[i]}'. Options: {string.Join(", ", values.Keys)}; scopes: {string.Join(", ", Scopes.All)}");
                return 2;
            }

            values[args[i]] = args[++i];
        }

        var scopes = values["--scopes"].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (scopes.FirstOrDefault(s => !Scopes.All.Contains(s)) is { } unknown)
        {
            error.WriteLine($"token: --scopes: unknown scope '{unknown}'; scopes: {string.Join(", ", Scopes.All)}");
            return 2;
        }

        if (!TimeSpan.TryParse(values["--lifetime"], System.Globalization.CultureInfo.InvariantCulture, out var lifetime) || lifetime <= TimeSpan.Zero || lifetime > TimeSpan.FromDays(30))
        {
            error.WriteLine($"token: --lifetime must be a time span between 00:00:01 and 30.00:00:00 (was '{values["--lifetime"]}')");
            return 2;
        }

        var key = DevelopmentKey.LoadOrCreate(DevelopmentKey.PathOf(values["--key-file"]));
        var portfolios = values["--portfolios"].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        output.WriteLine(Mint(key, new TokenGrant(values["--subject"], scopes, portfolios, lifetime), TimeProvider.System));
        return 0;
    }

    /// <summary>
    /// At the start of an embedded run: mints an admin token (every scope, every portfolio) and a
    /// read-only one (the demo portfolio), logs both, and writes them with the issuer and audience to
    /// <c>Auth:DevelopmentTokensFile</c> for scripts and tests.
    /// </summary>
    internal sealed class Announcer(DevelopmentSigning signing, IOptions<AuthOptions> options, TimeProvider time, ILogger<Announcer> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            var admin = Mint(signing.Key, new TokenGrant("development-admin", Scopes.All, [CallerRights.Wildcard], TimeSpan.FromHours(12)), time);
            var reader = Mint(signing.Key, new TokenGrant("development-reader", [Scopes.Read], [DemoPortfolio], TimeSpan.FromHours(12)), time);
            var path = options.Value.DevelopmentTokensFile is { Length: > 0 } configured ? configured : Path.Combine(Path.GetTempPath(), "execdist-development-tokens.json");
            var json = JsonSerializer.Serialize(new DevelopmentTokenFile(DevelopmentKey.Issuer, DevelopmentKey.Audience, admin, reader, DemoPortfolio, time.GetUtcNow().AddHours(12).UtcDateTime),
                SecurityJsonContext.Default.DevelopmentTokenFile);
            File.WriteAllText(path, string.Empty);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            File.WriteAllText(path, json);
            SecurityLog.DevelopmentTokens(logger, path, admin, DemoPortfolio, reader);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>The development key of this run, loaded once.</summary>
internal sealed class DevelopmentSigning(IOptions<AuthOptions> options)
{
    private readonly Lazy<ECDsaSecurityKey> _key = new(() => DevelopmentKey.LoadOrCreate(DevelopmentKey.PathOf(options.Value.DevelopmentKeyFile)));

    public ECDsaSecurityKey Key => _key.Value;
}

/// <summary>The file of development tokens an embedded run writes.</summary>
internal sealed record DevelopmentTokenFile(string Issuer, string Audience, string Admin, string Reader, string ReaderPortfolio, DateTime ExpiresAt);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[System.Text.Json.Serialization.JsonSerializable(typeof(DevelopmentTokenFile))]
[System.Text.Json.Serialization.JsonSerializable(typeof(List<Revocation>))]
internal sealed partial class SecurityJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
