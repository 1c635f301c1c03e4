using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ExecutionDistribution.Persistence;

/// <summary>PostgreSQL answers a query within two seconds.</summary>
internal sealed class PostgresHealthCheck(PostgresDatabase database) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await using var connection = await database.OpenAsync(timeout.Token).ConfigureAwait(false);
            await using var command = new Npgsql.NpgsqlCommand("SELECT 1", connection);
            await command.ExecuteScalarAsync(timeout.Token).ConfigureAwait(false);
            return HealthCheckResult.Healthy("PostgreSQL answers");
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or OperationCanceledException or System.Net.Sockets.SocketException)
        {
            return HealthCheckResult.Unhealthy($"PostgreSQL does not answer: {ex.Message}");
        }
    }
}
