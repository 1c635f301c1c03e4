using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using ExecutionDistribution.Security;
using ExecutionDistribution.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.Tokens;

namespace ExecutionDistribution.Tests.Security;

/// <summary>
/// Keys from a JWKS URL (an identity provider's, here a fixture serving one): a key added at the
/// endpoint is taken up without a restart, as soon as a token names it (at most one read of the JWKS
/// per <c>Auth:JwksMinRefresh</c>), and tokens of the keys published before stay valid.
/// </summary>
[Category("Unit")]
public sealed class JwksRotationTests
{
    [Test]
    public async Task A_key_added_at_the_jwks_endpoint_is_taken_up_without_a_restart_and_older_keys_tokens_stay_valid()
    {
        using var first = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var second = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        await using var jwks = await JwksFixture.StartAsync();
        jwks.Publish(("key-1", first));

        await using var host = await ServiceHost.StartAsync([
            "--Auth:Mode=Jwt", $"--Auth:Issuer={TestAuth.Issuer}", $"--Auth:Audience={TestAuth.Audience}", $"--Auth:JwksUrl={jwks.Url}",
            "--Auth:JwksMinRefresh=00:00:01", "--Auth:JwksRefresh=01:00:00", .. TestAuth.RevocationsFile()]);
        var oldToken = TestAuth.SignedWith(first, "key-1", [Scopes.Read], ["PF001"]);
        Assert.That(await StatusAsync(host, oldToken), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await StatusAsync(host, TestAuth.SignedWith(second, "key-2", [Scopes.Read], ["PF001"])), Is.EqualTo(HttpStatusCode.Unauthorized), "a key not yet published");
        var readsBefore = jwks.Reads;

        // The provider rotates: the new key is published beside the old one.
        jwks.Publish(("key-1", first), ("key-2", second));

        // Not on a schedule (an hour here): the token naming the unknown key has it read again.
        var newToken = TestAuth.SignedWith(second, "key-2", [Scopes.Read], ["PF001"]);
        await Eventually.WaitUntilAsync(() => StatusAsync(host, newToken).GetAwaiter().GetResult() == HttpStatusCode.OK, "the new key is taken up");
        Assert.That(jwks.Reads, Is.GreaterThan(readsBefore), "read again for the unknown key id");
        Assert.That(await StatusAsync(host, oldToken), Is.EqualTo(HttpStatusCode.OK), "the old key's tokens until they expire");
    }

    private static async Task<HttpStatusCode> StatusAsync(ServiceHost host, string token)
    {
        using var http = new HttpClient { BaseAddress = host.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.GetAsync(new Uri("/api/v1/topics", UriKind.Relative));
        return response.StatusCode;
    }

    /// <summary>An identity provider's JWKS endpoint on loopback, serving whatever keys the test publishes.</summary>
    private sealed class JwksFixture : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private volatile string _document = """{"keys":[]}""";
        private int _reads;

        private JwksFixture(WebApplication app) => _app = app;

        public string Url { get; private set; } = string.Empty;

        public int Reads => Volatile.Read(ref _reads);

        public static async Task<JwksFixture> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Configuration.Sources.Clear(); // not the service's appsettings.json (its Kestrel endpoints)
            builder.Configuration.AddInMemoryCollection();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var fixture = new JwksFixture(app);
            app.MapGet("/jwks", () =>
            {
                Interlocked.Increment(ref fixture._reads);
                return Results.Text(fixture._document, "application/json");
            });
            await app.StartAsync();
            fixture.Url = $"{app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()}/jwks";
            return fixture;
        }

        public void Publish(params (string Id, ECDsa Key)[] keys)
        {
            var set = new JsonArray();
            foreach (var (id, key) in keys)
            {
                var p = key.ExportParameters(includePrivateParameters: false);
                set.Add(new JsonObject
                {
                    ["kty"] = "EC", ["crv"] = "P-256", ["use"] = "sig", ["alg"] = "ES256", ["kid"] = id,
                    ["x"] = Base64UrlEncoder.Encode(p.Q.X!), ["y"] = Base64UrlEncoder.Encode(p.Q.Y!),
                });
            }

            _document = new JsonObject { ["keys"] = set }.ToJsonString();
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
