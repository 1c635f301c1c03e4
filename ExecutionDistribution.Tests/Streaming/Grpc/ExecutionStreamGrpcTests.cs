using System.Text.Json.Nodes;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Tests.Support;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;

namespace ExecutionDistribution.Tests.Streaming.Grpc;

/// <summary>The gRPC ExecutionStream service over real HTTP/2 on 127.0.0.1.</summary>
[Category("Unit")]
public sealed class ExecutionStreamGrpcTests
{
    private ServiceHost _host = null!;
    private GrpcChannel _channel = null!;
    private ExecutionStream.ExecutionStreamClient _client = null!;

    [OneTimeSetUp]
    public async Task StartHost()
    {
        _host = await ServiceHost.StartAsync("--Grpc:HeartbeatInterval=00:00:00.300");
        _channel = GrpcChannel.ForAddress(_host.GrpcAddress, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
        });
        _client = new ExecutionStream.ExecutionStreamClient(_channel);
    }

    [OneTimeTearDown]
    public async Task StopHost()
    {
        _channel.Dispose();
        await _host.DisposeAsync();
    }

    private static Filter Orders(params string[] ids)
    {
        var filter = new Filter();
        filter.OrderIds.AddRange(ids);
        return filter;
    }

    [Test]
    public async Task An_ad_hoc_stream_receives_its_filtered_events_in_order_with_sequences_and_tokens()
    {
        var order = $"grpc-{Guid.NewGuid():N}";
        using var call = _client.StreamExecution(new StreamRequest { Filter = Orders(order) });
        using var reader = new MessageReader(call);
        await reader.WaitForFirstAsync(_host);

        var expected = new List<string>();
        for (var i = 0; i < 150; i++)
        {
            var e = Events.Fill(order, eventId: $"{order}-{i}");
            expected.Add(e.EventId);
            _host.Core.TryPublish(e);
            _host.Core.TryPublish(Events.Fill("other"));
        }

        var received = await reader.ReceiveDeliveriesAsync(expected.Count);
        Assert.That(received.Select(d => d.EventId), Is.EqualTo(expected));
        Assert.That(received.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, expected.Count).Select(i => (long)i)));
        var json = JsonNode.Parse(received[0].EventJson.Span)!;
        Assert.That((string?)json["event_id"], Is.EqualTo(expected[0]), "event_json is the contract's envelope");
        Assert.That(reader.LastResumeToken, Is.Not.Empty);
    }

    [Test]
    public async Task A_new_stream_with_the_last_resume_token_gets_exactly_what_was_missed()
    {
        var order = $"grpc-{Guid.NewGuid():N}";
        string token;
        using (var call = _client.StreamExecution(new StreamRequest { Filter = Orders(order) }))
        {
            using var reader = new MessageReader(call);
            await reader.WaitForFirstAsync(_host);
            for (var i = 0; i < 25; i++)
            {
                _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-a{i}"));
            }

            await reader.ReceiveDeliveriesAsync(25);
            token = reader.LastResumeToken;
        }

        for (var i = 0; i < 15; i++)
        {
            _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-b{i}"));
        }

        await Eventually.WaitUntilAsync(() => _host.Core.TryGetRetained(_host.Core.Head - 1, out var e) && e.EventId == $"{order}-b14", "missed events ingested");
        using var resumed = _client.StreamExecution(new StreamRequest { Filter = Orders(order), ResumeToken = token });
        using var second = new MessageReader(resumed);

        var received = await second.ReceiveDeliveriesAsync(15);
        Assert.That(received.Select(d => d.EventId), Is.EqualTo(Enumerable.Range(0, 15).Select(i => $"{order}-b{i}")));
        Assert.That(received.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(26, 15).Select(i => (long)i)));
    }

    [Test]
    public void Invalid_requests_get_invalid_argument_naming_the_field()
    {
        var badType = new Filter();
        badType.DataTypes.Add("FILLS");
        var badPattern = new Filter();
        badPattern.RoutingKeys.Add("AAPL..x");

        Assert.Multiple(() =>
        {
            AssertStatus(() => _client.StreamExecution(new StreamRequest { Filter = badType }), StatusCode.InvalidArgument, "filter.data_types[0]");
            AssertStatus(() => _client.StreamExecution(new StreamRequest { Filter = badPattern }), StatusCode.InvalidArgument, "filter.routing_keys[0]");
            AssertStatus(() => _client.StreamExecution(new StreamRequest { DeliveryGuarantee = "exactly_once" }), StatusCode.InvalidArgument, "delivery_guarantee");
            AssertStatus(() => _client.StreamExecution(new StreamRequest { ResumeToken = "garbage" }), StatusCode.InvalidArgument, "resume_token");
            AssertStatus(() => _client.StreamExecution(new StreamRequest { MaxEventsPerMessage = 5000 }), StatusCode.InvalidArgument, "max_events_per_message");
            AssertStatus(() => _client.StreamExecution(new StreamRequest { SubscriptionId = "nobody" }), StatusCode.NotFound, "nobody");
            var foreign = new ExecutionDistribution.Core.ResumeToken(Guid.NewGuid(), [], 1).Encode();
            AssertStatus(() => _client.StreamExecution(new StreamRequest { ResumeToken = foreign }), StatusCode.FailedPrecondition, "another cluster");
        });
    }

    [Test]
    public async Task A_subscription_is_created_streamed_paused_resumed_and_deleted()
    {
        var id = $"sub-{Guid.NewGuid():N}";
        var order = $"grpc-{Guid.NewGuid():N}";
        var create = new SubscriptionRequest
        {
            Action = SubscriptionAction.Create,
            SubscriptionId = id,
            TopicName = "execution/fills/#",
            SubscriberWorkflow = "portfolio_management",
            Filter = Orders(order),
        };

        var created = (await _client.ManageSubscriptionAsync(create)).Subscription;
        Assert.That(created.Status, Is.EqualTo("active"));
        Assert.That(created.DeliveryGuarantee, Is.EqualTo("at_least_once"));
        AssertStatus(() => _client.ManageSubscription(create), StatusCode.AlreadyExists, id);

        string token;
        using (var call = _client.StreamExecution(new StreamRequest { SubscriptionId = id }))
        {
            using var reader = new MessageReader(call);
            await reader.WaitForFirstAsync(_host);
            Assert.That((await _client.ManageSubscriptionAsync(new SubscriptionRequest { Action = SubscriptionAction.Get, SubscriptionId = id })).Subscription.Streaming, Is.True);
            AssertStatus(() => _client.StreamExecution(new StreamRequest { SubscriptionId = id }).ResponseStream.MoveNext().GetAwaiter().GetResult(),
                StatusCode.FailedPrecondition, "already has an active stream");

            _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-fill"));
            _host.Core.TryPublish(Events.Order(order, eventId: $"{order}-order")); // another topic: not taken
            _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-fill2"));
            var received = await reader.ReceiveDeliveriesAsync(2);
            Assert.That(received.Select(d => d.EventId), Is.EqualTo(new[] { $"{order}-fill", $"{order}-fill2" }));
            token = reader.LastResumeToken;

            await _client.ManageSubscriptionAsync(new SubscriptionRequest { Action = SubscriptionAction.Pause, SubscriptionId = id });
            var ended = Assert.ThrowsAsync<RpcException>(() => reader.ReceiveDeliveriesAsync(1));
            Assert.That(ended!.StatusCode, Is.EqualTo(StatusCode.Aborted), "pausing ends the attached stream");
        }

        AssertStatus(() => _client.StreamExecution(new StreamRequest { SubscriptionId = id }).ResponseStream.MoveNext().GetAwaiter().GetResult(),
            StatusCode.FailedPrecondition, "paused");
        _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-while-paused"));
        await _client.ManageSubscriptionAsync(new SubscriptionRequest { Action = SubscriptionAction.Resume, SubscriptionId = id });
        using (var call = _client.StreamExecution(new StreamRequest { SubscriptionId = id, ResumeToken = token }))
        {
            using var reader = new MessageReader(call);
            var caughtUp = await reader.ReceiveDeliveriesAsync(1);
            Assert.That(caughtUp.Single().EventId, Is.EqualTo($"{order}-while-paused"), "nothing published while paused is lost");
            Assert.That(caughtUp.Single().Sequence, Is.EqualTo(3));
        }

        var deleted = (await _client.ManageSubscriptionAsync(new SubscriptionRequest { Action = SubscriptionAction.Delete, SubscriptionId = id })).Subscription;
        Assert.That(deleted.Status, Is.EqualTo("deleted"));
        AssertStatus(() => _client.ManageSubscription(new SubscriptionRequest { Action = SubscriptionAction.Get, SubscriptionId = id }), StatusCode.NotFound, id);
    }

    [Test]
    public void Managing_subscriptions_validates_every_field()
    {
        Assert.Multiple(() =>
        {
            AssertStatus(() => _client.ManageSubscription(new SubscriptionRequest { Action = SubscriptionAction.Get }), StatusCode.InvalidArgument, "subscription_id");
            AssertStatus(() => _client.ManageSubscription(new SubscriptionRequest { SubscriptionId = "x" }), StatusCode.InvalidArgument, "action");
            AssertStatus(() => _client.ManageSubscription(new SubscriptionRequest { Action = SubscriptionAction.Create, SubscriptionId = "x", SubscriberWorkflow = "w" }),
                StatusCode.InvalidArgument, "topic_name");
            AssertStatus(() => _client.ManageSubscription(new SubscriptionRequest { Action = SubscriptionAction.Create, SubscriptionId = "x", TopicName = "a//b", SubscriberWorkflow = "w" }),
                StatusCode.InvalidArgument, "topic_name");
            AssertStatus(() => _client.ManageSubscription(new SubscriptionRequest { Action = SubscriptionAction.Create, SubscriptionId = "x", TopicName = "t" }),
                StatusCode.InvalidArgument, "subscriber_workflow");
            AssertStatus(() => _client.ManageSubscription(new SubscriptionRequest { Action = SubscriptionAction.Pause, SubscriptionId = "missing" }), StatusCode.NotFound, "missing");
        });
    }

    [Test]
    public async Task An_idle_stream_gets_heartbeats_carrying_its_resume_token()
    {
        using var call = _client.StreamExecution(new StreamRequest { Filter = Orders($"idle-{Guid.NewGuid():N}") });

        ExecutionMessage message;
        do
        {
            Assert.That(await call.ResponseStream.MoveNext(CancellationToken.None), Is.True);
            message = call.ResponseStream.Current;
        }
        while (message.BodyCase == ExecutionMessage.BodyOneofCase.Snapshot);

        Assert.That(message.BodyCase, Is.EqualTo(ExecutionMessage.BodyOneofCase.Heartbeat));
        Assert.That(message.ResumeToken, Is.Not.Empty);
    }

    [Test]
    public async Task A_stream_waiting_between_events_arms_no_timer_per_wait()
    {
        // Heartbeats come from one timer per stream. A timer armed for each wait, living a heartbeat
        // interval, once made 1,000 streams at 100 events/s keep 1.5 million timers and pause for them.
        await using var host = await ServiceHost.StartAsync("--Grpc:HeartbeatInterval=00:01:00", "--Grpc:SendLinger=00:00:00");
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var client = new ExecutionStream.ExecutionStreamClient(channel);
        var order = $"grpc-{Guid.NewGuid():N}";
        using var call = client.StreamExecution(new StreamRequest { Filter = Orders(order) });
        using var reader = new MessageReader(call);
        await reader.WaitForFirstAsync(host);

        var before = Timer.ActiveCount;
        const int events = 300;
        for (var i = 0; i < events; i++)
        {
            host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-{i}"));
            Assert.That((await reader.ReceiveDeliveriesAsync(1)).Single().EventId, Is.EqualTo($"{order}-{i}"));
        }

        Assert.That(Timer.ActiveCount - before, Is.LessThan(events / 3), "timers still active after the stream waited once per event");
    }

    [Test]
    public async Task A_request_that_is_not_a_valid_message_gets_invalid_argument_naming_its_type()
    {
        // Raw bytes on the wire, as a client that does not use our .proto might send: a string field of invalid UTF-8.
        var bytes = new Marshaller<byte[]>(b => b, b => b);
        var invoker = _channel.CreateCallInvoker();
        var ack = new Method<byte[], byte[]>(MethodType.Unary, "execdist.v1.ExecutionStream", "Acknowledge", bytes, bytes);
        var stream = new Method<byte[], byte[]>(MethodType.ServerStreaming, "execdist.v1.ExecutionStream", "StreamExecution", bytes, bytes);

        var unary = Assert.ThrowsAsync<RpcException>(async () => await invoker.AsyncUnaryCall(ack, null, new CallOptions(), [0x0A, 0x02, 0xC3, 0x28]));
        using var call = invoker.AsyncServerStreamingCall(stream, null, new CallOptions(), [0x12, 0x02, 0xC3, 0x28]);
        var streaming = Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNext(CancellationToken.None));

        Assert.That((unary!.StatusCode, unary.Status.Detail), Is.EqualTo((StatusCode.InvalidArgument, "the message is not a valid AckRequest: String is invalid UTF-8.")));
        Assert.That((streaming!.StatusCode, streaming.Status.Detail), Is.EqualTo((StatusCode.InvalidArgument, "the message is not a valid StreamRequest: String is invalid UTF-8.")));
    }

    [Test]
    public async Task Standard_health_checking_and_reflection_answer()
    {
        var health = await new Health.HealthClient(_channel).CheckAsync(new HealthCheckRequest());
        Assert.That(health.Status, Is.EqualTo(HealthCheckResponse.Types.ServingStatus.Serving));
        var service = await new Health.HealthClient(_channel).CheckAsync(new HealthCheckRequest { Service = "execdist.v1.ExecutionStream" });
        Assert.That(service.Status, Is.EqualTo(HealthCheckResponse.Types.ServingStatus.Serving), "the service by name, as readiness says");

        using var reflection = new ServerReflection.ServerReflectionClient(_channel).ServerReflectionInfo();
        await reflection.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = string.Empty });
        await reflection.RequestStream.CompleteAsync();
        Assert.That(await reflection.ResponseStream.MoveNext(CancellationToken.None), Is.True);
        Assert.That(reflection.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name), Does.Contain("execdist.v1.ExecutionStream"));

        // v1 too, which current tools (grpcurl) ask first; and the service's methods are described.
        using var v1 = new global::Grpc.Reflection.V1.ServerReflection.ServerReflectionClient(_channel).ServerReflectionInfo();
        await v1.RequestStream.WriteAsync(new global::Grpc.Reflection.V1.ServerReflectionRequest { ListServices = string.Empty });
        await v1.RequestStream.WriteAsync(new global::Grpc.Reflection.V1.ServerReflectionRequest { FileContainingSymbol = "execdist.v1.ExecutionStream" });
        await v1.RequestStream.CompleteAsync();
        Assert.That(await v1.ResponseStream.MoveNext(CancellationToken.None), Is.True);
        Assert.That(v1.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name), Is.SupersetOf(new[] { "execdist.v1.ExecutionStream", "grpc.health.v1.Health" }));
        Assert.That(await v1.ResponseStream.MoveNext(CancellationToken.None), Is.True);
        var file = Google.Protobuf.Reflection.FileDescriptorProto.Parser.ParseFrom(v1.ResponseStream.Current.FileDescriptorResponse.FileDescriptorProto[0]);
        Assert.That(file.Service.Single(s => s.Name == "ExecutionStream").Method.Select(m => m.Name),
            Is.EquivalentTo(new[] { "StreamExecution", "ManageSubscription", "Acknowledge", "StreamMultiplexed", "RefreshStream" }));
    }

    [Test]
    public async Task A_thousand_concurrent_grpc_streams_each_receive_their_events_in_order()
    {
        const int streams = 1_000;
        const int orders = 50;
        const int perOrder = 10;
        var run = Guid.NewGuid().ToString("N")[..8];
        var calls = Enumerable.Range(0, streams).Select(i => _client.StreamExecution(new StreamRequest { Filter = Orders($"{run}-O{i % orders}") })).ToList();
        var readers = calls.Select(c => new MessageReader(c)).ToList();
        await Task.WhenAll(readers.Select(r => r.WaitForFirstAsync(_host)));

        for (var s = 0; s < perOrder; s++)
        {
            for (var o = 0; o < orders; o++)
            {
                await _host.Core.PublishAsync(Events.Fill($"{run}-O{o}", eventId: $"{run}-O{o}#{s}"), CancellationToken.None);
            }
        }

        var results = await Task.WhenAll(readers.Select(r => r.ReceiveDeliveriesAsync(perOrder)));
        for (var i = 0; i < streams; i++)
        {
            Assert.That(results[i].Select(d => d.EventId), Is.EqualTo(Enumerable.Range(0, perOrder).Select(s => $"{run}-O{i % orders}#{s}")), $"stream {i}");
        }

        readers.ForEach(r => r.Dispose());
        calls.ForEach(c => c.Dispose());
    }

    private static void AssertStatus(Action call, StatusCode code, string messageFragment)
    {
        var ex = Assert.Catch<RpcException>(() =>
        {
            call();
        });
        Assert.That(ex!.StatusCode, Is.EqualTo(code), ex.Status.Detail);
        Assert.That(ex.Status.Detail, Does.Contain(messageFragment));
    }

    private static void AssertStatus(Func<object> call, StatusCode code, string messageFragment) =>
        AssertStatus(() =>
        {
            var result = call();
            if (result is AsyncServerStreamingCall<ExecutionMessage> streaming)
            {
                streaming.ResponseStream.MoveNext().GetAwaiter().GetResult();
            }
        }, code, messageFragment);
}

/// <summary>Reads a stream's messages for a test.</summary>
internal sealed class MessageReader(AsyncServerStreamingCall<ExecutionMessage> call) : IDisposable
{
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromSeconds(60));

    public string LastResumeToken { get; private set; } = string.Empty;

    /// <summary>Waits until the stream is attached to the core: the service sends its headers (with the starting resume token) then.</summary>
    public async Task WaitForFirstAsync(ServiceHost host)
    {
        var headers = await call.ResponseHeadersAsync.WaitAsync(TimeSpan.FromSeconds(30));
        LastResumeToken = headers.GetValue("x-resume-token") ?? string.Empty;
        Assert.That(LastResumeToken, Is.Not.Empty, $"{host.GrpcAddress} sends the starting resume token in the headers");
    }

    public async Task<List<ExecutionDistribution.Grpc.V1.Delivery>> ReceiveDeliveriesAsync(int count)
    {
        var deliveries = new List<ExecutionDistribution.Grpc.V1.Delivery>();
        while (deliveries.Count < count)
        {
            if (!await call.ResponseStream.MoveNext(_timeout.Token))
            {
                throw new InvalidOperationException("the stream ended");
            }

            var message = call.ResponseStream.Current;
            LastResumeToken = message.ResumeToken;
            if (message.BodyCase == ExecutionMessage.BodyOneofCase.Events)
            {
                deliveries.AddRange(message.Events.Deliveries);
            }
        }

        return deliveries;
    }

    public void Dispose() => _timeout.Dispose();
}

/// <summary>Stopping the service (a drain) ends gRPC streams with Unavailable and the resume token in the trailers.</summary>
public sealed class GrpcShutdownTests
{
    [Test]
    public async Task Stopping_the_service_ends_streams_with_unavailable_and_the_token_to_resume_with_in_the_trailers()
    {
        var host = await ServiceHost.StartAsync();
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var filter = new Filter();
        filter.OrderIds.Add("shutdown");
        using var call = new ExecutionStream.ExecutionStreamClient(channel).StreamExecution(new StreamRequest { Filter = filter });
        var headers = await call.ResponseHeadersAsync.WaitAsync(TimeSpan.FromSeconds(30));

        var stopping = host.DisposeAsync().AsTask();
        var ended = Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        });
        await stopping;

        Assert.That(ended!.StatusCode, Is.EqualTo(StatusCode.Unavailable), ended.ToString());
        Assert.That(ended.Status.Detail, Does.Contain("resume token"));
        Assert.That(ended.Trailers.GetValue("x-resume-token"), Is.EqualTo(headers.GetValue("x-resume-token")), "nothing was delivered: the starting token");
    }
}
