using ExecutionDistribution.Contract;
using ExecutionDistribution.Hosting;
using ExecutionDistribution.Security;

namespace ExecutionDistribution.Api;

/// <summary>
/// <c>/api/v1/admin/revocations</c>: taking access away (scope <c>admin</c>). A revocation is kept in
/// the revocation store (PostgreSQL, else a local file), put in force here at once, and told to
/// every other instance on the control topic; each ends the streams it takes away within a second.
/// </summary>
internal static class AdminApi
{
    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/admin/revocations").WithTags("Access").RequireAuthorization(Scopes.Admin);
        group.MapPost("/", Revoke).Produces<Revocation>(StatusCodes.Status201Created).ProducesValidationProblem();
        group.MapGet("/", async (IRevocationStore store, CancellationToken ct) => Results.Ok(await store.LoadAsync(ct).ConfigureAwait(false))).Produces<Revocation[]>();
        return app;
    }

    private static async Task<IResult> Revoke(
        RevocationBody body, HttpContext http, IRevocationStore store, AccessRevocations revocations, IClusterCommands cluster, TimeProvider time, ILoggerFactory loggers, CancellationToken ct)
    {
        var (kind, value) = (body.Subject, body.TokenId) switch
        {
            ({ Length: > 0 } subject, null or "") => (Revocation.Subject, subject),
            (null or "", { Length: > 0 } token) => (Revocation.Token, token),
            _ => (null, null),
        };
        if (kind is null || value!.Length > 200 || (body.Reason?.Length ?? 0) > 500)
        {
            return Results.ValidationProblem(new Dictionary<string, string[]>
            {
                [kind is null ? "subject" : value!.Length > 200 ? kind == Revocation.Subject ? "subject" : "token_id" : "reason"] =
                    [kind is null ? "give either subject or token_id" : "too long (at most 200 characters; reason 500)"],
            });
        }

        var by = CallerRights.Of(http.User).Subject;
        var revocation = new Revocation(kind, value, Timestamps.UtcNow(time), body.Reason is { Length: > 0 } reason ? reason : "revoked by an administrator", by);
        await store.AddAsync(revocation, ct).ConfigureAwait(false);
        revocations.Apply(revocation);
        cluster.Publish(new ClusterCommand(AccessRevocations.CommandKind, revocation.Key, "revoked"));
        SecurityLog.Revoked(loggers.CreateLogger(typeof(AdminApi)), kind, value, by, revocation.Reason);
        return Results.Created($"/api/v1/admin/revocations", revocation);
    }

    /// <summary>The body of a revocation: a subject (every token issued to it until now) or one token id.</summary>
    internal sealed record RevocationBody(string? Subject, string? TokenId, string? Reason);
}
