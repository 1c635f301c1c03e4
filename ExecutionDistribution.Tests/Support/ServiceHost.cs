using Microsoft.AspNetCore.Builder;
using ExecutionDistribution.Distribution;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace ExecutionDistribution.Tests.Support;

/// <summary>The real application on a real socket (127.0.0.1, a free port), built exactly as Program builds it.</summary>
internal sealed class ServiceHost : IAsyncDisposable
{
    private ServiceHost(WebApplication app, Uri baseAddress)
    {
        App = app;
        BaseAddress = baseAddress;
        Client = new HttpClient { BaseAddress = baseAddress };
    }

    public WebApplication App { get; }

    public Uri BaseAddress { get; }

    public HttpClient Client { get; }

    public FanOutDispatcher Core => App.Services.GetRequiredService<FanOutDispatcher>();

    public static async Task<ServiceHost> StartAsync(params string[] settings)
    {
        // Kafka is off unless the test brings its own broker settings.
        string[] args = ["--Kestrel:Endpoints:Http:Url=http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning", "--Kafka:Enabled=false", .. settings];
        var app = ExecDistApplication.Build(args);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ServiceHost(app, new Uri(address));
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
