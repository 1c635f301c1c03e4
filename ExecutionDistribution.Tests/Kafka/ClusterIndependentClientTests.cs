using System.Text.Json.Nodes;
using ExecutionDistribution.Tests.Contract;
using ExecutionDistribution.Tests.Streaming.WebSockets;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Kafka;

/// <summary>
/// Clients we did not write (@grpc/grpc-js, Debian's python3-websockets) resume on another gateway of
/// a cluster with the token the first gave them, after that gateway was SIGKILLed.
/// </summary>
[Category("Kafka")]
[Category("ExternalClient")]
public sealed class ClusterIndependentClientTests : EmbeddedKafkaTestBase
{
    [Test]
    public async Task Grpc_js_and_python_websockets_clients_resume_on_another_gateway_after_a_sigkill_without_a_gap()
    {
        var topics = new KafkaTestTopics(Cluster, partitions: 4);
        using var processor = ChildHost.Start([.. topics.HostSettings, "--Cluster:Role=processor"]);
        using var a = ChildHost.Start([.. topics.HostSettings, "--Cluster:Role=gateway"]);
        using var c = ChildHost.Start([.. topics.HostSettings, "--Cluster:Role=gateway"]);
        await Task.WhenAll(processor.WaitReadyAsync(), a.WaitReadyAsync(), c.WaitReadyAsync());
        using var producer = KafkaClients.Producer(Cluster.BootstrapServers);
        void Produce(string order, string batch)
        {
            for (var i = 0; i < 10; i++)
            {
                KafkaClients.Produce(producer, topics.Input, order, KafkaClients.Json(Events.Fill(order, eventId: $"{order}-{batch}{i}")));
            }

            producer.Flush(TimeSpan.FromSeconds(30));
        }

        var clients = Path.GetDirectoryName(ContractDocumentTests.FindRepositoryFile("ExecutionDistribution.Tests/Clients/grpc-client.js"))!;
        var proto = ContractDocumentTests.FindRepositoryFile("ExecutionDistribution/Streaming/Grpc/Protos/execution_stream.proto");
        var nodeOrder = $"node-{Guid.NewGuid():N}";
        var pyOrder = $"py-{Guid.NewGuid():N}";
        string Url(ChildHost host, string query) => new UriBuilder(host.HttpAddress) { Scheme = "ws", Path = "/api/v1/execution/stream", Query = query }.Uri.ToString();

        // On gateway A: the first ten events of each order.
        var nodeFirst = await ExternalClient.RunAsync("node", [Path.Combine(clients, "grpc-client.js"), proto, $"127.0.0.1:{a.GrpcPort}", nodeOrder, "10"], () => Produce(nodeOrder, "a"), clients);
        var pyFirst = await ExternalClient.RunAsync("/usr/bin/python3", ["-c", PythonWebSocketClientTests.Client, Url(a, $"order_ids={pyOrder}"), "10"], () => Produce(pyOrder, "a"));

        // A dies; ten more of each arrive meanwhile; each client resumes on C with its token.
        a.Kill();
        Produce(nodeOrder, "b");
        Produce(pyOrder, "b");
        var nodeSecond = await ExternalClient.RunAsync("node", [Path.Combine(clients, "grpc-client.js"), proto, $"127.0.0.1:{c.GrpcPort}", nodeOrder, "10", (string)nodeFirst["token"]!], () => { }, clients);
        var pySecond = await ExternalClient.RunAsync("/usr/bin/python3", ["-c", PythonWebSocketClientTests.Client, Url(c, $"order_ids={pyOrder}&resume_token={(string?)pyFirst["token"]}"), "10"], () => { });

        AssertContinues(nodeFirst, nodeSecond, nodeOrder, "grpc-js");
        AssertContinues(pyFirst, pySecond, pyOrder, "python websockets");
    }

    private static void AssertContinues(JsonObject first, JsonObject second, string order, string who)
    {
        Assert.That(first["events"]!.AsArray().Select(e => (string?)e![0]), Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"{order}-a{i}")), who);
        Assert.That(second["events"]!.AsArray().Select(e => (string?)e![0]), Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"{order}-b{i}")), $"{who}: exactly the missed ones");
        Assert.That(second["events"]!.AsArray().Select(e => (long)e![1]!), Is.EqualTo(Enumerable.Range(11, 10).Select(i => (long)i)), $"{who}: sequences go on");
    }
}
