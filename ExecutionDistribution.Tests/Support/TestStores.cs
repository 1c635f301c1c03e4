using System.Net;
using System.Net.Sockets;
using Npgsql;
using StackExchange.Redis;

namespace ExecutionDistribution.Tests.Support;

/// <summary>
/// A schema of its own in a real PostgreSQL server (EXECDIST_TEST_POSTGRES, which scripts/test.sh
/// sets to the throwaway server it starts), dropped at the end. The service creates and migrates it itself.
/// </summary>
internal sealed class TestPostgres : IAsyncDisposable
{
    /// <summary>The variable that names the server.</summary>
    public const string Variable = "EXECDIST_TEST_POSTGRES";

    /// <summary>The server the tests use; a test that needs it fails with what to set when none is given.</summary>
    public static string ConnectionString => TestServers.Require(Variable, "PostgreSQL", "a connection string such as Host=127.0.0.1;Port=5432;Username=postgres");

    public string Schema { get; } = $"t_{Guid.NewGuid():N}";

    /// <summary>Settings that point the service at this schema (optionally through another host and port, e.g. a <see cref="TcpGate"/>).</summary>
    public string[] Settings(int? port = null)
    {
        var builder = new NpgsqlConnectionStringBuilder(ConnectionString);
        if (port is { } p)
        {
            builder.Host = "127.0.0.1";
            builder.Port = p;
        }

        // Short timeouts so an outage is noticed quickly; no pooling across a cut connection.
        builder.Timeout = 3;
        builder.CommandTimeout = 5;
        return [$"--Postgres:ConnectionString={builder.ConnectionString}", $"--Postgres:Schema={Schema}"];
    }

    /// <summary>A connection to this schema.</summary>
    public async Task<NpgsqlConnection> OpenAsync()
    {
        var builder = new NpgsqlConnectionStringBuilder(ConnectionString) { SearchPath = Schema };
        var c = new NpgsqlConnection(builder.ConnectionString);
        await c.OpenAsync();
        return c;
    }

    public async ValueTask DisposeAsync()
    {
        await using var c = new NpgsqlConnection(ConnectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand($"DROP SCHEMA IF EXISTS \"{Schema}\" CASCADE", c);
        await cmd.ExecuteNonQueryAsync();
    }
}

/// <summary>A key prefix of its own in a real Redis server (EXECDIST_TEST_REDIS), cleared at the end.</summary>
internal sealed class TestRedis : IAsyncDisposable
{
    /// <summary>The variable that names the server.</summary>
    public const string Variable = "EXECDIST_TEST_REDIS";

    private readonly ConnectionMultiplexer _redis;

    public TestRedis() => _redis = ConnectionMultiplexer.Connect(Endpoint);

    /// <summary>The server the tests use.</summary>
    public static string Endpoint => TestServers.Require(Variable, "Redis", "host:port such as 127.0.0.1:6379");

    public string Prefix { get; } = $"test:{Guid.NewGuid():N}:";

    public IDatabase Db => _redis.GetDatabase();

    public string[] Settings(string? endpoint = null) => [$"--Redis:Configuration={endpoint ?? Endpoint}", $"--Redis:KeyPrefix={Prefix}"];

    public async ValueTask DisposeAsync()
    {
        foreach (var server in _redis.GetServers())
        {
            await foreach (var key in server.KeysAsync(pattern: Prefix + "*"))
            {
                await Db.KeyDeleteAsync(key);
            }
        }

        await _redis.DisposeAsync();
    }
}

/// <summary>The servers a test run is pointed at through environment variables.</summary>
internal static class TestServers
{
    /// <summary>The variable's value; without it the calling test fails with a message naming the server and the variable.</summary>
    public static string Require(string variable, string server, string form) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"This test needs a {server} server and none is given: set {variable} to {form}, " +
                "or run scripts/test.sh, which starts a throwaway one for the run.");
}

/// <summary>
/// A TCP forwarder on 127.0.0.1 in front of a real server, which a test can cut (every connection
/// reset, new ones refused) and restore on the same port: an outage of PostgreSQL or Redis as the
/// service sees it, without stopping the server other tests use.
/// </summary>
internal sealed class TcpGate : IAsyncDisposable
{
    private readonly IPEndPoint _target;
    private readonly List<TcpClient> _connections = [];
    private readonly Lock _gate = new();
    private TcpListener? _listener;
    private CancellationTokenSource _open = new();

    public TcpGate(string host, int port)
    {
        _target = new IPEndPoint(IPAddress.Parse(host == "localhost" ? "127.0.0.1" : host), port);
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        Port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        Open();
    }

    public int Port { get; }

    /// <summary>Accepts connections again, on the same port.</summary>
    public void Open()
    {
        _open = new CancellationTokenSource();
        _listener = new TcpListener(IPAddress.Loopback, Port);
        _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Start();
        _ = AcceptAsync(_listener, _open.Token);
    }

    /// <summary>Resets every connection and refuses new ones.</summary>
    public void Cut()
    {
        _open.Cancel();
        _listener?.Stop();
        lock (_gate)
        {
            foreach (var c in _connections)
            {
                try
                {
                    if (c.Client is { } socket)
                    {
                        socket.LingerState = new LingerOption(true, 0); // RST, not FIN
                    }

                    c.Close();
                }
                catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
                {
                }
            }

            _connections.Clear();
        }
    }

    private async Task AcceptAsync(TcpListener listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await listener.AcceptTcpClientAsync(ct);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var outbound = new TcpClient();
            try
            {
                await outbound.ConnectAsync(_target, ct);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                inbound.Close();
                continue;
            }

            lock (_gate)
            {
                _connections.Add(inbound);
                _connections.Add(outbound);
            }

            _ = PipeAsync(inbound, outbound);
            _ = PipeAsync(outbound, inbound);
        }
    }

    private static async Task PipeAsync(TcpClient from, TcpClient to)
    {
        try
        {
            await from.GetStream().CopyToAsync(to.GetStream());
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
        }
        finally
        {
            from.Close();
            to.Close();
        }
    }

    public ValueTask DisposeAsync()
    {
        Cut();
        return ValueTask.CompletedTask;
    }
}
