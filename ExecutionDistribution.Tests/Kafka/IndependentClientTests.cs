using System.Diagnostics;
using System.Text;
using System.Text.Json;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Kafka;

/// <summary>Clients we did not write talk to our Kafka path: Debian's kcat and python3-kafka (installed by .ci/run).</summary>
[Category("Kafka")]
[Category("ExternalClient")]
public sealed class IndependentClientTests : EmbeddedKafkaTestBase
{
    [Test]
    public async Task Events_produced_with_kcat_are_distributed_and_read_back_with_python_kafka()
    {
        var topics = new KafkaTestTopics(Cluster);
        await using var host = await ServiceHost.StartAsync(topics.HostSettings);
        var core = host.Core;
        await using var reader = new CollectingReader(core, core.Subscribe("kcat-e2e", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce));

        // kcat reads "key|value" lines from stdin and produces each as one record.
        var ids = Enumerable.Range(0, 50).Select(i => $"kcat-{i}").ToList();
        var lines = new StringBuilder();
        for (var i = 0; i < ids.Count; i++)
        {
            var json = Encoding.UTF8.GetString(KafkaClients.Json(Events.Fill($"O-{i % 3}", eventId: ids[i])));
            lines.Append($"O-{i % 3}|{json}\n");
        }

        var produced = await RunAsync("kcat", ["-b", Cluster.BootstrapServers, "-P", "-t", topics.Input, "-K", "|"], lines.ToString());
        Assert.That(produced.ExitCode, Is.Zero, produced.Error);

        await WaitUntilAsync(() => reader.Count >= ids.Count, "kcat's records reach a subscriber");
        Assert.That(reader.Events.Select(e => e.EventId), Is.EquivalentTo(ids));

        // python3-kafka (pure Python, Debian's package) reads the execution_distributed output topic.
        const string script = """
            import json, sys
            from kafka import KafkaConsumer
            consumer = KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1].split(','), auto_offset_reset='earliest',
                                     enable_auto_commit=False, consumer_timeout_ms=30000, group_id=None)
            ids = set()
            for message in consumer:
                event = json.loads(message.value)
                assert 'distribution' in event and event['data_type'] == 'FILL_NOTIFICATION'
                ids.add(event['event_id'])
                if len(ids) >= int(sys.argv[3]):
                    break
            print(json.dumps(sorted(ids)))
            """;
        // Debian's interpreter, which has python3-kafka (a pyenv python3 may come first on PATH).
        var read = await RunAsync("/usr/bin/python3", ["-c", script, Cluster.BootstrapServers, topics.Output("portfolio_management"), ids.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)], null);
        Assert.That(read.ExitCode, Is.Zero, read.Error);
        Assert.That(JsonSerializer.Deserialize<string[]>(read.Output.Trim().Split('\n')[^1]), Is.EquivalentTo(ids));
    }

    [Test]
    public async Task The_embedded_broker_can_be_reached_on_a_fixed_port_with_kcat()
    {
        var port = FreePort();
        await using var host = await ServiceHost.StartAsync("--Kafka:Enabled=true", "--Kafka:BootstrapServers=", $"--Kafka:Embedded:Port={port}",
            $"--Kafka:ConsumerGroup=fixed-{Guid.NewGuid():N}", "--Kafka:Embedded:Partitions=2");
        var core = host.Core;
        await using var reader = new CollectingReader(core, core.Subscribe("fixed-port", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce));

        var json = Encoding.UTF8.GetString(KafkaClients.Json(Events.Fill("O-1", eventId: "via-fixed-port")));
        var produced = await RunAsync("kcat", ["-b", $"127.0.0.1:{port}", "-P", "-t", "execution.events", "-K", "|"], $"O-1|{json}\n");
        Assert.That(produced.ExitCode, Is.Zero, produced.Error);

        await WaitUntilAsync(() => reader.Events.Any(e => e.EventId == "via-fixed-port"), "kcat's record, bootstrapped through the fixed port, is delivered");
    }

    private static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(string file, string[] args, string? stdin)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{file} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }
}
