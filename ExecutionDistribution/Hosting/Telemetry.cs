using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace ExecutionDistribution.Hosting;

/// <summary>
/// A module's instruments that observe its state (<see cref="System.Diagnostics.Metrics.ObservableCounter{T}"/>
/// and the like, read at each collection): registered by the module, created with the host.
/// </summary>
public interface IModuleMetrics;

/// <summary>
/// Metrics: every module's meter (named <c>ExecDist.*</c>), ASP.NET Core's and Kestrel's, the
/// runtime's and the process's, exported by OpenTelemetry in Prometheus' text format at
/// <c>/metrics</c> (docs/operations.md lists them). Traces: the modules' activity sources
/// (<c>ExecDist.*</c>) and ASP.NET Core's requests, exported over OTLP as the standard <c>OTEL_*</c>
/// variables say, when <c>Telemetry:Tracing</c> is on (by default when an OTLP endpoint is set).
/// </summary>
public static class Telemetry
{
    /// <summary>The prefix of every meter of the service.</summary>
    public const string MeterPrefix = "ExecDist.";

    /// <summary>Registers the metrics pipeline (unless <c>Telemetry:Metrics</c> is false) and tracing (when on).</summary>
    public static WebApplicationBuilder AddTelemetry(this WebApplicationBuilder builder)
    {
        if (MetricsEnabled(builder.Configuration))
        {
            builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
                .AddMeter($"{MeterPrefix}*")
                .AddAspNetCoreInstrumentation() // requests by route and status, Kestrel's connections
                .AddRuntimeInstrumentation()
                .AddProcessInstrumentation()
                .AddPrometheusExporter());
        }

        if (TracingEnabled(builder.Configuration))
        {
            builder.Services.AddOpenTelemetry().WithTracing(tracing =>
            {
                tracing.AddSource($"{MeterPrefix}*").AddAspNetCoreInstrumentation();
                if (OtlpConfigured(builder.Configuration))
                {
                    tracing.AddOtlpExporter();
                }
            });
        }

        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ModuleMetricsStarter>());
        return builder;
    }

    /// <summary><c>Telemetry:Metrics</c> (default true): <c>/metrics</c> and the instruments' collection.</summary>
    public static bool MetricsEnabled(IConfiguration configuration) => configuration.GetValue("Telemetry:Metrics", true);

    /// <summary><c>Telemetry:Tracing</c>, or else whether an OTLP endpoint is configured.</summary>
    public static bool TracingEnabled(IConfiguration configuration) =>
        configuration.GetValue<bool?>("Telemetry:Tracing") ?? OtlpConfigured(configuration);

    private static bool OtlpConfigured(IConfiguration configuration) =>
        !string.IsNullOrEmpty(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]) || !string.IsNullOrEmpty(configuration["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]);

    /// <summary>Maps <c>/metrics</c>.</summary>
    public static WebApplication MapTelemetry(this WebApplication app)
    {
        if (MetricsEnabled(app.Configuration))
        {
            app.MapPrometheusScrapingEndpoint("/metrics").AllowAnonymous(); // aggregate figures only: no label per client, order or event
        }

        return app;
    }

    // Creates every module's observing instruments with the host (they exist once resolved).
    private sealed class ModuleMetricsStarter(IEnumerable<IModuleMetrics> metrics) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            _ = metrics.Count();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
