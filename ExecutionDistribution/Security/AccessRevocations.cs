using System.Collections.Concurrent;
using ExecutionDistribution.Hosting;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Security;

/// <summary>An access taken away: every token of a subject issued until then, or one token by its id.</summary>
/// <param name="Kind"><c>subject</c> or <c>token</c>.</param>
/// <param name="Value">The subject (<c>sub</c>) or the token id (<c>jti</c>).</param>
/// <param name="RevokedAt">When (UTC): a subject's tokens issued after it are valid again.</param>
/// <param name="Reason">Why, as the streams it ends are told.</param>
/// <param name="RevokedBy">The administrator's subject.</param>
public sealed record Revocation(string Kind, string Value, DateTime RevokedAt, string Reason, string RevokedBy)
{
    /// <summary>A subject's revocation.</summary>
    public const string Subject = "subject";

    /// <summary>One token's revocation.</summary>
    public const string Token = "token";

    /// <summary>The key of the revocation on the control topic (the newest per key is kept).</summary>
    public string Key => $"{Kind}:{Value}";
}

/// <summary>Where revocations are kept across restarts (PostgreSQL, shared by the cluster; else a local file).</summary>
public interface IRevocationStore
{
    /// <summary>Every revocation in force.</summary>
    Task<IReadOnlyList<Revocation>> LoadAsync(CancellationToken cancellationToken);

    /// <summary>Keeps <paramref name="revocation"/> (a subject's newest replaces its older one).</summary>
    Task AddAsync(Revocation revocation, CancellationToken cancellationToken);
}

/// <summary>
/// The revocations in force and the streams open under each token. A revoked token is refused at
/// authentication; a stream opened under it (or under any token of a revoked subject issued before
/// the revocation) is ended within a second with the reason, on every instance (the control topic
/// carries the revocation; each instance reloads the store). A stream also ends when its token
/// expires, unless the client refreshed it in-band before then with a token of the same subject
/// and entitlements.
/// </summary>
public sealed class AccessRevocations : IDisposable
{
    /// <summary>The control topic's kind of a revocation.</summary>
    public const string CommandKind = "revocation";

    private readonly ConcurrentDictionary<string, Revocation> _bySubject = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Revocation> _byToken = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<StreamAccess, byte> _open = new(ReferenceEqualityComparer.Instance);
    private readonly ConcurrentDictionary<string, StreamAccess> _byStreamId = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly ITimer _sweep;

    /// <summary>Creates the registry; it looks at open streams' expiry every <paramref name="sweep"/>.</summary>
    public AccessRevocations(TimeProvider time, TimeSpan? sweep = null)
    {
        _time = time;
        var every = sweep ?? TimeSpan.FromSeconds(1);
        _sweep = time.CreateTimer(static s => ((AccessRevocations)s!).Sweep(), this, every, every);
    }

    /// <summary>Streams open now.</summary>
    public int OpenStreams => _open.Count;

    /// <summary>Why <paramref name="rights"/> may no longer be used, or null.</summary>
    public string? RevokedReason(CallerRights rights)
    {
        if (rights.TokenId is { } id && _byToken.TryGetValue(id, out var token))
        {
            return $"access revoked: token {id} ({token.Reason})";
        }

        return _bySubject.TryGetValue(rights.Subject, out var subject) && (rights.IssuedAt is not { } issued || issued <= subject.RevokedAt)
            ? $"access revoked: {rights.Subject} ({subject.Reason})"
            : null;
    }

    /// <summary>Puts <paramref name="revocation"/> in force here, and ends the streams it takes away.</summary>
    public void Apply(Revocation revocation)
    {
        var map = revocation.Kind == Revocation.Subject ? _bySubject : _byToken;
        map.AddOrUpdate(revocation.Value, revocation, (_, old) => old.RevokedAt >= revocation.RevokedAt ? old : revocation);
        foreach (var access in _open.Keys)
        {
            if (RevokedReason(access.Rights) is { } reason)
            {
                access.End(reason);
            }
        }
    }

    /// <summary>Follows a stream opened by <paramref name="rights"/>: <paramref name="end"/> is called (once) with the reason it must end.</summary>
    public StreamAccess Track(string streamId, CallerRights rights, Action<string> end)
    {
        var access = new StreamAccess(this, streamId, rights, end);
        _open[access] = 0;
        _byStreamId[streamId] = access;
        if (RevokedReason(rights) is { } reason)
        {
            access.End(reason); // revoked between authentication and now
        }

        return access;
    }

    /// <summary>The access of the open stream <paramref name="streamId"/>, for an in-band refresh.</summary>
    public StreamAccess? Find(string streamId) => _byStreamId.TryGetValue(streamId, out var access) ? access : null;

    internal void Forget(StreamAccess access)
    {
        _open.TryRemove(access, out _);
        _byStreamId.TryRemove(new KeyValuePair<string, StreamAccess>(access.StreamId, access));
    }

    private void Sweep()
    {
        var now = _time.GetUtcNow();
        foreach (var access in _open.Keys)
        {
            if (access.Rights.ExpiresAt is { } expires && expires <= now)
            {
                access.End($"the token expired at {expires.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}; refresh it in-band before it expires, or reconnect with a new one");
            }
        }
    }

    /// <inheritdoc />
    public void Dispose() => _sweep.Dispose();
}

/// <summary>One open stream's access: the rights it was opened with (a refresh replaces them), and how it ends.</summary>
public sealed class StreamAccess : IDisposable
{
    private readonly AccessRevocations _owner;
    private readonly Action<string> _end;
    private int _ended;

    internal StreamAccess(AccessRevocations owner, string streamId, CallerRights rights, Action<string> end)
    {
        _owner = owner;
        StreamId = streamId;
        Rights = rights;
        _end = end;
    }

    /// <summary>The stream's id (the subscription id it reports).</summary>
    public string StreamId { get; }

    /// <summary>The rights in force.</summary>
    public CallerRights Rights { get; private set; }

    /// <summary>
    /// Takes a new token's rights for the stream: it must be of the same subject with the same
    /// entitlements (a stream's filter was narrowed to them), and not revoked. Null, or why not.
    /// </summary>
    public string? Refresh(CallerRights next)
    {
        if (next.Subject != Rights.Subject)
        {
            return $"token: of subject '{next.Subject}', the stream is '{Rights.Subject}''s";
        }

        if (next.Portfolios.ToString() != Rights.Portfolios.ToString())
        {
            return "token: its portfolios differ from the stream's; open a new stream with it";
        }

        if (_owner.RevokedReason(next) is { } revoked)
        {
            return $"token: {revoked}";
        }

        Rights = next;
        return null;
    }

    internal void End(string reason)
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            _end(reason);
        }
    }

    /// <inheritdoc />
    public void Dispose() => _owner.Forget(this);
}

/// <summary>
/// Loads the revocations at start (a store that cannot be read stops the start: access control
/// fails closed) and reloads them when another instance says it revoked one.
/// </summary>
internal sealed class RevocationLoader(AccessRevocations revocations, IRevocationStore store, IClusterCommands cluster) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await ReloadAsync(cancellationToken).ConfigureAwait(false);
        cluster.On(AccessRevocations.CommandKind, (_, ct) => ReloadAsync(ct));
    }

    private async Task ReloadAsync(CancellationToken cancellationToken)
    {
        foreach (var revocation in await store.LoadAsync(cancellationToken).ConfigureAwait(false))
        {
            revocations.Apply(revocation);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Revocations in a local JSON file (an instance without PostgreSQL), written whole on each change.</summary>
internal sealed class FileRevocationStore(IOptions<AuthOptions> options) : IRevocationStore
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    private string Path => options.Value.RevocationsFile is { Length: > 0 } configured
        ? configured
        : System.IO.Path.Combine(System.IO.Path.GetDirectoryName(DevelopmentKey.PathOf(options.Value.DevelopmentKeyFile))!, "revocations.json");

    public async Task<IReadOnlyList<Revocation>> LoadAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(Path))
        {
            return [];
        }

        await using var file = File.OpenRead(Path);
        return await System.Text.Json.JsonSerializer.DeserializeAsync(file, SecurityJsonContext.Default.ListRevocation, cancellationToken).ConfigureAwait(false) ?? [];
    }

    public async Task AddAsync(Revocation revocation, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var all = (await LoadAsync(cancellationToken).ConfigureAwait(false)).Where(r => r.Key != revocation.Key).Append(revocation).ToList();
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path))!);
            var temp = $"{Path}.tmp";
            await File.WriteAllTextAsync(temp, System.Text.Json.JsonSerializer.Serialize(all, SecurityJsonContext.Default.ListRevocation), cancellationToken).ConfigureAwait(false);
            File.Move(temp, Path, overwrite: true);
        }
        finally
        {
            _gate.Release();
        }
    }
}
