using System.Text.Json.Nodes;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Tests.Support;
using Grpc.Net.Client;

namespace ExecutionDistribution.Tests.Streaming.WebSockets;

/// <summary>One WebSocket connection carrying several subscriptions (<c>?multiplex=true</c>), over real sockets.</summary>
[Category("Unit")]
public sealed class MultiplexedStreamTests
{
    private ServiceHost _host = null!;
    private GrpcChannel _channel = null!;

    [OneTimeSetUp]
    public async Task StartHost()
    {
        _host = await ServiceHost.StartAsync("--WebSocket:MaxSubscriptionsPerConnection=3");
        _channel = GrpcChannel.ForAddress(_host.GrpcAddress);
    }

    [OneTimeTearDown]
    public async Task StopHost()
    {
        _channel.Dispose();
        await _host.DisposeAsync();
    }

    [Test]
    public async Task An_event_that_several_subscriptions_take_travels_once_tagged_with_each_subscription_and_its_sequence()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        string o1 = $"{run}-O1", o2 = $"{run}-O2";
        await using var client = await StreamClient.ConnectAsync(_host, "multiplex=true");
        var fills = await SubscribeAsync(client, "fills", $$"""{"order_ids":["{{o1}}"],"data_types":["FILL_NOTIFICATION"]}""");
        var both = await SubscribeAsync(client, "both", $$"""{"order_ids":"{{o1}},{{o2}}"}""");

        var (expectedFills, expectedBoth) = OverlappingStreams.Publish(_host.Core, run, o1, o2);

        var received = await ReceiveMultiplexedAsync(client, expectedBoth.Count);

        Assert.That(received.Select(r => r.EventId), Is.Unique, "each event travels once on the connection");
        Assert.That(received.Select(r => r.EventId), Is.EqualTo(expectedBoth), "in log order");
        Assert.That(Stream(received, fills).Select(d => d.EventId), Is.EqualTo(expectedFills));
        Assert.That(Stream(received, fills).Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, expectedFills.Count).Select(i => (long)i)));
        Assert.That(Stream(received, both).Select(d => d.EventId), Is.EqualTo(expectedBoth));
        Assert.That(Stream(received, both).Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, expectedBoth.Count).Select(i => (long)i)));
        Assert.That(received.Where(r => r.EventId.Contains("-f", StringComparison.Ordinal)).Select(r => r.Tags.Count), Has.All.EqualTo(2));
    }

    [Test]
    public async Task A_subscription_resumed_on_a_new_connection_from_its_resume_token_gets_exactly_what_it_missed()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        string o1 = $"{run}-O1", o2 = $"{run}-O2";
        string wide, token;
        await using (var first = await StreamClient.ConnectAsync(_host, "multiplex=true"))
        {
            await SubscribeAsync(first, "narrow", $$"""{"order_ids":["{{o1}}"]}""");
            wide = await SubscribeAsync(first, "wide", $$"""{"order_ids":["{{o1}}","{{o2}}"]}""");
            for (var i = 0; i < 300; i++)
            {
                _host.Core.TryPublish(Events.Fill(i % 2 == 0 ? o1 : o2, eventId: $"{run}-a{i}"));
            }

            await ReceiveMultiplexedAsync(first, 300);
            token = first.LastResumeTokens[wide];
        }

        for (var i = 0; i < 50; i++)
        {
            _host.Core.TryPublish(Events.Fill(o2, eventId: $"{run}-b{i}"));
        }

        await using var second = await StreamClient.ConnectAsync(_host, "multiplex=true");
        var resumed = await SubscribeAsync(second, "again", $$"""{"order_ids":["{{o1}}","{{o2}}"],"resume_token":"{{token}}"}""");
        var missed = await ReceiveMultiplexedAsync(second, 50);

        Assert.That(missed.Select(r => r.EventId), Is.EqualTo(Enumerable.Range(0, 50).Select(i => $"{run}-b{i}")));
        Assert.That(Stream(missed, resumed).Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(301, 50).Select(i => (long)i)));
    }

    [Test]
    public async Task Unsubscribing_one_subscription_leaves_the_others_on_the_connection_streaming()
    {
        var order = $"unsub-{Guid.NewGuid():N}";
        await using var client = await StreamClient.ConnectAsync(_host, $"multiplex=true&order_ids={order}");
        var first = (string)(await client.ReceiveUntilAsync(f => (string?)f["type"] == "subscribed"))["subscription_id"]!;
        var second = await SubscribeAsync(client, "second", $$"""{"order_ids":["{{order}}"],"delivery_guarantee":"at_most_once"}""");

        await client.SendAsync($$"""{"type":"unsubscribe","subscription_id":"{{first}}"}""");
        var ended = await client.ReceiveUntilAsync(f => (string?)f["type"] == "unsubscribed");
        _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-after"));
        var after = await ReceiveMultiplexedAsync(client, 1);

        Assert.That((string?)ended["subscription_id"], Is.EqualTo(first));
        Assert.That((string?)ended["reason"], Does.Contain("unsubscribed"));
        Assert.That(after[0].EventId, Is.EqualTo($"{order}-after"));
        Assert.That(after[0].Tags.Select(t => t.Subscription), Is.EqualTo(new[] { second }));
    }

    [Test]
    public async Task A_bad_subscribe_message_is_answered_with_an_error_naming_the_field_and_the_connection_goes_on()
    {
        var order = $"bad-{Guid.NewGuid():N}";
        await using var client = await StreamClient.ConnectAsync(_host, "multiplex=true");

        await client.SendAsync("""{"type":"subscribe","request_id":"r1","data_types":["FILLS"]}""");
        var badType = await client.ReceiveUntilAsync(f => (string?)f["type"] == "error");
        await client.SendAsync("""{"type":"subscribe","request_id":"r2","colour":"blue"}""");
        var unknown = await client.ReceiveUntilAsync(f => (string?)f["type"] == "error");
        await client.SendAsync("""{"type":"subscribe","request_id":"r3","min_priority":{"at":1}}""");
        var shape = await client.ReceiveUntilAsync(f => (string?)f["type"] == "error");
        // Valid JSON whose string is no text: an escaped lone surrogate, in a list and alone.
        await client.SendAsync("""{"type":"subscribe","request_id":"r5","order_ids":["\ud800"]}""");
        var surrogate = await client.ReceiveUntilAsync(f => (string?)f["type"] == "error");
        await client.SendAsync("""{"type":"subscribe","request_id":"r6","venues":"\udfff"}""");
        var lone = await client.ReceiveUntilAsync(f => (string?)f["type"] == "error");
        await client.SendAsync("""{"type":"\ud800"}""");
        var badKind = await client.ReceiveUntilAsync(f => (string?)f["type"] == "error");
        var good = await SubscribeAsync(client, "r4", $$"""{"order_ids":["{{order}}"]}""");
        _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-1"));
        var events = await ReceiveMultiplexedAsync(client, 1);

        Assert.That((string?)badType["request_id"], Is.EqualTo("r1"));
        Assert.That((string?)badType["message"], Does.StartWith("data_types[0]"));
        Assert.That((string?)unknown["message"], Does.StartWith("colour"));
        Assert.That((string?)shape["message"], Does.StartWith("min_priority"));
        Assert.That((string?)surrogate["message"], Does.StartWith("order_ids[0]"));
        Assert.That((string?)lone["message"], Does.StartWith("venues"));
        Assert.That((string?)badKind["message"], Does.StartWith("type"));
        Assert.That(events[0].Tags.Single().Subscription, Is.EqualTo(good));
    }

    [Test]
    public async Task A_connection_refuses_subscriptions_beyond_its_limit_and_keeps_the_ones_it_has()
    {
        await using var client = await StreamClient.ConnectAsync(_host, "multiplex=true");
        for (var i = 0; i < 3; i++)
        {
            await SubscribeAsync(client, $"s{i}", $$"""{"order_ids":["limit-{{i}}-{{Guid.NewGuid():N}}"]}""");
        }

        await client.SendAsync("""{"type":"subscribe","request_id":"s3","topics":["#"]}""");
        var refused = await client.ReceiveUntilAsync(f => (string?)f["type"] == "error");
        await client.SendAsync("""{"type":"ping"}""");
        var pong = await client.ReceiveUntilAsync(f => (string?)f["type"] == "pong");

        Assert.That((string?)refused["request_id"], Is.EqualTo("s3"));
        Assert.That((string?)refused["message"], Does.Contain("MaxSubscriptionsPerConnection"));
        Assert.That(pong, Is.Not.Null);
    }

    [Test]
    public async Task A_managed_subscription_on_a_multiplexed_connection_is_acknowledged_by_its_id()
    {
        var (id, order) = await ManagedSubscriptions.CreateWatchingNewOrderAsync(_channel, "mux", "risk_management");
        await using var client = await StreamClient.ConnectAsync(_host, "multiplex=true");
        await SubscribeAsync(client, "managed", $$"""{"subscription_id":"{{id}}"}""");
        await SubscribeAsync(client, "adhoc", $$"""{"order_ids":["{{order}}"]}""");
        for (var i = 0; i < 3; i++)
        {
            _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-{i}"));
        }

        var received = await ReceiveMultiplexedAsync(client, 3);
        var token = client.LastResumeTokens[id];
        await client.SendAsync($$"""{"type":"ack","resume_token":"{{token}}"}""");
        var ambiguous = await client.ReceiveUntilAsync(f => (string?)f["type"] == "error");
        await client.SendAsync($$"""{"type":"ack","subscription_id":"{{id}}","resume_token":"{{token}}"}""");
        var acked = await client.ReceiveUntilAsync(f => (string?)f["type"] == "acked");
        var stored = new ExecutionStream.ExecutionStreamClient(_channel)
            .ManageSubscription(new SubscriptionRequest { Action = SubscriptionAction.Get, SubscriptionId = id }).Subscription;

        Assert.That(received.Select(r => r.Tags.Count), Has.All.EqualTo(2));
        Assert.That((string?)ambiguous["message"], Does.StartWith("subscription_id: required"));
        Assert.That(((string?)acked["subscription_id"], (long?)acked["acknowledged_sequence"]), Is.EqualTo((id, 3L)));
        Assert.That(stored.Streaming, Is.True);
    }

    [Test]
    public async Task Subscribe_messages_on_a_single_subscription_connection_are_refused_with_an_error_frame()
    {
        await using var client = await StreamClient.ConnectAsync(_host, $"order_ids=single-{Guid.NewGuid():N}");
        await client.ReceiveAsync();

        await client.SendAsync("""{"type":"subscribe","request_id":"x","topics":["#"]}""");
        var error = await client.ReceiveUntilAsync(f => (string?)f["type"] == "error");

        Assert.That((string?)error["message"], Does.Contain("multiplex=true"));
    }

    internal static async Task<string> SubscribeAsync(StreamClient client, string requestId, string fields)
    {
        var body = JsonNode.Parse(fields)!.AsObject();
        body["type"] = "subscribe";
        body["request_id"] = requestId;
        await client.SendAsync(body.ToJsonString());
        var reply = await client.ReceiveUntilAsync(f => (string?)f["request_id"] == requestId);
        Assert.That((string?)reply["type"], Is.EqualTo("subscribed"), reply.ToJsonString());
        return (string)reply["subscription_id"]!;
    }

    internal static IEnumerable<(string EventId, long Sequence)> Stream(List<Received> received, string subscription) =>
        received.SelectMany(r => r.Tags.Where(t => t.Subscription == subscription).Select(t => (r.EventId, t.Sequence)));

    internal static async Task<List<Received>> ReceiveMultiplexedAsync(StreamClient client, int count)
    {
        var events = new List<Received>();
        while (events.Count < count)
        {
            var frame = await client.ReceiveAsync();
            if ((string?)frame["type"] != "events")
            {
                continue;
            }

            foreach (var item in frame["events"]!.AsArray())
            {
                var tags = item!["deliveries"]!.AsArray().Select(d => ((string)d!["subscription_id"]!, (long)d["sequence"]!)).ToList();
                events.Add(new Received((string)item["event"]!["event_id"]!, tags));
            }
        }

        return events;
    }

    internal sealed record Received(string EventId, List<(string Subscription, long Sequence)> Tags);
}
