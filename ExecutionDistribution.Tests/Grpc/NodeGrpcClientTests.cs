using System.Diagnostics;
using System.Text.Json.Nodes;
using ExecutionDistribution.Tests.Contract;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Grpc;

/// <summary>
/// A gRPC client we did not write, @grpc/grpc-js loading our .proto with @grpc/proto-loader
/// (installed by .ci/run into ExecutionDistribution.Tests/Clients), streams, hangs up and resumes.
/// </summary>
public sealed class NodeGrpcClientTests
{
    [Test]
    public async Task Grpc_js_client_receives_disconnects_and_resumes_without_a_gap()
    {
        var clients = Path.GetDirectoryName(ContractDocumentTests.FindRepositoryFile("ExecutionDistribution.Tests/Clients/grpc-client.js"))!;
        Assert.That(Directory.Exists(Path.Combine(clients, "node_modules", "@grpc", "grpc-js")), Is.True,
            $"the client libraries are installed: npm ci --prefix {clients}");
        var proto = ContractDocumentTests.FindRepositoryFile("ExecutionDistribution/Grpc/Protos/execution_stream.proto");
        await using var host = await ServiceHost.StartAsync();
        var address = $"{host.GrpcAddress.Host}:{host.GrpcAddress.Port}";
        var order = $"node-{Guid.NewGuid():N}";

        var first = await RunAsync(clients, [proto, address, order, "10"], () =>
        {
            for (var i = 0; i < 10; i++)
            {
                host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-a{i}"));
            }
        });
        Assert.That(first["events"]!.AsArray().Select(e => (string?)e![0]), Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"{order}-a{i}")));

        for (var i = 0; i < 10; i++)
        {
            host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-b{i}"));
        }

        await Eventually.WaitUntilAsync(() => host.Core.TryGetRetained(host.Core.Head - 1, out var e) && e.EventId == $"{order}-b9", "missed events ingested");
        var second = await RunAsync(clients, [proto, address, order, "10", (string)first["token"]!], () => { });

        Assert.That(second["events"]!.AsArray().Select(e => (string?)e![0]), Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"{order}-b{i}")));
        Assert.That(second["events"]!.AsArray().Select(e => (long)e![1]!), Is.EqualTo(Enumerable.Range(11, 10).Select(i => (long)i)));
    }

    private static async Task<JsonObject> RunAsync(string clients, string[] args, Action onReady)
    {
        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = clients };
        info.ArgumentList.Add(Path.Combine(clients, "grpc-client.js"));
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
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
        Assert.Fail($"the node client printed no result (exit {process.ExitCode}): {await errors}");
        return null!;
    }
}
