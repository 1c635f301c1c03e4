using System.Globalization;

namespace ExecutionDistribution.Hosting;

/// <summary>
/// Makes the usual ASP.NET Core ways of moving the HTTP endpoint work: <c>--urls</c> /
/// <c>ASPNETCORE_URLS</c> and <c>ASPNETCORE_HTTP_PORTS</c>. Kestrel lets endpoints configured under
/// <c>Kestrel:Endpoints</c> (appsettings.json names two: <c>Http</c> for REST and WebSocket,
/// <c>Grpc</c> for HTTP/2 gRPC) win over those settings, so without this they would be ignored.
/// Here they become the <c>Http</c> endpoint (and <c>Http2</c>, <c>Http3</c>... for further URLs);
/// the gRPC endpoint keeps <c>Kestrel:Endpoints:Grpc:Url</c>.
/// </summary>
internal static class ListenUrls
{
    /// <summary>Rewrites <c>urls</c> / <c>http_ports</c>, if given, into the HTTP endpoint's settings.</summary>
    public static void Apply(ConfigurationManager configuration)
    {
        var urls = Given(configuration);
        if (urls.Length == 0)
        {
            return;
        }

        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < urls.Length; i++)
        {
            var name = i == 0 ? "Http" : "Http" + (i + 1).ToString(CultureInfo.InvariantCulture);
            settings[$"Kestrel:Endpoints:{name}:Url"] = urls[i];
            settings[$"Kestrel:Endpoints:{name}:Protocols"] = "Http1";
        }

        // Kestrel still logs that its endpoints override `urls` (the host reads it when the builder is
        // made); the endpoint it then binds is the one `urls` named.
        configuration.AddInMemoryCollection(settings);
    }

    /// <summary>The URLs asked for: <c>urls</c> (';'-separated) first, else one <c>http://*:port</c> per <c>http_ports</c> entry.</summary>
    internal static string[] Given(IConfiguration configuration)
    {
        if (configuration["urls"] is { Length: > 0 } urls)
        {
            return urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }

        if (configuration["http_ports"] is { Length: > 0 } ports)
        {
            return [.. ports.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => $"http://*:{p}")];
        }

        return [];
    }
}
