using System.Text.Json.Nodes;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Tests.Contract;
using ExecutionDistribution.Tests.Support;
using Grpc.Net.Client;

namespace ExecutionDistribution.Tests.Streaming.Grpc;

/// <summary>
/// A gRPC client we did not write, @grpc/grpc-js loading our .proto with @grpc/proto-loader
/// (installed by .ci/run into ExecutionDistribution.Tests/Clients), streams, hangs up and resumes.
/// </summary>
[Category("ExternalClient")]
public sealed class NodeGrpcClientTests
{
    [Test]
    public async Task Grpc_js_client_authenticates_receives_disconnects_and_resumes_without_a_gap()
    {
        var clients = Path.GetDirectoryName(ContractDocumentTests.FindRepositoryFile("ExecutionDistribution.Tests/Clients/grpc-client.js"))!;
        Assert.That(Directory.Exists(Path.Combine(clients, "node_modules", "@grpc", "grpc-js")), Is.True,
            $"the client libraries are installed: npm ci --prefix {clients}");
        var proto = ContractDocumentTests.FindRepositoryFile("ExecutionDistribution/Streaming/Grpc/Protos/execution_stream.proto");
        await using var host = await ServiceHost.StartAsync([.. TestAuth.Settings(), .. TestAuth.RevocationsFile()]);
        var token = TestAuth.Token([ExecutionDistribution.Security.Scopes.Read], [ExecutionDistribution.Security.CallerRights.Wildcard], "node-client");
        var address = $"{host.GrpcAddress.Host}:{host.GrpcAddress.Port}";
        var order = $"node-{Guid.NewGuid():N}";

        var first = await ExternalClient.RunAsync("node", [Path.Combine(clients, "grpc-client.js"), proto, address, order, "10"], () =>
        {
            for (var i = 0; i < 10; i++)
            {
                host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-a{i}"));
            }
        }, clients, token);
        Assert.That(first["events"]!.AsArray().Select(e => (string?)e![0]), Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"{order}-a{i}")));

        for (var i = 0; i < 10; i++)
        {
            host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-b{i}"));
        }

        await Eventually.WaitUntilAsync(() => host.Core.TryGetRetained(host.Core.Head - 1, out var e) && e.EventId == $"{order}-b9", "missed events ingested");
        var second = await ExternalClient.RunAsync("node", [Path.Combine(clients, "grpc-client.js"), proto, address, order, "10", (string)first["token"]!], () => { }, clients, token);

        var (exit, errors) = await ExternalClient.RunToFailureAsync("node", [Path.Combine(clients, "grpc-client.js"), proto, address, order, "1"], clients, TestAuth.BrokenTokens()["wrong key"]);
        Assert.That(exit, Is.EqualTo(2));
        Assert.That(errors, Does.StartWith("16:"), "UNAUTHENTICATED (16) without a valid token");

        Assert.That(second["events"]!.AsArray().Select(e => (string?)e![0]), Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"{order}-b{i}")));
        Assert.That(second["events"]!.AsArray().Select(e => (long)e![1]!), Is.EqualTo(Enumerable.Range(11, 10).Select(i => (long)i)));
    }

    [Test]
    public async Task Grpc_js_client_carries_two_subscriptions_on_one_call_acknowledges_disconnects_and_resumes_both_without_a_gap()
    {
        var clients = Path.GetDirectoryName(ContractDocumentTests.FindRepositoryFile("ExecutionDistribution.Tests/Clients/grpc-multiplex-client.js"))!;
        var script = Path.Combine(clients, "grpc-multiplex-client.js");
        var proto = ContractDocumentTests.FindRepositoryFile("ExecutionDistribution/Streaming/Grpc/Protos/execution_stream.proto");
        await using var host = await ServiceHost.StartAsync();
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var (id, order) = await ManagedSubscriptions.CreateWatchingNewOrderAsync(channel, "node-mux", "reporting");
        var address = $"{host.GrpcAddress.Host}:{host.GrpcAddress.Port}";

        var first = await ExternalClient.RunAsync("node", [script, proto, address, order, id, "10"], () =>
        {
            for (var i = 0; i < 10; i++)
            {
                host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-a{i}"));
            }
        }, clients);

        // Each event once, tagged with both subscriptions and their sequences; all ten acknowledged.
        Assert.That(first["events"]!.AsArray().Select(e => (string?)e![0]), Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"{order}-a{i}")));
        Assert.That(first["events"]!.AsArray().Select(e => e![1]!.ToJsonString()),
            Is.EqualTo(Enumerable.Range(1, 10).Select(i => $"[[\"adhoc\",{i}],[\"managed\",{i}]]")));
        Assert.That(first["acked"]!.ToJsonString(), Is.EqualTo("[\"ack\",10]"));

        for (var i = 0; i < 10; i++)
        {
            host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-b{i}"));
        }

        var client = new ExecutionStream.ExecutionStreamClient(channel);
        await Eventually.WaitUntilAsync(() => !client.ManageSubscription(new SubscriptionRequest { Action = SubscriptionAction.Get, SubscriptionId = id }).Subscription.Streaming,
            "the first call is gone");
        var second = await ExternalClient.RunAsync("node", [script, proto, address, order, id, "10", (string)first["adhoc_token"]!], () => { }, clients);

        // The ad hoc one from its token, the managed one from its acknowledgement: exactly the ten missed,
        // numbered on. (Each catches up as soon as it opens, so here an event may come once per subscription.)
        var expected = Enumerable.Range(0, 10).Select(i => ($"{order}-b{i}", (long)(11 + i)));
        Assert.That(Stream(second, "adhoc"), Is.EqualTo(expected));
        Assert.That(Stream(second, "managed"), Is.EqualTo(expected));
        Assert.That(second["acked"]!.ToJsonString(), Is.EqualTo("[\"ack\",20]"));
    }

    // One subscription's deliveries in the client's output: (event id, sequence) in the order received.
    private static List<(string, long)> Stream(JsonObject output, string subscription) =>
        [.. output["events"]!.AsArray()
            .SelectMany(e => e![1]!.AsArray().Where(t => (string?)t![0] == subscription).Select(t => ((string)e[0]!, (long)t![1]!)))];
}
