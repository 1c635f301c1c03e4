using Dapper;
using ExecutionDistribution.Security;

namespace ExecutionDistribution.Persistence;

/// <summary>Revocations in access_revocations, shared by every instance; a subject's newest replaces its older.</summary>
internal sealed class PostgresRevocationStore(PostgresDatabase db) : IRevocationStore
{
    public async Task<IReadOnlyList<Revocation>> LoadAsync(CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await c.QueryAsync<(string Kind, string Value, DateTime RevokedAt, string Reason, string RevokedBy)>(new CommandDefinition(
            "SELECT kind, value, revoked_at, reason, revoked_by FROM access_revocations", cancellationToken: cancellationToken)).ConfigureAwait(false);
        return [.. rows.Select(r => new Revocation(r.Kind, r.Value, DateTime.SpecifyKind(r.RevokedAt, DateTimeKind.Utc), r.Reason, r.RevokedBy))];
    }

    public async Task AddAsync(Revocation revocation, CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken).ConfigureAwait(false);
        await c.ExecuteAsync(new CommandDefinition("""
            INSERT INTO access_revocations (kind, value, revoked_at, reason, revoked_by) VALUES (@Kind, @Value, @RevokedAt, @Reason, @RevokedBy)
            ON CONFLICT (kind, value) DO UPDATE SET revoked_at = greatest(access_revocations.revoked_at, excluded.revoked_at), reason = excluded.reason, revoked_by = excluded.revoked_by
            """, revocation, cancellationToken: cancellationToken)).ConfigureAwait(false);
    }
}
