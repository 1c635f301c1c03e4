using System.Globalization;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Persistence;
using ExecutionDistribution.Hosting;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Audit;

/// <summary>
/// Registers the audit trail: each audited event recorded once as it enters the log (a core
/// subscriber, off the dispatch path), the ranges the streams write and acknowledge, and the
/// dispatcher's drops, written in batches by <see cref="AuditWriter"/> to PostgreSQL (or, without
/// PostgreSQL, the local segments in <c>Audit:Local:Directory</c>); <c>GET /api/v1/audit</c> finds
/// the outcomes, and the "audit" health check reports a full local store or a spill.
/// </summary>
internal static class AuditModule
{
    public static WebApplicationBuilder AddAuditModule(this WebApplicationBuilder builder)
    {
        var postgres = builder.Configuration.GetSection(PostgresOptions.SectionName).Get<PostgresOptions>() ?? new PostgresOptions();
        builder.Services.AddValidatedOptions<AuditOptions, AuditOptionsValidator>(builder.Configuration, AuditOptions.SectionName);
        builder.Services.AddSingleton<AuditTrail>();
        builder.Services.AddKeyedSingleton("spill", (sp, _) =>
        {
            var local = sp.GetRequiredService<IOptions<AuditOptions>>().Value.Local;
            return new AuditSegments(local.ResolvedDirectory, postgres.Enabled ? "pending" : "audit", local.SegmentBytes, local.MaxBytes, local.Retention, local.WhenFull,
                sp.GetRequiredService<TimeProvider>());
        });
        if (postgres.Enabled)
        {
            builder.Services.AddSingleton<IAuditStore, PostgresAuditStore>();
        }
        else
        {
            builder.Services.AddSingleton<IAuditStore>(sp => new FileAuditStore(sp.GetRequiredKeyedService<AuditSegments>("spill")));
        }

        builder.Services.AddSingleton<AuditWriter>();
        builder.Services.AddSingleton<IModuleMetrics, AuditMetrics>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AuditWriter>());
        builder.Services.AddSingleton<EventRecorder>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<EventRecorder>());
        builder.Services.AddHealthChecks().AddCheck<AuditHealthCheck>("audit", tags: Health.ReadyTags);
        builder.Services.AddSingleton<IMemoryReporter, AuditQueueMemory>();
        return builder;
    }

    /// <summary>The audit queue: a ring allocated at start, whatever it holds.</summary>
    private sealed class AuditQueueMemory(AuditTrail trail, IOptions<AuditOptions> options) : IMemoryReporter
    {
        public string Store => "audit_queue";

        public StoreMemory Report()
        {
            // The ring, allocated at start, and the events its event rows hold until written (about 1.7 KB each, as the retained log counts them).
            var slots = (long)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)options.Value.QueueCapacity);
            return new StoreMemory(trail.Queued, (slots * (System.Runtime.CompilerServices.Unsafe.SizeOf<AuditRow>() + 8)) + (trail.Queued * 1_700), options.Value.QueueCapacity, null,
                "at Audit:QueueCapacity stream senders and the event recorder wait for room; nothing is discarded");
        }
    }

    /// <summary>Degraded while audit rows wait for PostgreSQL in the spill, or while the local store is full.</summary>
    internal sealed class AuditHealthCheck(AuditWriter writer, EventRecorder events) : Microsoft.Extensions.Diagnostics.HealthChecks.IHealthCheck
    {
        public Task<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult> CheckHealthAsync(
            Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var data = new Dictionary<string, object> { ["spilled"] = writer.Spilled, ["local_bytes"] = writer.Local.Bytes, ["events_unrecorded"] = events.Unrecorded };
            return Task.FromResult(
                writer.Full ? Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Degraded(
                    $"the local audit store in {writer.Local.Directory} is full (Audit:Local:MaxBytes); streams wait for room", data: data)
                : writer.Degraded ? Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Degraded("PostgreSQL does not take audit rows; they are spilled to the local store", data: data)
                : Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Healthy(data: data));
        }
    }
}
