using System.Diagnostics;
using System.Text.Json.Nodes;

namespace ExecutionDistribution.Tests.Support;

/// <summary>
/// Runs a client we did not write (a Python or Node script) that prints <c>READY</c> once it is
/// attached, then one JSON line with its result, and exits.
/// </summary>
internal static class ExternalClient
{
    public static async Task<JsonObject> RunAsync(string file, IEnumerable<string> args, Action onReady, string? workingDirectory = null, string? token = null)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (token is not null)
        {
            info.Environment["EXECDIST_TOKEN"] = token; // the client's bearer token, as a deployment would give it
        }

        if (workingDirectory is not null)
        {
            info.WorkingDirectory = workingDirectory;
        }

        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{file} did not start");
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        string? line;
        while ((line = await process.StandardOutput.ReadLineAsync(timeout.Token)) is not null)
        {
            if (line == "READY")
            {
                onReady();
                continue;
            }

            await process.WaitForExitAsync(timeout.Token);
            Assert.That(process.ExitCode, Is.Zero, await errors);
            return JsonNode.Parse(line)!.AsObject();
        }

        await process.WaitForExitAsync(timeout.Token);
        Assert.Fail($"{Path.GetFileName(file)} printed no result (exit {process.ExitCode}): {await errors}");
        return null!;
    }

    /// <summary>Runs a client that is expected to fail: its exit code and what it printed on stderr.</summary>
    public static async Task<(int ExitCode, string Errors)> RunToFailureAsync(string file, IEnumerable<string> args, string? workingDirectory = null, string? token = null)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.WorkingDirectory = workingDirectory ?? info.WorkingDirectory;
        if (token is not null)
        {
            info.Environment["EXECDIST_TOKEN"] = token;
        }

        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{file} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        await output;
        return (process.ExitCode, await errors);
    }
}
