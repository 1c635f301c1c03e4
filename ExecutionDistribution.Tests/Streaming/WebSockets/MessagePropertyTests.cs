using CsCheck;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Streaming.WebSockets;

/// <summary>
/// A multiplexed WebSocket connection fed generated client messages (InputGen): each one is answered
/// and the connection goes on, and the subscription it carried from the start still gets its events
/// after all of them. A fixed seed; EXECDIST_FUZZ_CASES runs more.
/// </summary>
[Category("Unit")]
public sealed class MessagePropertyTests
{
    private static readonly InputGen.Document Subscribe = InputGen.Document.Of(
        InputGen.Document.Field("type", "\"subscribe\""),
        InputGen.Document.Field("order_ids", "[\"prop-order\"]"),
        InputGen.Document.Field("data_types", "[\"FILL_NOTIFICATION\"]"),
        InputGen.Document.Field("routing_keys", "[\"AAPL.#\"]"),
        InputGen.Document.Field("min_priority", "2"),
        InputGen.Document.Field("delivery_guarantee", "\"at_most_once\""),
        InputGen.Document.Field("resume_token", "\"\""));

    private static readonly InputGen.Document Ack = InputGen.Document.Of(
        InputGen.Document.Field("type", "\"ack\""),
        InputGen.Document.Field("subscription_id", "\"sub\""),
        InputGen.Document.Field("resume_token", "\"token\""));

    private static readonly InputGen.Document Unsubscribe = InputGen.Document.Of(
        InputGen.Document.Field("type", "\"unsubscribe\""),
        InputGen.Document.Field("subscription_id", "\"sub\""));

    private static readonly Gen<string> Messages = Gen.Frequency(
        (4, Subscribe.Mutated), (2, Ack.Mutated), (2, Unsubscribe.Mutated), (1, InputGen.Value),
        (1, Gen.OneOf("", "{", "not json", "[]", "{\"type\":\"ping\"", "\"ping\"")));

    [Test]
    public async Task No_client_message_ends_a_multiplexed_connection_or_its_other_subscriptions()
    {
        await using var host = await ServiceHost.StartAsync("--WebSocket:MaxSubscriptionsPerConnection=1000");
        var order = $"prop-{Guid.NewGuid():N}";
        await using var client = await StreamClient.ConnectAsync(host, $"multiplex=true&order_ids={order}");
        var kept = (string)(await client.ReceiveUntilAsync(f => (string?)f["type"] == "subscribed"))["subscription_id"]!;

        var i = 0;
        foreach (var message in InputGen.Draw(Messages, InputGen.Cases(1_000), seed: 20261207))
        {
            await client.SendAsync(message);
            // A ping after each message: its pong proves the connection read the message and goes on.
            var ping = $"ping-{i++}";
            await client.SendAsync($$"""{"type":"ping","request_id":"{{ping}}"}""");
            await client.ReceiveUntilAsync(f => (string?)f["type"] == "pong" && (string?)f["request_id"] == ping);
        }

        host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-after"));
        var frame = await client.ReceiveUntilAsync(f => (string?)f["type"] == "events"
            && f["events"]!.AsArray().Any(e => (string?)e!["event"]!["event_id"] == $"{order}-after"));
        var delivery = frame["events"]!.AsArray().First(e => (string?)e!["event"]!["event_id"] == $"{order}-after")!["deliveries"]!.AsArray();
        Assert.That(delivery.Select(d => (string?)d!["subscription_id"]), Does.Contain(kept), "the first subscription still streams");
    }

    [Test]
    public async Task A_text_message_that_is_not_utf8_closes_a_multiplexed_connection_with_1007()
    {
        await using var host = await ServiceHost.StartAsync();
        using var socket = new System.Net.WebSockets.ClientWebSocket();
        await socket.ConnectAsync(new UriBuilder(host.BaseAddress) { Scheme = "ws", Path = "/api/v1/execution/stream", Query = "multiplex=true" }.Uri, CancellationToken.None);

        // A text frame of invalid UTF-8 (0xC3 0x28): the WebSocket protocol says the endpoint fails the connection with 1007.
        await socket.SendAsync(new byte[] { 0x7B, 0xC3, 0x28, 0x7D }, System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None);

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new byte[4096];
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, deadline.Token);
            if (result.MessageType == System.Net.WebSockets.WebSocketMessageType.Close)
            {
                break;
            }
        }

        Assert.That(socket.CloseStatus, Is.EqualTo(System.Net.WebSockets.WebSocketCloseStatus.InvalidPayloadData), socket.CloseStatusDescription);
    }
}
