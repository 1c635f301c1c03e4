using ExecutionDistribution.Core;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Tests.Support;
using Grpc.Core;
using Grpc.Net.Client;

namespace ExecutionDistribution.Tests.Kafka;

/// <summary>
/// Several instances in processes of their own on one broker: a processor (the consumer group's
/// work) and gateways that each read every partition and serve any client. A resume token is Kafka
/// offsets, so a client moves between gateways with nothing missing and nothing repeated.
/// </summary>
[Category("Kafka")]
public sealed class ClusterTests : EmbeddedKafkaTestBase
{
    private const int Orders = 12;

    [Test]
    public async Task Clients_on_any_gateway_receive_every_partition_s_events_in_order_and_a_client_moves_to_another_after_a_sigkill_with_none_missing()
    {
        var topics = new KafkaTestTopics(Cluster, partitions: 4);
        using var processor = ChildHost.Start([.. topics.HostSettings, "--Cluster:Role=processor"]);
        using var a = ChildHost.Start([.. topics.HostSettings, "--Cluster:Role=gateway"]);
        using var b = ChildHost.Start([.. topics.HostSettings, "--Cluster:Role=gateway"]);
        using var c = ChildHost.Start([.. topics.HostSettings, "--Cluster:Role=gateway"]);
        await Task.WhenAll(processor.WaitReadyAsync(), a.WaitReadyAsync(), b.WaitReadyAsync(), c.WaitReadyAsync());
        using var producer = KafkaClients.Producer(Cluster.BootstrapServers);
        var produced = new List<string>();
        void Produce(int count)
        {
            for (var i = produced.Count; i < produced.Count + count; i++)
            {
                var order = $"C-{i % Orders}";
                KafkaClients.Produce(producer, topics.Input, order, KafkaClients.Json(Events.Fill(order, eventId: $"{order}#{i}")));
            }

            produced.AddRange(Enumerable.Range(produced.Count, count).Select(i => $"C-{i % Orders}#{i}"));
            producer.Flush(TimeSpan.FromSeconds(30));
        }

        var filter = new Filter { Topics = { "#" } };
        using var channelA = GrpcChannel.ForAddress(a.GrpcAddress);
        using var channelB = GrpcChannel.ForAddress(b.GrpcAddress);
        using var channelC = GrpcChannel.ForAddress(c.GrpcAddress);
        var onA = new ExecutionStream.ExecutionStreamClient(channelA).StreamExecution(new StreamRequest { Filter = filter, MaxEventsPerMessage = 7 });
        var onB = new ExecutionStream.ExecutionStreamClient(channelB).StreamExecution(new StreamRequest { Filter = filter });
        var onC = new ExecutionStream.ExecutionStreamClient(channelC).StreamExecution(new StreamRequest { Filter = filter });
        using var readerA = new ClusterReader(onA);
        using var readerB = new ClusterReader(onB);
        using var readerC = new ClusterReader(onC);
        await Task.WhenAll(readerA.StartedAsync(), readerB.StartedAsync(), readerC.StartedAsync());

        Produce(240);
        var fromB = await readerB.ReceiveAsync(240);
        var fromC = await readerC.ReceiveAsync(240);
        var fromA = await readerA.ReceiveAsync(100); // part of it: the rest after the failover
        Assert.That(fromB.Select(d => d.EventId), Is.EquivalentTo(produced), "a gateway serves every partition");
        Assert.That(fromC.Select(d => d.EventId), Is.EquivalentTo(fromB.Select(d => d.EventId)), "every gateway the same stream");
        AssertInOrderPerOrder(fromB);
        AssertInOrderPerOrder(fromC);

        // The gateway the first client is on dies mid-stream; more events arrive meanwhile.
        var token = readerA.LastResumeToken;
        a.Kill();
        onA.Dispose();
        Produce(60);

        using var resumed = new ClusterReader(new ExecutionStream.ExecutionStreamClient(channelB).StreamExecution(new StreamRequest { Filter = filter, ResumeToken = token }));
        var rest = await resumed.ReceiveAsync(produced.Count - fromA.Count);
        var whole = fromA.Concat(rest).ToList();
        Assert.That(whole.Select(d => d.EventId), Is.EquivalentTo(produced), "none missing, none twice, across the move to another gateway");
        Assert.That(whole.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, whole.Count).Select(i => (long)i)), "sequences go on");
        AssertInOrderPerOrder(whole);
    }

    [Test]
    [Category("Postgres")]
    public async Task A_durable_subscription_acknowledged_on_one_gateway_continues_on_another_after_a_sigkill_from_its_acknowledged_offsets()
    {
        var topics = new KafkaTestTopics(Cluster, partitions: 4);
        await using var db = new TestPostgres();
        string[] settings = [.. topics.HostSettings, .. db.Settings()];
        using var processor = ChildHost.Start([.. settings, "--Cluster:Role=processor"]);
        await processor.WaitReadyAsync(); // migrates the schema first
        using var a = ChildHost.Start([.. settings, "--Cluster:Role=gateway"]);
        using var c = ChildHost.Start([.. settings, "--Cluster:Role=gateway"]);
        await Task.WhenAll(a.WaitReadyAsync(), c.WaitReadyAsync());
        var id = $"durable-{Guid.NewGuid():N}";
        var order = $"{id}-order";
        using (var http = new HttpClient { BaseAddress = a.HttpAddress })
        {
            using var created = await System.Net.Http.Json.HttpClientJsonExtensions.PostAsJsonAsync(http, "/api/v1/subscriptions",
                new { subscription_id = id, topic_name = "#", subscriber_workflow = "risk", filter = new { order_ids = new[] { order } } });
            Assert.That(created.IsSuccessStatusCode, Is.True, await created.Content.ReadAsStringAsync());
        }

        var ids = Enumerable.Range(0, 50).Select(i => $"{id}-{i}").ToList();
        using var channelA = GrpcChannel.ForAddress(a.GrpcAddress);
        var streamsA = new ExecutionStream.ExecutionStreamClient(channelA);
        using (var reader = new ClusterReader(streamsA.StreamExecution(new StreamRequest { SubscriptionId = id, MaxEventsPerMessage = 1 })))
        {
            await reader.StartedAsync();
            using var producer = KafkaClients.Producer(Cluster.BootstrapServers);
            foreach (var eventId in ids)
            {
                KafkaClients.Produce(producer, topics.Input, order, KafkaClients.Json(Events.Fill(order, eventId: eventId)));
            }

            producer.Flush(TimeSpan.FromSeconds(30));
            var first20 = await reader.ReceiveAsync(20);
            await streamsA.AcknowledgeAsync(new AckRequest { SubscriptionId = id, ResumeToken = reader.LastResumeToken });
            Assert.That((await reader.ReceiveAsync(30)).Select(d => d.EventId), Is.EqualTo(ids.Skip(20)), "all 50 delivered on A; only 20 acknowledged");
            await using var connection = await db.OpenAsync();
            await Eventually.WaitUntilAsync(
                () => Dapper.SqlMapper.ExecuteScalar<long?>(connection, "SELECT sequence FROM subscription_positions WHERE subscription_id = @id", new { id }) == 20,
                "the acknowledgement is stored");
        }

        a.Kill();
        using var channelC = GrpcChannel.ForAddress(c.GrpcAddress);
        using var onC = new ClusterReader(new ExecutionStream.ExecutionStreamClient(channelC).StreamExecution(new StreamRequest { SubscriptionId = id }));
        var again = await onC.ReceiveAsync(30);

        Assert.That(again.Select(d => d.EventId), Is.EqualTo(ids.Skip(20)), "exactly what was not acknowledged, in order");
        Assert.That(again.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(21, 30).Select(i => (long)i)), "sequences go on from the acknowledged one");
    }

    [Test]
    public async Task A_processor_serves_no_streams_and_says_where_to_go()
    {
        var topics = new KafkaTestTopics(Cluster, partitions: 2);
        using var processor = ChildHost.Start([.. topics.HostSettings, "--Cluster:Role=processor"]);
        await processor.WaitReadyAsync();
        using var channel = GrpcChannel.ForAddress(processor.GrpcAddress);
        using var call = new ExecutionStream.ExecutionStreamClient(channel).StreamExecution(new StreamRequest { Filter = new Filter { Topics = { "#" } } });

        var error = Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNext(CancellationToken.None));

        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unavailable));
        Assert.That(error.Status.Detail, Does.Contain("gateway"));
    }

    [Test]
    public void A_gateway_without_a_shared_kafka_refuses_to_start_naming_the_key()
    {
        var app = ExecDistApplication.Build([.. ServiceHost.FreePorts, "--Kafka:Enabled=false", "--Cluster:Role=gateway"]);

        var ex = Assert.CatchAsync(() => app.StartAsync());

        Assert.That(ex!.Message, Does.Contain("Cluster:Role").And.Contain("Kafka:BootstrapServers"));
    }

    private static void AssertInOrderPerOrder(IEnumerable<ExecutionDistribution.Grpc.V1.Delivery> deliveries)
    {
        foreach (var order in deliveries.Select(d => d.EventId.Split('#')).GroupBy(p => p[0]))
        {
            Assert.That(order.Select(p => int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture)), Is.Ordered, $"order {order.Key} in the order it was produced");
        }
    }

    /// <summary>A gRPC stream of a child instance, read with deadlines.</summary>
    private sealed class ClusterReader(AsyncServerStreamingCall<ExecutionMessage> call) : IDisposable
    {
        private readonly CancellationTokenSource _timeout = new(TimeSpan.FromSeconds(90));

        public string LastResumeToken { get; private set; } = string.Empty;

        /// <summary>The stream is attached: its headers carry the starting token.</summary>
        public async Task StartedAsync()
        {
            var headers = await call.ResponseHeadersAsync.WaitAsync(TimeSpan.FromSeconds(60));
            LastResumeToken = headers.GetValue("x-resume-token") ?? string.Empty;
            Assert.That(ResumeToken.TryDecode(LastResumeToken, out _, out _), Is.True, "the starting token");
        }

        public async Task<List<ExecutionDistribution.Grpc.V1.Delivery>> ReceiveAsync(int count)
        {
            var deliveries = new List<ExecutionDistribution.Grpc.V1.Delivery>();
            while (deliveries.Count < count && await call.ResponseStream.MoveNext(_timeout.Token))
            {
                var message = call.ResponseStream.Current;
                LastResumeToken = message.ResumeToken;
                if (message.BodyCase == ExecutionMessage.BodyOneofCase.Events)
                {
                    deliveries.AddRange(message.Events.Deliveries);
                }
            }

            return deliveries;
        }

        public void Dispose()
        {
            call.Dispose();
            _timeout.Dispose();
        }
    }
}
