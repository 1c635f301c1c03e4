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

        var first = await ExternalClient.RunAsync("node", [Path.Combine(clients, "grpc-client.js"), proto, address, order, "10"], () =>
        {
            for (var i = 0; i < 10; i++)
            {
                host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-a{i}"));
            }
        }, clients);
        Assert.That(first["events"]!.AsArray().Select(e => (string?)e![0]), Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"{order}-a{i}")));

        for (var i = 0; i < 10; i++)
        {
            host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-b{i}"));
        }

        await Eventually.WaitUntilAsync(() => host.Core.TryGetRetained(host.Core.Head - 1, out var e) && e.EventId == $"{order}-b9", "missed events ingested");
        var second = await ExternalClient.RunAsync("node", [Path.Combine(clients, "grpc-client.js"), proto, address, order, "10", (string)first["token"]!], () => { }, clients);

        Assert.That(second["events"]!.AsArray().Select(e => (string?)e![0]), Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"{order}-b{i}")));
        Assert.That(second["events"]!.AsArray().Select(e => (long)e![1]!), Is.EqualTo(Enumerable.Range(11, 10).Select(i => (long)i)));
    }
}
