using System.Diagnostics.Metrics;
using ExecutionDistribution.Hosting;

namespace ExecutionDistribution.Audit;

/// <summary>The audit's instruments (meter <c>ExecDist.Audit</c>), read from its counters at each collection.</summary>
internal sealed class AuditMetrics : IModuleMetrics
{
    public AuditMetrics(IMeterFactory meters, AuditTrail trail, AuditWriter writer)
    {
        var meter = meters.Create($"{Telemetry.MeterPrefix}Audit");
        meter.CreateObservableCounter("execdist.audit.rows.recorded", () => trail.Recorded, "{row}", "Audit rows recorded (events, delivery ranges, outcomes)");
        meter.CreateObservableCounter("execdist.audit.rows.written", () => writer.Written, "{row}", "Audit rows written to the store");
        meter.CreateObservableCounter("execdist.audit.rows.spilled", () => writer.Spilled, "{row}", "Audit rows kept in the local store while PostgreSQL could not take them");
        meter.CreateObservableUpDownCounter("execdist.audit.rows.queued", () => trail.Queued, "{row}", "Audit rows waiting to be written");
        meter.CreateObservableUpDownCounter("execdist.audit.local.bytes", () => writer.Local.Bytes, "By", "Bytes of the local audit store");
        meter.CreateObservableUpDownCounter("execdist.audit.degraded", () => writer.Degraded || writer.Full ? 1 : 0, "1",
            "1 while the audit cannot keep up as configured (its store full or unreachable)");
    }
}
