using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Kafka;

/// <summary>Readiness: the records not yet consumed on the assigned partitions, together, stay at most <c>Kafka:ReadyMaxLag</c>.</summary>
internal sealed class KafkaLagHealthCheck(KafkaIngestService ingest, IOptions<KafkaOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var lag = ingest.Lag.Values.Sum();
        var max = options.Value.ReadyMaxLag;
        var data = new Dictionary<string, object> { ["lag"] = lag, ["ready_max_lag"] = max, ["partitions"] = ingest.Lag.Count };
        return Task.FromResult(lag <= max
            ? HealthCheckResult.Healthy($"{lag} records behind", data)
            : HealthCheckResult.Unhealthy($"{lag} records behind, more than Kafka:ReadyMaxLag ({max})", data: data));
    }
}
