using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ExecutionDistribution.Tests.Support;

/// <summary>
/// The service in a process of its own (the built ExecutionDistribution.dll), on ports of its own, so a
/// test can run several instances and kill one with SIGKILL (no shutdown hooks, no draining, no final
/// commit) or stop it with SIGTERM. What it writes to stderr is kept for the failure message.
/// </summary>
internal sealed class ChildHost : IDisposable
{
    private readonly Queue<string> _lastLines = new();
    private readonly string[] _settings;
    private Process _process = null!;

    private ChildHost(string[] settings) => _settings = settings;

    public int HttpPort { get; private set; }

    public int GrpcPort { get; private set; }

    public Uri HttpAddress => new($"http://127.0.0.1:{HttpPort}");

    public string GrpcAddress => $"http://127.0.0.1:{GrpcPort}";

    public bool HasExited => _process.HasExited;

    /// <summary>Starts an instance with <paramref name="settings"/> on free ports of its own.</summary>
    public static ChildHost Start(string[] settings)
    {
        var host = new ChildHost(settings);
        host.Launch();
        return host;
    }

    // On free ports: chosen by binding port 0 and letting go, so another process may take one before
    // the instance binds it; WaitReadyAsync then launches it again on others.
    private void Launch()
    {
        var settings = _settings;
        lock (_lastLines)
        {
            _lastLines.Clear();
        }

        var (http, grpc) = (FreePort(), FreePort());
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ExecutionDistribution.dll"));
        info.ArgumentList.Add($"--Kestrel:Endpoints:Http:Url=http://127.0.0.1:{http}");
        info.ArgumentList.Add($"--Kestrel:Endpoints:Grpc:Url=http://127.0.0.1:{grpc}");
        info.ArgumentList.Add($"--Audit:Local:Directory={Path.Combine(Path.GetTempPath(), "execdist-tests", Guid.NewGuid().ToString("N"))}");
        if (!settings.Any(s => s.StartsWith("--Auth:", StringComparison.Ordinal)))
        {
            info.ArgumentList.Add("--Auth:Mode=Off"); // these tests are about the cluster; access control has its own
        }

        foreach (var s in settings)
        {
            info.ArgumentList.Add(s);
        }

        var process = Process.Start(info)!;
        (_process, HttpPort, GrpcPort) = (process, http, grpc);
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>Waits until <c>/health/ready</c> answers 200 (Kafka partitions assigned, stores reachable).</summary>
    public async Task WaitReadyAsync(TimeSpan? timeout = null)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var relaunched = 0;
        await Eventually.WaitUntilAsync(() =>
        {
            if (_process.HasExited)
            {
                if (Output.Contains("address already in use", StringComparison.OrdinalIgnoreCase) && relaunched++ < 3)
                {
                    Launch(); // a port taken between choosing and binding it
                    return false;
                }

                throw new InvalidOperationException($"the instance on port {HttpPort} exited with {_process.ExitCode}: {Output}");
            }

            try
            {
                using var response = client.GetAsync(new Uri(HttpAddress, "/health/ready")).GetAwaiter().GetResult();
                return response.IsSuccessStatusCode;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                return false;
            }
        }, $"the instance on port {HttpPort} is ready", timeout ?? TimeSpan.FromSeconds(90));
    }

    /// <summary>The last lines the instance wrote.</summary>
    public string Output
    {
        get
        {
            lock (_lastLines)
            {
                return string.Join(Environment.NewLine, _lastLines);
            }
        }
    }

    /// <summary>SIGTERM: the instance drains (its clients are told to reconnect elsewhere) and exits.</summary>
    public void Terminate()
    {
        if (SendSignal(_process.Id, 15 /* SIGTERM */) != 0)
        {
            throw new InvalidOperationException($"could not send SIGTERM to {_process.Id}");
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    /// <summary>Waits for the process to exit; false when it has not within <paramref name="timeout"/>.</summary>
    public bool WaitForExit(TimeSpan timeout) => _process.WaitForExit(timeout);

    /// <summary>SIGKILL: no shutdown hooks, no draining, no final commit.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            Kill();
        }

        _process.Dispose();
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lastLines)
        {
            _lastLines.Enqueue(line);
            if (_lastLines.Count > 200)
            {
                _lastLines.Dequeue();
            }
        }
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
