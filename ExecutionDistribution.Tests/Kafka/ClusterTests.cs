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
        using var feed = new FillFeed(Cluster, topics, "C");
        var produced = feed.Produced;

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

        feed.Produce(240);
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
        feed.Produce(60);

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
        using var cluster = await ProcessorAndTwoGateways.StartAsync(topics, db);
        var (a, c) = (cluster.A, cluster.C);
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
    public async Task A_stopping_gateway_tells_each_client_to_reconnect_with_its_token_and_they_resume_on_another_with_none_missing()
    {
        var topics = new KafkaTestTopics(Cluster, partitions: 4);
        using var processor = ChildHost.Start([.. topics.HostSettings, "--Cluster:Role=processor"]);
        using var b = ChildHost.Start([.. topics.HostSettings, "--Cluster:Role=gateway"]);
        using var c = ChildHost.Start([.. topics.HostSettings, "--Cluster:Role=gateway"]);
        await Task.WhenAll(processor.WaitReadyAsync(), b.WaitReadyAsync(), c.WaitReadyAsync());
        using var feed = new FillFeed(Cluster, topics, "D");
        var produced = feed.Produced;

        var filter = new Filter { Topics = { "#" } };
        using var channelB = GrpcChannel.ForAddress(b.GrpcAddress);
        using var grpc = new ClusterReader(new ExecutionStream.ExecutionStreamClient(channelB).StreamExecution(new StreamRequest { Filter = filter }));
        await grpc.StartedAsync();
        await using var socket = await Streaming.WebSockets.StreamClient.ConnectAsync(b.HttpAddress, "topics=%23");
        await socket.ReceiveUntilAsync(f => (string?)f["type"] == "subscribed");
        feed.Produce(100);
        var grpcFirst = await grpc.ReceiveAsync(100);
        var socketFirst = await socket.ReceiveEventsAsync(100);

        // SIGTERM: readiness goes, every client gets its token, the process exits.
        b.Terminate();
        var ended = Assert.ThrowsAsync<RpcException>(async () => await grpc.ReceiveAsync(1));
        var reconnect = await socket.ReceiveUntilAsync(f => (string?)f["type"] == "reconnect");
        var (status, reason) = await socket.ReceiveCloseAsync();
        Assert.That(b.WaitForExit(TimeSpan.FromSeconds(60)), Is.True, "the instance exits after draining");
        Assert.That(ended!.StatusCode, Is.EqualTo(StatusCode.Unavailable));
        var grpcToken = ended.Trailers.GetValue("x-resume-token");
        Assert.That(grpcToken, Is.Not.Empty, "the token is in the trailers");
        Assert.That((int?)status, Is.EqualTo(1012), $"close 1012 (service restart): {reason}");
        var socketToken = (string)reconnect["resume_tokens"]!.AsObject().Single().Value!;

        feed.Produce(50);
        using var channelC = GrpcChannel.ForAddress(c.GrpcAddress);
        using var grpcAgain = new ClusterReader(new ExecutionStream.ExecutionStreamClient(channelC).StreamExecution(new StreamRequest { Filter = filter, ResumeToken = grpcToken }));
        var grpcRest = await grpcAgain.ReceiveAsync(produced.Count - grpcFirst.Count);
        await using var socketAgain = await Streaming.WebSockets.StreamClient.ConnectAsync(c.HttpAddress, $"topics=%23&resume_token={socketToken}");
        var socketRest = await socketAgain.ReceiveEventsAsync(produced.Count - socketFirst.Count);

        Assert.That(grpcFirst.Concat(grpcRest).Select(d => d.EventId), Is.EquivalentTo(produced), "gRPC: none missing, none twice");
        Assert.That(socketFirst.Concat(socketRest).Select(e => e.EventId), Is.EquivalentTo(produced), "WebSocket: none missing, none twice");
        Assert.That(socketFirst.Concat(socketRest).Select(e => e.Sequence), Is.EqualTo(Enumerable.Range(1, produced.Count).Select(i => (long)i)), "sequences go on");
    }

    [Test]
    [Category("Postgres")]
    public async Task A_processor_that_dies_hands_its_partitions_over_and_order_status_and_output_stay_exactly_once_in_effect()
    {
        var topics = new KafkaTestTopics(Cluster, partitions: 4);
        await using var db = new TestPostgres();
        string[] settings = [.. topics.HostSettings, .. db.Settings(), "--Cluster:Role=processor"];
        using var first = ChildHost.Start(settings);
        await first.WaitReadyAsync(); // migrates the schema first
        using var second = ChildHost.Start(settings);
        await second.WaitReadyAsync();

        // Each order: a new order of 100, then a fill of 100: FILLED with 100 done, whatever is read twice.
        const int orders = 200;
        var run = Guid.NewGuid().ToString("N")[..8];
        var ids = new List<string>();
        using (var producer = KafkaClients.Producer(Cluster.BootstrapServers))
        {
            for (var i = 0; i < orders; i++)
            {
                var order = $"{run}-P{i}";
                KafkaClients.Produce(producer, topics.Input, order, KafkaClients.Json(Events.Order(order, eventId: $"{order}-new")));
                KafkaClients.Produce(producer, topics.Input, order, KafkaClients.Json(Events.Fill(order, eventId: $"{order}-fill")));
                ids.Add($"{order}-new");
                ids.Add($"{order}-fill");
            }

            producer.Flush(TimeSpan.FromSeconds(30));
        }

        // The first dies once some output is out; its partitions move to the second, which reads them from the last commit.
        await KafkaClients.ReadAsync(Cluster.BootstrapServers, [topics.Output("portfolio_management")], r => r.Count >= 20, TimeSpan.FromSeconds(90));
        first.Kill();
        var output = await KafkaClients.ReadAsync(Cluster.BootstrapServers, [topics.Output("portfolio_management"), topics.Output("order_management")],
            r => r.Select(KafkaClients.EventId).Distinct().Count() >= ids.Count, TimeSpan.FromSeconds(120));
        Assert.That(output.Select(KafkaClients.EventId).Distinct(), Is.EquivalentTo(ids), "every event's output, none missing (repeats keep their event_id)");

        using var http = new HttpClient { BaseAddress = second.HttpAddress };
        for (var i = 0; i < orders; i += 17)
        {
            var order = $"{run}-P{i}";
            System.Text.Json.Nodes.JsonObject? status = null;
            await Eventually.WaitUntilAsync(() =>
            {
                using var response = http.GetAsync(new Uri($"/api/v1/execution/{order}/status", UriKind.Relative)).GetAwaiter().GetResult();
                status = response.IsSuccessStatusCode ? System.Text.Json.Nodes.JsonNode.Parse(response.Content.ReadAsStringAsync().GetAwaiter().GetResult())!.AsObject() : null;
                return (string?)status?["status"] == "FILLED";
            }, $"order {order} is filled");
            Assert.That((decimal?)status!["cum_qty"], Is.EqualTo(100m), $"order {order}: its fill counted once");
        }

        // Each fill stored once; each event audited as distributed, and never twice in one instance's log
        // (the second processor re-read what the first had not committed: that shows as the second's own row).
        await using var sql = await db.OpenAsync();
        Assert.That(await Scalar(sql, "SELECT count(*) FROM fills WHERE order_id LIKE @run"), Is.EqualTo(orders));
        await Eventually.WaitUntilAsync(
            () => Scalar(sql, "SELECT count(DISTINCT event_id) FROM distribution_audit WHERE subscription_id IS NULL AND event_id LIKE @run").GetAwaiter().GetResult() == ids.Count,
            "every event audited as distributed");
        Assert.That(await Scalar(sql, "SELECT count(*) FROM (SELECT 1 FROM distribution_audit WHERE subscription_id IS NULL AND event_id LIKE @run GROUP BY event_id, log_epoch HAVING count(*) > 1) twice"),
            Is.Zero, "no event audited twice by one instance");

        async Task<long> Scalar(Npgsql.NpgsqlConnection connection, string query)
        {
            await using var command = new Npgsql.NpgsqlCommand(query, connection);
            command.Parameters.AddWithValue("run", $"{run}-%");
            return Convert.ToInt64(await command.ExecuteScalarAsync());
        }
    }

    [Test]
    [Category("Postgres")]
    public async Task A_revocation_made_through_one_gateway_ends_the_subjects_stream_on_another_and_is_refused_there()
    {
        var topics = new KafkaTestTopics(Cluster, partitions: 2);
        await using var db = new TestPostgres();
        using var cluster = await ProcessorAndTwoGateways.StartAsync(topics, db, TestAuth.Settings());
        var subject = $"trader-{Guid.NewGuid():N}";
        var token = TestAuth.Token([ExecutionDistribution.Security.Scopes.Read], ["PF001"], subject);
        await using var onC = await Streaming.WebSockets.StreamClient.ConnectAsync(cluster.C.HttpAddress, "order_ids=O-1", token);
        Assert.That((string?)(await onC.ReceiveAsync())["type"], Is.EqualTo("subscribed"));

        using var onA = new HttpClient { BaseAddress = cluster.A.HttpAddress };
        onA.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", TestAuth.Admin());
        using (var revoked = await System.Net.Http.Json.HttpClientJsonExtensions.PostAsJsonAsync(onA, "/api/v1/admin/revocations", new { subject, reason = "left the firm" }))
        {
            Assert.That((int)revoked.StatusCode, Is.EqualTo(201), await revoked.Content.ReadAsStringAsync());
        }

        var (status, reason) = await onC.ReceiveCloseAsync();
        Assert.That(((int?)status, reason), Is.EqualTo(((int?)4403, $"access revoked: {subject} (left the firm)")), "ended on the other gateway, told through the control topic");
        using var asSubject = new HttpClient { BaseAddress = cluster.C.HttpAddress };
        asSubject.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        using var refused = await asSubject.GetAsync(new Uri("/api/v1/topics", UriKind.Relative));
        Assert.That((int)refused.StatusCode, Is.EqualTo(401));
    }

    [Test]
    [Category("Postgres")]
    public async Task A_subscription_paused_or_deleted_through_one_instance_ends_its_stream_on_another_and_every_instance_sees_the_change()
    {
        var topics = new KafkaTestTopics(Cluster, partitions: 2);
        await using var db = new TestPostgres();
        using var cluster = await ProcessorAndTwoGateways.StartAsync(topics, db);
        var (a, c) = (cluster.A, cluster.C);
        using var onA = new HttpClient { BaseAddress = a.HttpAddress };
        using var onC = new HttpClient { BaseAddress = c.HttpAddress };
        var id = $"managed-{Guid.NewGuid():N}";
        using (var created = await System.Net.Http.Json.HttpClientJsonExtensions.PostAsJsonAsync(onA, "/api/v1/subscriptions",
            new { subscription_id = id, topic_name = "#", subscriber_workflow = "risk", filter = new { order_ids = new[] { $"{id}-order" } } }))
        {
            Assert.That(created.IsSuccessStatusCode, Is.True, await created.Content.ReadAsStringAsync());
        }

        using var channelC = GrpcChannel.ForAddress(c.GrpcAddress);
        using var stream = new ClusterReader(new ExecutionStream.ExecutionStreamClient(channelC).StreamExecution(new StreamRequest { SubscriptionId = id }));
        await stream.StartedAsync();

        using (var paused = await onA.PostAsync(new Uri($"/api/v1/subscriptions/{id}/pause", UriKind.Relative), null))
        {
            Assert.That(paused.IsSuccessStatusCode, Is.True, await paused.Content.ReadAsStringAsync());
        }

        var ended = Assert.ThrowsAsync<RpcException>(async () => await stream.ReceiveAsync(1));
        Assert.That(ended!.StatusCode, Is.EqualTo(StatusCode.Aborted), "the stream on the other instance ends");
        Assert.That(ended.Status.Detail, Does.Contain("changed, paused or deleted"));
        var onCNow = await System.Net.Http.Json.HttpClientJsonExtensions.GetFromJsonAsync<System.Text.Json.Nodes.JsonObject>(onC, $"/api/v1/subscriptions/{id}");
        Assert.That((string?)onCNow!["status"], Is.EqualTo("paused"), "the other instance sees the change");

        using (var deleted = await onC.DeleteAsync(new Uri($"/api/v1/subscriptions/{id}", UriKind.Relative)))
        {
            Assert.That(deleted.IsSuccessStatusCode, Is.True, await deleted.Content.ReadAsStringAsync());
        }

        using var gone = await onA.GetAsync(new Uri($"/api/v1/subscriptions/{id}", UriKind.Relative));
        Assert.That((int)gone.StatusCode, Is.EqualTo(404), "deleted through the other instance");
    }

    [Test]
    public void An_instance_id_that_kafka_would_refuse_stops_the_start_naming_the_key()
    {
        var app = ExecDistApplication.Build([.. ServiceHost.FreePorts, "--Kafka:Enabled=false", "--Cluster:InstanceId=pod 0/east"]);

        var ex = Assert.CatchAsync(() => app.StartAsync());

        Assert.That(ex!.Message, Does.Contain("Cluster:InstanceId").And.Contain("pod 0/east"));
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

    /// <summary>A processor (which migrates the shared schema first) and two gateways, A and C, on one database.</summary>
    private sealed class ProcessorAndTwoGateways(ChildHost processor, ChildHost a, ChildHost c) : IDisposable
    {
        public ChildHost A { get; } = a;

        public ChildHost C { get; } = c;

        public static async Task<ProcessorAndTwoGateways> StartAsync(KafkaTestTopics topics, TestPostgres db, string[]? extra = null)
        {
            string[] settings = [.. topics.HostSettings, .. db.Settings(), .. extra ?? []];
            var processor = ChildHost.Start([.. settings, "--Cluster:Role=processor"]);
            await processor.WaitReadyAsync();
            var cluster = new ProcessorAndTwoGateways(processor, ChildHost.Start([.. settings, "--Cluster:Role=gateway"]), ChildHost.Start([.. settings, "--Cluster:Role=gateway"]));
            await Task.WhenAll(cluster.A.WaitReadyAsync(), cluster.C.WaitReadyAsync());
            return cluster;
        }

        public void Dispose()
        {
            C.Dispose();
            A.Dispose();
            processor.Dispose();
        }
    }

    /// <summary>Fills of <see cref="Orders"/> orders produced to the input topic, keyed by order: <c>{prefix}-{order}#{n}</c>.</summary>
    private sealed class FillFeed(ExecutionDistribution.Kafka.EmbeddedKafkaCluster cluster, KafkaTestTopics topics, string prefix) : IDisposable
    {
        private readonly Confluent.Kafka.IProducer<byte[]?, byte[]?> _producer = KafkaClients.Producer(cluster.BootstrapServers);

        public List<string> Produced { get; } = [];

        public void Produce(int count)
        {
            for (var i = Produced.Count; i < Produced.Count + count; i++)
            {
                var order = $"{prefix}-{i % Orders}";
                KafkaClients.Produce(_producer, topics.Input, order, KafkaClients.Json(Events.Fill(order, eventId: $"{order}#{i}")));
            }

            Produced.AddRange(Enumerable.Range(Produced.Count, count).Select(i => $"{prefix}-{i % Orders}#{i}"));
            _producer.Flush(TimeSpan.FromSeconds(30));
        }

        public void Dispose() => _producer.Dispose();
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
