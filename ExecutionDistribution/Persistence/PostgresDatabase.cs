using System.Reflection;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;

namespace ExecutionDistribution.Persistence;

/// <summary>
/// The PostgreSQL connection pool of the host, bound to the configured schema (every statement finds
/// its tables through <c>search_path</c>), and the versioned migrations applied at start.
/// </summary>
internal sealed class PostgresDatabase : IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;

    public PostgresDatabase(IOptions<PostgresOptions> options)
    {
        var o = options.Value;
        Schema = o.Schema;
        var builder = new NpgsqlDataSourceBuilder(o.ConnectionString);
        builder.ConnectionStringBuilder.SearchPath = o.Schema;
        builder.ConnectionStringBuilder.ApplicationName ??= "execdist";
        _dataSource = builder.Build();
    }

    /// <summary>The schema holding the tables.</summary>
    public string Schema { get; }

    /// <summary>Opens a pooled connection.</summary>
    public ValueTask<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken = default) => _dataSource.OpenConnectionAsync(cancellationToken);

    /// <summary>
    /// Creates the schema and applies every migration not yet applied, in order, each in its own
    /// transaction under an advisory lock, so two instances starting together apply each once.
    /// Returns the versions applied now.
    /// </summary>
    public async Task<IReadOnlyList<int>> MigrateAsync(CancellationToken cancellationToken)
    {
        var applied = new List<int>();
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await connection.ExecuteAsync($"CREATE SCHEMA IF NOT EXISTS \"{Schema}\"").ConfigureAwait(false);
        await connection.ExecuteAsync("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer     PRIMARY KEY,
                name       text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())
            """).ConfigureAwait(false);
        foreach (var (version, name, sql) in Migrations())
        {
            await using var tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await connection.ExecuteAsync("SELECT pg_advisory_xact_lock(hashtext(@lock))", new { @lock = $"execdist-migrate-{Schema}" }, tx).ConfigureAwait(false);
            var done = await connection.ExecuteScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = @version)", new { version }, tx).ConfigureAwait(false);
            if (!done)
            {
                await connection.ExecuteAsync(sql, transaction: tx).ConfigureAwait(false);
                await connection.ExecuteAsync("INSERT INTO schema_migrations (version, name) VALUES (@version, @name)", new { version, name }, tx).ConfigureAwait(false);
                applied.Add(version);
            }

            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        return applied;
    }

    /// <summary>The embedded migrations (<c>Persistence/Migrations/NNNN_name.sql</c>) by version.</summary>
    internal static IEnumerable<(int Version, string Name, string Sql)> Migrations()
    {
        var assembly = typeof(PostgresDatabase).Assembly;
        const string prefix = "ExecutionDistribution.Persistence.Migrations.";
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            var name = resource[prefix.Length..^".sql".Length];
            var version = int.Parse(name.AsSpan(0, name.IndexOf('_', StringComparison.Ordinal)), System.Globalization.CultureInfo.InvariantCulture);
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            yield return (version, name, reader.ReadToEnd());
        }
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
