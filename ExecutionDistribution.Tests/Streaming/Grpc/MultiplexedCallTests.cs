using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Tests.Support;
using Grpc.Core;
using Grpc.Net.Client;

namespace ExecutionDistribution.Tests.Streaming.Grpc;

/// <summary>One gRPC call carrying several subscriptions (<c>StreamMultiplexed</c>), over real HTTP/2 on 127.0.0.1.</summary>
[Category("Unit")]
public sealed class MultiplexedCallTests
{
    private ServiceHost _host = null!;
    private GrpcChannel _channel = null!;
    private ExecutionStream.ExecutionStreamClient _client = null!;

    [OneTimeSetUp]
    public async Task StartHost()
    {
        _host = await ServiceHost.StartAsync("--Grpc:MaxSubscriptionsPerCall=3", "--Grpc:HeartbeatInterval=00:00:00.300");
        _channel = GrpcChannel.ForAddress(_host.GrpcAddress);
        _client = new ExecutionStream.ExecutionStreamClient(_channel);
    }

    [OneTimeTearDown]
    public async Task StopHost()
    {
        _channel.Dispose();
        await _host.DisposeAsync();
    }

    private static StreamRequest Watching(params string[] orders)
    {
        var filter = new Filter();
        filter.OrderIds.AddRange(orders);
        return new StreamRequest { Filter = filter };
    }

    [Test]
    public async Task A_command_over_the_size_limit_ends_its_call_with_resource_exhausted_and_other_calls_go_on()
    {
        var call = _client.StreamMultiplexed();
        var huge = new Filter();
        huge.OrderIds.Add(new string('x', 1024 * 1024)); // one order id of 1 MB: the command is over the limit

        // Not awaited: the service ends the call once it has read past the limit, and the client's send of
        // the rest may wait on HTTP/2 flow control until the call is disposed. The status says why.
        var write = call.RequestStream.WriteAsync(new StreamCommand { RequestId = "huge", Subscribe = new StreamRequest { Filter = huge } });
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var ex = Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(deadline.Token))
            {
            }
        });

        call.Dispose();
        try
        {
            await write.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException or InvalidOperationException or TimeoutException)
        {
            // The send ends with the call.
        }

        Assert.That(ex!.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted), "the call ends with a status, not a wait");
        Assert.That(ex.Status.Detail, Does.Contain("larger than"));
        using var other = _client.StreamMultiplexed();
        await other.RequestStream.WriteAsync(new StreamCommand { RequestId = "after", Subscribe = Watching($"after-{Guid.NewGuid():N}") });
        Assert.That(await other.ResponseStream.MoveNext(CancellationToken.None), Is.True, "another call is answered");
    }

    [Test]
    public async Task A_command_that_is_not_a_valid_message_ends_only_its_own_call_with_a_status()
    {
        // Raw bytes on the wire, as a client that does not use our .proto might send: a StreamCommand
        // whose request_id (field 1) is two bytes of invalid UTF-8.
        var bytes = new Marshaller<byte[]>(b => b, b => b);
        var method = new Method<byte[], byte[]>(MethodType.DuplexStreaming, "execdist.v1.ExecutionStream", "StreamMultiplexed", bytes, bytes);
        using var raw = _channel.CreateCallInvoker().AsyncDuplexStreamingCall(method, null, new CallOptions());
        await raw.RequestStream.WriteAsync([0x0A, 0x02, 0xC3, 0x28]);

        var ex = Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await raw.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        });

        // Not an OK end, as if the service had finished: the client is told its message was bad.
        Assert.That(ex!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(ex.Status.Detail, Does.Contain("StreamCommand").And.Contain("UTF-8"));
        using var other = _client.StreamMultiplexed();
        await other.RequestStream.WriteAsync(new StreamCommand { RequestId = "after", Subscribe = Watching($"after-{Guid.NewGuid():N}") });
        Assert.That(await other.ResponseStream.MoveNext(CancellationToken.None), Is.True);
        Assert.That(other.ResponseStream.Current.Subscribed.RequestId, Is.EqualTo("after"), "other calls go on");
    }

    [Test]
    public async Task An_event_that_several_subscriptions_take_travels_once_tagged_with_each_subscription_and_its_sequence()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        string o1 = $"{run}-O1", o2 = $"{run}-O2";
        await using var call = new MultiplexClient(_client.StreamMultiplexed());
        var fillsRequest = Watching(o1);
        fillsRequest.Filter.DataTypes.Add("FILL_NOTIFICATION");
        var fills = (await call.SubscribeAsync("fills", fillsRequest)).SubscriptionId;
        var both = (await call.SubscribeAsync("both", Watching(o1, o2))).SubscriptionId;

        var (expectedFills, expectedBoth) = OverlappingStreams.Publish(_host.Core, run, o1, o2);

        var received = await call.ReceiveEventsAsync(expectedBoth.Count);

        Assert.That(received.Select(e => e.EventId), Is.Unique, "each event travels once on the call");
        Assert.That(received.Select(e => e.EventId), Is.EqualTo(expectedBoth), "in log order");
        Assert.That(Stream(received, fills).Select(d => d.EventId), Is.EqualTo(expectedFills));
        Assert.That(Stream(received, fills).Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, expectedFills.Count).Select(i => (long)i)));
        Assert.That(Stream(received, both).Select(d => d.EventId), Is.EqualTo(expectedBoth));
        Assert.That(Stream(received, both).Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, expectedBoth.Count).Select(i => (long)i)));
        Assert.That(received.Where(e => e.EventId.Contains("-f", StringComparison.Ordinal)).Select(e => e.Deliveries.Count), Has.All.EqualTo(2));
        Assert.That(received[0].EventJson.ToStringUtf8(), Does.Contain(expectedBoth[0]), "event_json is the contract's envelope");
    }

    [Test]
    public async Task A_subscription_resumed_on_a_new_call_from_its_resume_token_gets_exactly_what_it_missed()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        string o1 = $"{run}-O1", o2 = $"{run}-O2";
        string token;
        await using (var first = new MultiplexClient(_client.StreamMultiplexed()))
        {
            await first.SubscribeAsync("narrow", Watching(o1));
            var wide = (await first.SubscribeAsync("wide", Watching(o1, o2))).SubscriptionId;
            for (var i = 0; i < 300; i++)
            {
                _host.Core.TryPublish(Events.Fill(i % 2 == 0 ? o1 : o2, eventId: $"{run}-a{i}"));
            }

            await first.ReceiveEventsAsync(300);
            token = first.LastResumeTokens[wide];
        }

        for (var i = 0; i < 50; i++)
        {
            _host.Core.TryPublish(Events.Fill(o2, eventId: $"{run}-b{i}"));
        }

        await using var second = new MultiplexClient(_client.StreamMultiplexed());
        var request = Watching(o1, o2);
        request.ResumeToken = token;
        var resumed = (await second.SubscribeAsync("again", request)).SubscriptionId;
        var missed = await second.ReceiveEventsAsync(50);

        Assert.That(missed.Select(e => e.EventId), Is.EqualTo(Enumerable.Range(0, 50).Select(i => $"{run}-b{i}")));
        Assert.That(Stream(missed, resumed).Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(301, 50).Select(i => (long)i)));
    }

    [Test]
    public async Task Unsubscribing_one_subscription_leaves_the_others_on_the_call_streaming()
    {
        var order = $"unsub-{Guid.NewGuid():N}";
        await using var call = new MultiplexClient(_client.StreamMultiplexed());
        var first = (await call.SubscribeAsync("first", Watching(order))).SubscriptionId;
        var atMostOnce = Watching(order);
        atMostOnce.DeliveryGuarantee = "at_most_once";
        var second = (await call.SubscribeAsync("second", atMostOnce)).SubscriptionId;

        await call.SendAsync(new StreamCommand { RequestId = "bye", Unsubscribe = first });
        var ended = (await call.ReceiveAsync(m => m.BodyCase == MultiplexedMessage.BodyOneofCase.Unsubscribed)).Unsubscribed;
        _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-after"));
        var after = await call.ReceiveEventsAsync(1);

        Assert.That((ended.RequestId, ended.SubscriptionId), Is.EqualTo(("bye", first)));
        Assert.That(ended.Reason, Does.Contain("unsubscribed"));
        Assert.That(ended.ResumeToken, Is.Not.Empty);
        Assert.That(after[0].EventId, Is.EqualTo($"{order}-after"));
        Assert.That(after[0].Deliveries.Select(d => d.SubscriptionId), Is.EqualTo(new[] { second }));
    }

    [Test]
    public async Task A_bad_command_is_answered_with_an_error_naming_the_field_and_the_call_goes_on()
    {
        var order = $"bad-{Guid.NewGuid():N}";
        await using var call = new MultiplexClient(_client.StreamMultiplexed());
        var badType = Watching(order);
        badType.Filter.DataTypes.Add("FILLS");

        var errors = new List<CommandError>
        {
            await call.RefusedAsync(new StreamCommand { RequestId = "r1", Subscribe = badType }),
            await call.RefusedAsync(new StreamCommand { RequestId = "r2", Subscribe = new StreamRequest { SubscriptionId = "nobody" } }),
            await call.RefusedAsync(new StreamCommand { RequestId = "r3", Subscribe = new StreamRequest { ResumeToken = "garbage" } }),
            await call.RefusedAsync(new StreamCommand { RequestId = "r4", Unsubscribe = "not-here" }),
            await call.RefusedAsync(new StreamCommand { RequestId = "r5" }),
        };
        var good = (await call.SubscribeAsync("r6", Watching(order))).SubscriptionId;
        _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-1"));
        var events = await call.ReceiveEventsAsync(1);

        Assert.That(errors.Select(e => e.RequestId), Is.EqualTo(new[] { "r1", "r2", "r3", "r4", "r5" }));
        Assert.That(errors.Select(e => e.Code), Is.EqualTo(new[] { "INVALID_ARGUMENT", "NOT_FOUND", "INVALID_ARGUMENT", "NOT_FOUND", "INVALID_ARGUMENT" }));
        Assert.That(errors[0].Message, Does.StartWith("filter.data_types[0]"));
        Assert.That(errors[2].Message, Does.StartWith("resume_token"));
        Assert.That(errors[3].Message, Does.StartWith("unsubscribe"));
        Assert.That(errors[4].Message, Does.StartWith("command"));
        Assert.That(events[0].Deliveries.Single().SubscriptionId, Is.EqualTo(good));
    }

    [Test]
    public async Task A_call_refuses_subscriptions_beyond_its_limit_with_resource_exhausted_and_keeps_the_ones_it_has()
    {
        var order = $"limit-{Guid.NewGuid():N}";
        await using var call = new MultiplexClient(_client.StreamMultiplexed());
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add((await call.SubscribeAsync($"s{i}", Watching(order))).SubscriptionId);
        }

        var refused = await call.RefusedAsync(new StreamCommand { RequestId = "s3", Subscribe = Watching(order) });
        _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-1"));
        var events = await call.ReceiveEventsAsync(1);

        Assert.That(refused.Code, Is.EqualTo("RESOURCE_EXHAUSTED"));
        Assert.That(refused.Message, Does.Contain("Grpc:MaxSubscriptionsPerCall"));
        Assert.That(events[0].Deliveries.Select(d => d.SubscriptionId), Is.EqualTo(ids));
    }

    [Test]
    public async Task A_managed_subscription_on_a_multiplexed_call_is_acknowledged_and_what_was_not_acknowledged_comes_again()
    {
        var (id, order) = await ManagedSubscriptions.CreateWatchingNewOrderAsync(_channel, "gmux", "risk_management");
        string adhoc;
        await using (var call = new MultiplexClient(_client.StreamMultiplexed()))
        {
            await call.SubscribeAsync("managed", new StreamRequest { SubscriptionId = id });
            adhoc = (await call.SubscribeAsync("adhoc", Watching(order))).SubscriptionId;
            for (var i = 0; i < 3; i++)
            {
                _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-{i}"));
            }

            var received = await call.ReceiveEventsAsync(3);
            Assert.That(received.Select(e => e.Deliveries.Count), Has.All.EqualTo(2));
            var afterThird = call.LastResumeTokens[id];

            await call.SendAsync(new StreamCommand { RequestId = "a1", Ack = new AckRequest { SubscriptionId = id, ResumeToken = afterThird } });
            var acked = (await call.ReceiveAsync(m => m.BodyCase == MultiplexedMessage.BodyOneofCase.Acked)).Acked;
            var adhocAck = await call.RefusedAsync(new StreamCommand { RequestId = "a2", Ack = new AckRequest { SubscriptionId = adhoc, ResumeToken = afterThird } });

            Assert.That((acked.RequestId, acked.SubscriptionId, acked.AcknowledgedSequence), Is.EqualTo(("a1", id, 3L)));
            Assert.That(adhocAck.Code, Is.EqualTo("FAILED_PRECONDITION"));
            Assert.That(_client.ManageSubscription(new SubscriptionRequest { Action = SubscriptionAction.Get, SubscriptionId = id }).Subscription.Streaming, Is.True);

            // Delivered and not acknowledged: these come again.
            _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-3"));
            _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-4"));
            await call.ReceiveEventsAsync(2);
        }

        // A new call attaching the subscription without a token starts after its acknowledgement
        // (once the service has seen the first call go).
        await Eventually.WaitUntilAsync(() => !_client.ManageSubscription(new SubscriptionRequest { Action = SubscriptionAction.Get, SubscriptionId = id }).Subscription.Streaming,
            "the first call's stream is detached");
        await using var again = new MultiplexClient(_client.StreamMultiplexed());
        await again.SubscribeAsync("managed", new StreamRequest { SubscriptionId = id });
        var redelivered = await again.ReceiveEventsAsync(2);

        Assert.That(redelivered.Select(e => e.EventId), Is.EqualTo(new[] { $"{order}-3", $"{order}-4" }));
        Assert.That(Stream(redelivered, id).Select(d => d.Sequence), Is.EqualTo(new[] { 4L, 5L }));
    }

    [Test]
    public async Task Pausing_a_managed_subscription_ends_it_on_the_call_and_the_others_go_on()
    {
        var (id, order) = await ManagedSubscriptions.CreateWatchingNewOrderAsync(_channel, "gpause", "reporting");
        await using var call = new MultiplexClient(_client.StreamMultiplexed());
        await call.SubscribeAsync("managed", new StreamRequest { SubscriptionId = id });
        var adhoc = (await call.SubscribeAsync("adhoc", Watching(order))).SubscriptionId;

        await _client.ManageSubscriptionAsync(new SubscriptionRequest { Action = SubscriptionAction.Pause, SubscriptionId = id });
        var ended = (await call.ReceiveAsync(m => m.BodyCase == MultiplexedMessage.BodyOneofCase.Unsubscribed)).Unsubscribed;
        _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-after"));
        var after = await call.ReceiveEventsAsync(1);

        Assert.That((ended.SubscriptionId, ended.RequestId), Is.EqualTo((id, string.Empty)));
        Assert.That(ended.Reason, Does.Contain("paused"));
        Assert.That(after[0].Deliveries.Select(d => d.SubscriptionId), Is.EqualTo(new[] { adhoc }));
    }

    [Test]
    public async Task A_call_whose_client_has_half_closed_streams_on_and_an_idle_one_gets_heartbeats_with_every_resume_token()
    {
        var order = $"half-{Guid.NewGuid():N}";
        await using var call = new MultiplexClient(_client.StreamMultiplexed());
        var opened = await call.SubscribeAsync("w", Watching(order));
        await call.CompleteAsync();

        var heartbeat = (await call.ReceiveAsync(m => m.BodyCase == MultiplexedMessage.BodyOneofCase.Heartbeat)).Heartbeat;
        _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-1"));
        var events = await call.ReceiveEventsAsync(1);

        Assert.That(opened.Snapshot, Is.Not.Null, "an ad hoc subscription watching orders gets their state first");
        Assert.That(heartbeat.ResumeTokens, Does.ContainKey(opened.SubscriptionId));
        Assert.That(events[0].EventId, Is.EqualTo($"{order}-1"));
    }

    [Test]
    public async Task A_call_whose_client_half_closes_with_no_subscription_ends_with_ok()
    {
        using var call = _client.StreamMultiplexed();
        await call.RequestStream.CompleteAsync();

        var more = await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(more, Is.False);
        Assert.That(call.GetStatus().StatusCode, Is.EqualTo(StatusCode.OK));
    }

    internal static List<(string EventId, long Sequence)> Stream(List<TaggedEvent> received, string subscription) =>
        [.. received.SelectMany(e => e.Deliveries.Where(d => d.SubscriptionId == subscription).Select(d => (e.EventId, d.Sequence)))];
}

/// <summary>A test's side of a multiplexed call: commands out; replies and events read in order, with a deadline.</summary>
internal sealed class MultiplexClient(AsyncDuplexStreamingCall<StreamCommand, MultiplexedMessage> call) : IAsyncDisposable
{
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromSeconds(60));
    private readonly List<MultiplexedMessage> _backlog = [];

    public Dictionary<string, string> LastResumeTokens { get; } = [];

    public Task SendAsync(StreamCommand command) => call.RequestStream.WriteAsync(command, _timeout.Token);

    public Task CompleteAsync() => call.RequestStream.CompleteAsync();

    public async Task<SubscriptionOpened> SubscribeAsync(string requestId, StreamRequest request)
    {
        await SendAsync(new StreamCommand { RequestId = requestId, Subscribe = request });
        var reply = await ReceiveAsync(m => m.Subscribed?.RequestId == requestId || m.Error?.RequestId == requestId);
        Assert.That(reply.Error, Is.Null, $"subscribe {requestId}: {reply.Error?.Code} {reply.Error?.Message}");
        return reply.Subscribed;
    }

    public async Task<CommandError> RefusedAsync(StreamCommand command)
    {
        await SendAsync(command);
        var reply = await ReceiveAsync(m => m.Error?.RequestId == command.RequestId || m.Subscribed?.RequestId == command.RequestId);
        Assert.That(reply.Error, Is.Not.Null, $"{command.RequestId} is refused");
        return reply.Error;
    }

    /// <summary>The next message that matches; others are kept for later reads.</summary>
    public async Task<MultiplexedMessage> ReceiveAsync(Func<MultiplexedMessage, bool> match)
    {
        var kept = _backlog.FindIndex(m => match(m));
        if (kept >= 0)
        {
            var message = _backlog[kept];
            _backlog.RemoveAt(kept);
            return message;
        }

        while (true)
        {
            var next = await NextAsync();
            if (match(next))
            {
                return next;
            }

            _backlog.Add(next);
        }
    }

    /// <summary>Reads events batches until <paramref name="count"/> events arrived (other messages are kept).</summary>
    public async Task<List<TaggedEvent>> ReceiveEventsAsync(int count)
    {
        var events = new List<TaggedEvent>();
        while (events.Count < count)
        {
            var batch = (await ReceiveAsync(m => m.BodyCase == MultiplexedMessage.BodyOneofCase.Events)).Events;
            events.AddRange(batch.Events);
            foreach (var (id, token) in batch.ResumeTokens)
            {
                LastResumeTokens[id] = token;
            }
        }

        return events;
    }

    private async Task<MultiplexedMessage> NextAsync()
    {
        if (!await call.ResponseStream.MoveNext(_timeout.Token))
        {
            throw new InvalidOperationException($"the call ended: {call.GetStatus()}");
        }

        return call.ResponseStream.Current;
    }

    public ValueTask DisposeAsync()
    {
        call.Dispose();
        _timeout.Dispose();
        return ValueTask.CompletedTask;
    }
}
