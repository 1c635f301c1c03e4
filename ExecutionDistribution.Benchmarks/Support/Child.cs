using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace ExecutionDistribution.Benchmarks.Support;

/// <summary>A child process of this program in serve mode, killed on dispose.</summary>
public sealed class Child : IDisposable
{
    private readonly Process _process;
    private readonly ScratchDirectory[] _scratch;

    private Child(Process process, Uri baseAddress, Uri grpcAddress, ScratchDirectory[] scratch)
    {
        GrpcAddress = grpcAddress;
        _process = process;
        BaseAddress = baseAddress;
        _scratch = scratch;
    }

    public Uri BaseAddress { get; }

    /// <summary>The child's process id (for <see cref="ProcessMeter"/>).</summary>
    public int Pid => _process.Id;

    /// <summary>The service's gRPC (HTTP/2) endpoint; for other kinds, unused.</summary>
    public Uri GrpcAddress { get; }

    public static Child Start(string kind, params string[] settings)
    {
        var port = FreePort();
        var grpc = FreePort();
        // The service's audit file and source index go to directories of this child's own, deleted with it
        // (a saturated W4 run writes gigabytes of audit rows).
        ScratchDirectory[] scratch = kind == "ours" ? [new($"bench-{Guid.NewGuid():N}")] : [];
        string[] args = kind != "ours"
            ? ["serve", kind, port.ToString(CultureInfo.InvariantCulture)]
            : ["serve", "ours", $"--Kestrel:Endpoints:Http:Url=http://127.0.0.1:{port}", $"--Kestrel:Endpoints:Grpc:Url=http://127.0.0.1:{grpc}", "--Kafka:Enabled=false",
                $"--Audit:Local:Directory={scratch[0].Path}", .. settings];
        var start = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false, RedirectStandardOutput = false };
        // EXECDIST_SERVICE_GC=server|workstation runs our service (only) with that garbage collector,
        // so the load clients in this process keep theirs.
        if (kind == "ours" && Environment.GetEnvironmentVariable("EXECDIST_SERVICE_GC") is { Length: > 0 } gc)
        {
            start.Environment["DOTNET_gcServer"] = gc == "server" ? "1" : "0";
        }

        // Ours runs in this assembly's process, whose runtime configuration is the harness's: the service's
        // own (ExecutionDistribution.runtimeconfig.json, copied next to it) is applied where the GC reads it.
        if (kind == "ours" && ServiceGen0Budget() is { } budget && Environment.GetEnvironmentVariable("DOTNET_GCGen0MaxBudget") is null)
        {
            start.Environment["DOTNET_GCGen0MaxBudget"] = budget.ToString("x", CultureInfo.InvariantCulture);
        }

        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
        {
            start.ArgumentList.Add(typeof(Child).Assembly.Location);
        }

        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        var process = Process.Start(start)!;
        var address = new Uri($"http://127.0.0.1:{port}");
        using var probe = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                // Ours answers liveness to anyone (its API needs a token when authentication is on); the others map this path.
                using var r = probe.GetAsync(new Uri(kind == "ours" ? "/health/live" : "/api/v1/distribution/stats", UriKind.Relative)).GetAwaiter().GetResult();
                if (r.IsSuccessStatusCode)
                {
                    return new Child(process, address, new Uri($"http://127.0.0.1:{grpc}"), scratch);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }

            if (process.HasExited)
            {
                throw new InvalidOperationException($"the {kind} child exited with {process.ExitCode}");
            }

            Thread.Sleep(200);
        }

        process.Kill(entireProcessTree: true);
        throw new TimeoutException($"the {kind} child did not start");
    }

    /// <summary>The service's <c>System.GC.Gen0MaxBudget</c> from its runtime configuration, when it sets one.</summary>
    public static long? ServiceGen0Budget()
    {
        var file = Path.Combine(AppContext.BaseDirectory, "ExecutionDistribution.runtimeconfig.json");
        if (!File.Exists(file))
        {
            return null;
        }

        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(file));
        return json.RootElement.TryGetProperty("runtimeOptions", out var options)
            && options.TryGetProperty("configProperties", out var properties)
            && properties.TryGetProperty("System.GC.Gen0MaxBudget", out var budget)
            ? budget.ValueKind == System.Text.Json.JsonValueKind.Number ? budget.GetInt64() : long.Parse(budget.GetString()!, CultureInfo.InvariantCulture)
            : null;
    }

    /// <summary>A free loopback port.</summary>
    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private int _disposed;

    /// <summary>Kills the child (SIGKILL) and deletes its directories; idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }

        _process.Dispose();
        foreach (var directory in _scratch)
        {
            directory.Dispose();
        }
    }
}

/// <summary>A peer's server (nats-server, redis-server) as a child process, its output discarded, killed on dispose.</summary>
public sealed class PeerServer : IDisposable
{
    private readonly Process _process;

    private PeerServer(Process process) => _process = process;

    public int Pid => _process.Id;

    public static PeerServer Start(string file, params string[] args)
    {
        var process = Process.Start(new ProcessStartInfo(file, args)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new PeerServer(process);
    }

    public void Dispose()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process.Dispose();
    }
}

/// <summary>A directory under the temp folder, deleted with everything in it on dispose.</summary>
public sealed class ScratchDirectory(string name) : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
