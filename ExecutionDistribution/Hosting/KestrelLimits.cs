using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace ExecutionDistribution.Hosting;

/// <summary>
/// Binds <c>Kestrel:Limits</c> (connections, request sizes, HTTP/2 streams per connection and
/// windows) from configuration. Kestrel reads its endpoints from the <c>Kestrel</c> section by
/// itself but not its limits, so without this appsettings.json's
/// <c>Kestrel:Limits:Http2:MaxStreamsPerConnection</c> (10,000) would be ignored and each HTTP/2
/// connection would carry at most Kestrel's default of 100 concurrent gRPC calls, further calls
/// waiting silently for a free stream.
/// </summary>
internal static class KestrelLimits
{
    /// <summary>The configuration section of the limits.</summary>
    public const string SectionName = "Kestrel:Limits";

    /// <summary>Applies the configured limits to the server's options.</summary>
    public static void Apply(WebApplicationBuilder builder) =>
        builder.Services.Configure<KestrelServerOptions>(o => builder.Configuration.GetSection(SectionName).Bind(o.Limits));
}
