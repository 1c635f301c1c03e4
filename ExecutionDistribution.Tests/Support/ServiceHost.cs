using ExecutionDistribution.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace ExecutionDistribution.Tests.Support;

/// <summary>The real application on a real socket (127.0.0.1, a free port), built exactly as Program builds it.</summary>
internal sealed class ServiceHost : IAsyncDisposable
{
    private ServiceHost(WebApplication app, Uri baseAddress, Uri grpcAddress)
    {
        App = app;
        BaseAddress = baseAddress;
        GrpcAddress = grpcAddress;
        Client = new HttpClient { BaseAddress = baseAddress };
    }

    public WebApplication App { get; }

    public Uri BaseAddress { get; }

    /// <summary>The HTTP/2 (cleartext) endpoint gRPC listens on.</summary>
    public Uri GrpcAddress { get; }

    public HttpClient Client { get; }

    public FanOutDispatcher Core => App.Services.GetRequiredService<FanOutDispatcher>();

    /// <summary>Both endpoints on free loopback ports, so hosts never collide.</summary>
    public static readonly string[] FreePorts = ["--Kestrel:Endpoints:Http:Url=http://127.0.0.1:0", "--Kestrel:Endpoints:Grpc:Url=http://127.0.0.1:0"];

    public static Task<ServiceHost> StartAsync(params string[] settings) => StartAsync(null, settings);

    /// <summary>The host with services of the test's own (<paramref name="configure"/> runs after the modules registered theirs, so its registrations win).</summary>
    public static async Task<ServiceHost> StartAsync(Action<WebApplicationBuilder>? configure, params string[] settings)
    {
        // Kafka is off unless the test brings its own broker settings.
        // Each host writes its local audit file in a folder of its own.
        var spill = Path.Combine(Path.GetTempPath(), "execdist-tests", Guid.NewGuid().ToString("N"));
        // Authentication is off unless the test configures it (the access-control tests do, with keys of their own).
        string[] auth = settings.Any(s => s.StartsWith("--Auth:", StringComparison.Ordinal)) ? [] : ["--Auth:Mode=Off"];
        string[] args = [.. FreePorts, "--Logging:LogLevel:Default=Warning", "--Kafka:Enabled=false", $"--Audit:Local:Directory={spill}", .. auth, .. settings];
        var app = ExecDistApplication.Build(args, configure);
        await app.StartAsync();

        // Two endpoints on random ports, listed in no guaranteed order: the one that answers HTTP/1.1 is REST.
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Select(a => new Uri(a)).ToArray();
        var http = addresses.First(AnswersHttp1);
        return new ServiceHost(app, http, addresses.First(a => a != http));
    }

    private static bool AnswersHttp1(Uri address)
    {
        using var probe = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            // Not /health: it is 503 while a part (Kafka) is unhealthy. The HTTP/2-only endpoint answers HTTP/1.1 with an error status.
            using var response = probe.GetAsync(new Uri("/health/live", UriKind.Relative)).GetAwaiter().GetResult();
            return response.IsSuccessStatusCode;

        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    /// <summary>The status and body of GET /health (503 with "Unhealthy" when a part is down).</summary>
    public string Health()
    {
        using var response = Client.GetAsync(new Uri("/health", UriKind.Relative)).GetAwaiter().GetResult();
        return $"{(int)response.StatusCode} {response.Content.ReadAsStringAsync().GetAwaiter().GetResult()}";
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
