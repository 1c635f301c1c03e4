using System.Diagnostics.Metrics;
using System.Net;
using System.Security.Claims;
using System.Text.Encodings.Web;
using ExecutionDistribution.Hosting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace ExecutionDistribution.Security;

/// <summary>
/// Authentication (JWT bearer tokens) and authorization (a policy per scope) of every interface.
/// Endpoints declare the scope they need; what a caller is entitled to see is <see cref="CallerRights"/>.
/// </summary>
internal static class SecurityModule
{
    public static WebApplicationBuilder AddSecurityModule(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddValidatedOptions<AuthOptions, AuthOptionsValidator>(builder.Configuration, AuthOptions.SectionName);
        services.AddSingleton<IValidateOptions<AuthOptions>>(new AuthDeploymentValidator(builder.Configuration));
        var auth = builder.Configuration.GetSection(AuthOptions.SectionName).Get<AuthOptions>() ?? new AuthOptions();

        services.AddSingleton<SecurityMetrics>();
        services.AddSingleton<DevelopmentSigning>();
        services.AddSingleton<TokenValidation>();
        services.AddSingleton(sp => new CachedTokenHandler(sp.GetRequiredService<TimeProvider>()).Unmapped());
        services.AddSingleton(sp => new AccessRevocations(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IRevocationStore, FileRevocationStore>(); // PostgreSQL's replaces it when configured
        var authentication = services.AddAuthentication(auth.Mode == AuthMode.Off ? OpenAccess.SchemeName : JwtBearerDefaults.AuthenticationScheme);
        if (auth.Mode == AuthMode.Off)
        {
            authentication.AddScheme<AuthenticationSchemeOptions, OpenAccess>(OpenAccess.SchemeName, null);
        }
        else
        {
            authentication.AddJwtBearer();
            services.AddSingleton<IConfigureOptions<JwtBearerOptions>, BearerSetup>();
            if (!auth.HasKeys)
            {
                services.AddHostedService<DevelopmentTokens.Announcer>();
            }
        }

        services.AddAuthorization(Scopes.AddPolicies);
        services.AddHealthChecks().AddCheck<AuthHealthCheck>("auth", tags: Health.ReadyTags);
        return builder;
    }

    /// <summary>Loads the revocations at start: after the store is ready (PostgreSQL migrated), before anyone is served.</summary>
    public static WebApplicationBuilder AddRevocationLoading(this WebApplicationBuilder builder)
    {
        builder.Services.AddHostedService<RevocationLoader>();
        return builder;
    }

    public static WebApplication UseSecurity(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<AuthOptions>>().Value.Mode == AuthMode.Off)
        {
            SecurityLog.AuthenticationOff(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(SecurityModule)));
        }

        app.UseAuthentication();
        app.UseAuthorization();
        return app;
    }

    private static bool IsLoopback(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.IsLoopback || (IPAddress.TryParse(uri.Host, out var ip) && IPAddress.IsLoopback(ip)));

    /// <summary>The bearer handler's settings from <c>Auth</c>: keys, issuer, audience, algorithms, clock skew.</summary>
    private sealed class BearerSetup(IOptions<AuthOptions> options, DevelopmentSigning development, SecurityMetrics metrics, ILoggerFactory loggers, CachedTokenHandler tokens)
        : IConfigureNamedOptions<JwtBearerOptions>
    {
        public void Configure(JwtBearerOptions o) => Configure(JwtBearerDefaults.AuthenticationScheme, o);

        public void Configure(string? name, JwtBearerOptions o)
        {
            var auth = options.Value;
            var logger = loggers.CreateLogger(typeof(SecurityModule));
            o.MapInboundClaims = false;
            o.TokenHandlers.Clear();
            o.TokenHandlers.Add(tokens); // one signature check per token, not per stream
            o.TokenValidationParameters = new TokenValidationParameters
            {
                ValidateIssuer = true,
                ValidIssuer = auth.HasKeys ? auth.Issuer : DevelopmentKey.Issuer,
                ValidateAudience = true,
                ValidAudience = auth.HasKeys ? auth.Audience : DevelopmentKey.Audience,
                ValidateLifetime = true,
                RequireExpirationTime = true,
                RequireSignedTokens = true,
                ValidateIssuerSigningKey = true,
                ValidAlgorithms = auth.HasKeys ? auth.AcceptedAlgorithms : [SecurityAlgorithms.EcdsaSha256],
                ClockSkew = auth.ClockSkew,
                NameClaimType = "sub",
            };

            if (auth.SigningKeys.Count > 0)
            {
                o.TokenValidationParameters.IssuerSigningKeys = [.. auth.SigningKeys.Select(SigningKeyParser.Parse)];
            }

            if (!string.IsNullOrWhiteSpace(auth.JwksUrl))
            {
                o.ConfigurationManager = new ConfigurationManager<OpenIdConnectConfiguration>(auth.JwksUrl, new JwksRetriever(), new HttpDocumentRetriever { RequireHttps = !IsLoopback(auth.JwksUrl) })
                {
                    AutomaticRefreshInterval = auth.JwksRefresh,
                    RefreshInterval = auth.JwksMinRefresh,
                };
            }
            else if (!string.IsNullOrWhiteSpace(auth.Authority))
            {
                o.Authority = auth.Authority;
                o.RequireHttpsMetadata = !IsLoopback(auth.Authority);
                o.AutomaticRefreshInterval = auth.JwksRefresh;
                o.RefreshInterval = auth.JwksMinRefresh;
            }
            else if (!auth.HasKeys)
            {
                o.TokenValidationParameters.IssuerSigningKey = development.Key;
            }

            o.Events = new JwtBearerEvents
            {
                OnMessageReceived = context =>
                {
                    // Browsers cannot set headers on a WebSocket: the token may come in the URL only if allowed.
                    if (auth.AllowTokenInQuery && context.HttpContext.WebSockets.IsWebSocketRequest && context.Request.Query["access_token"] is [{ Length: > 0 } token])
                    {
                        context.Token = token;
                    }

                    return Task.CompletedTask;
                },
                OnAuthenticationFailed = async context =>
                {
                    // A key the JWKS did not have when last read: read it again and check once more.
                    if (context.Exception is SecurityTokenSignatureKeyNotFoundException && o.ConfigurationManager is not null
                        && Bearer(context.Request) is { } token
                        && await context.HttpContext.RequestServices.GetRequiredService<TokenValidation>().ValidateAsync(token, context.HttpContext.RequestAborted).ConfigureAwait(false) is ({ } principal, null))
                    {
                        context.Principal = principal;
                        context.Success();
                        return;
                    }

                    context.HttpContext.Items[FailureKey] = TokenValidation.Describe(context.Exception);
                },
                OnTokenValidated = context =>
                {
                    // A revoked token (or subject) is refused like an invalid one.
                    if (context.HttpContext.RequestServices.GetRequiredService<AccessRevocations>().RevokedReason(CallerRights.Of(context.Principal!)) is { } revoked)
                    {
                        context.HttpContext.Items[FailureKey] = revoked;
                        context.Fail(revoked);
                    }

                    return Task.CompletedTask;
                },
                OnChallenge = context =>
                {
                    var reason = context.HttpContext.Items[FailureKey] as string ?? "no bearer token";
                    metrics.Denied("unauthenticated");
                    SecurityLog.Unauthenticated(logger, context.Request.Method, context.Request.Path, reason);
                    return Task.CompletedTask;
                },
                OnForbidden = context =>
                {
                    metrics.Denied("forbidden");
                    SecurityLog.Forbidden(logger, context.Request.Method, context.Request.Path, CallerRights.Of(context.HttpContext.User).Subject);
                    return Task.CompletedTask;
                },
            };
        }
    }

    private const string FailureKey = "execdist.auth.failure";

    private static string? Bearer(HttpRequest request) =>
        request.Headers.Authorization is [{ } header] && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : null;

    /// <summary>Authentication off: /health says so (degraded), so it is never a surprise.</summary>
    private sealed class AuthHealthCheck(IOptions<AuthOptions> options) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(options.Value.Mode == AuthMode.Off
                ? HealthCheckResult.Degraded("authentication is off (Auth:Mode=Off): every caller may read, publish and manage everything")
                : HealthCheckResult.Healthy(options.Value.HasKeys ? "JWT bearer tokens" : "JWT bearer tokens signed with the development key (embedded run)"));
    }
}

/// <summary>The scheme of <c>Auth:Mode=Off</c>: every request is a caller with every right.</summary>
internal sealed class OpenAccess(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "Open";

    public const string Claim = "execdist.open_access";

    private static readonly ClaimsPrincipal Everyone = new(new ClaimsIdentity([new Claim("sub", "anonymous"), new Claim(Claim, "true")], SchemeName, "sub", null));

    protected override Task<AuthenticateResult> HandleAuthenticateAsync() =>
        Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(Everyone, SchemeName)));
}

/// <summary>Denied requests, by reason (meter <c>ExecDist.Security</c>).</summary>
internal sealed class SecurityMetrics
{
    private readonly Counter<long> _denied;

    public SecurityMetrics(IMeterFactory meters)
    {
        var meter = meters.Create($"{Telemetry.MeterPrefix}Security");
        _denied = meter.CreateCounter<long>("execdist.auth.denied", "{request}", "Requests and stream messages refused: unauthenticated (401), forbidden (403) or revoked");
    }

    public void Denied(string reason) => _denied.Add(1, new KeyValuePair<string, object?>("reason", reason));
}

internal static partial class SecurityLog
{
    [LoggerMessage(9001, LogLevel.Warning, "Authentication is off (Auth:Mode=Off): every caller may read, publish and manage everything")]
    public static partial void AuthenticationOff(ILogger logger);

    [LoggerMessage(9002, LogLevel.Warning, "Denied {Method} {Path}: unauthenticated ({Reason})")]
    public static partial void Unauthenticated(ILogger logger, string method, string path, string reason);

    [LoggerMessage(9003, LogLevel.Warning, "Denied {Method} {Path}: forbidden to {Subject} (a scope it lacks)")]
    public static partial void Forbidden(ILogger logger, string method, string path, string subject);

    [LoggerMessage(9004, LogLevel.Information,
        "Development tokens (signed with the development key; written to {File}):\n  admin (every scope, every portfolio): {Admin}\n  reader (executions:read, portfolio {Portfolio}): {Reader}")]
    public static partial void DevelopmentTokens(ILogger logger, string file, string admin, string portfolio, string reader);

    [LoggerMessage(9005, LogLevel.Warning, "Revoked {Kind} {Value} by {By}: {Reason}")]
    public static partial void Revoked(ILogger logger, string kind, string value, string by, string reason);
}
