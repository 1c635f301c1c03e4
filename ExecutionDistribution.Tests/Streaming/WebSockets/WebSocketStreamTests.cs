using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace ExecutionDistribution.Tests.Streaming.WebSockets;

/// <summary>WebSocket /api/v1/execution/stream over real sockets on 127.0.0.1.</summary>
[Category("Unit")]
public sealed class WebSocketStreamTests
{
    private ServiceHost _host = null!;

    [OneTimeSetUp]
    public async Task StartHost() => _host = await ServiceHost.StartAsync("--WebSocket:HeartbeatInterval=00:00:00.500", "--WebSocket:BufferCapacity=256");

    [OneTimeTearDown]
    public async Task StopHost() => await _host.DisposeAsync();

    [Test]
    public async Task A_stream_receives_only_its_filtered_events_in_order_with_sequences_and_resume_tokens()
    {
        var order = $"ws-{Guid.NewGuid():N}";
        await using var client = await StreamClient.ConnectAsync(_host, $"order_ids={order}&data_types=FILL_NOTIFICATION,ORDER_UPDATE");
        var subscribed = await client.ReceiveAsync();
        Assert.That((string?)subscribed["type"], Is.EqualTo("subscribed"));

        var expected = new List<string>();
        for (var i = 0; i < 200; i++)
        {
            var e = i % 2 == 0 ? Events.Fill(order, eventId: $"{order}-{i}") : Events.Order(order, eventId: $"{order}-{i}");
            expected.Add(e.EventId);
            _host.Core.TryPublish(e);
            _host.Core.TryPublish(Events.Fill("someone-else"));
            _host.Core.TryPublish(Events.Venue());
        }

        var received = await client.ReceiveEventsAsync(expected.Count);
        Assert.That(received.Select(r => r.EventId), Is.EqualTo(expected));
        Assert.That(received.Select(r => r.Sequence), Is.EqualTo(Enumerable.Range(1, expected.Count).Select(i => (long)i)));
        Assert.That(client.LastResumeToken, Is.Not.Empty);
    }

    [Test]
    public async Task Reconnecting_with_the_last_resume_token_delivers_exactly_what_was_missed()
    {
        var order = $"ws-{Guid.NewGuid():N}";
        string token;
        await using (var first = await StreamClient.ConnectAsync(_host, $"order_ids={order}"))
        {
            await first.ReceiveAsync();
            for (var i = 0; i < 30; i++)
            {
                _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-a{i}"));
            }

            var seen = await first.ReceiveEventsAsync(30);
            Assert.That(seen.Last().Sequence, Is.EqualTo(30));
            token = first.LastResumeToken;
        }

        for (var i = 0; i < 20; i++)
        {
            _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-b{i}"));
        }

        await Eventually.WaitUntilAsync(() => _host.Core.TryGetRetained(_host.Core.Head - 1, out var last) && last.EventId == $"{order}-b19", "missed events ingested");
        await using var second = await StreamClient.ConnectAsync(_host, $"order_ids={order}&resume_token={token}");
        await second.ReceiveAsync();
        _host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-c0"));

        var resumed = await second.ReceiveEventsAsync(21);
        Assert.That(resumed.Select(r => r.EventId), Is.EqualTo(Enumerable.Range(0, 20).Select(i => $"{order}-b{i}").Append($"{order}-c0")));
        Assert.That(resumed.Select(r => r.Sequence), Is.EqualTo(Enumerable.Range(31, 21).Select(i => (long)i)));
    }

    [TestCase("data_types=FILLS", "data_types[0]")]
    [TestCase("routing_keys=AAPL..fill", "routing_keys[0]")]
    [TestCase("min_priority=0", "min_priority")]
    [TestCase("min_priority=high", "min_priority")]
    [TestCase("delivery_guarantee=exactly_once", "delivery_guarantee")]
    [TestCase("resume_token=not-a-token", "resume_token")]
    public async Task Invalid_parameters_close_the_stream_with_1008_naming_the_parameter(string query, string field)
    {
        await using var client = await StreamClient.ConnectAsync(_host, query);

        var close = await client.ReceiveCloseAsync();

        Assert.That(close.Status, Is.EqualTo(WebSocketCloseStatus.PolicyViolation));
        Assert.That(close.Reason, Does.StartWith(field));
    }

    [Test]
    public async Task A_resume_token_of_another_cluster_or_run_is_refused_not_silently_gapped()
    {
        var foreign = new ExecutionDistribution.Core.ResumeToken(Guid.NewGuid(), [], 5).Encode();
        await using var client = await StreamClient.ConnectAsync(_host, $"resume_token={foreign}");

        var close = await client.ReceiveCloseAsync();

        Assert.That(close.Status, Is.EqualTo(WebSocketCloseStatus.PolicyViolation));
        Assert.That(close.Reason, Does.Contain("another cluster"));
    }

    [Test]
    public async Task An_idle_stream_gets_heartbeats_and_ping_gets_pong()
    {
        await using var client = await StreamClient.ConnectAsync(_host, $"order_ids=idle-{Guid.NewGuid():N}");
        await client.ReceiveAsync();

        var heartbeat = await client.ReceiveUntilAsync(f => (string?)f["type"] == "heartbeat");
        await client.SendAsync("""{"type":"ping"}""");
        var next = await client.ReceiveUntilAsync(f => (string?)f["type"] == "pong");

        Assert.That((string?)heartbeat["type"], Is.EqualTo("heartbeat"));
        Assert.That((string?)heartbeat["resume_token"], Is.Not.Empty);
        Assert.That((string?)next["type"], Is.EqualTo("pong"));
    }

    [Test]
    public async Task Pings_answered_while_events_stream_arrive_as_whole_frames_and_no_event_is_lost_or_reordered()
    {
        var order = $"ws-pings-{Guid.NewGuid():N}";
        await using var client = await StreamClient.ConnectAsync(_host, $"order_ids={order}&delivery_guarantee=at_least_once");
        await client.ReceiveAsync();

        // The pongs take the connection's writer between the frames the core's delivery loop sends.
        const int pings = 100;
        var pinging = Task.Run(async () =>
        {
            for (var i = 0; i < pings; i++)
            {
                await client.SendAsync($$"""{"type":"ping","request_id":"p{{i}}"}""");
            }
        });
        var expected = new List<string>();
        for (var i = 0; i < 1_000; i++)
        {
            var e = Events.Fill(order, eventId: $"{order}-{i}");
            expected.Add(e.EventId);
            _host.Core.TryPublish(e);
        }

        var events = new List<(string EventId, long Sequence)>();
        var pongs = new List<string?>();
        while (events.Count < expected.Count || pongs.Count < pings)
        {
            var frame = await client.ReceiveAsync();
            switch ((string?)frame["type"])
            {
                case "events":
                    events.AddRange(frame["events"]!.AsArray().Select(e => ((string)e!["event"]!["event_id"]!, (long)e["sequence"]!)));
                    break;
                case "pong":
                    pongs.Add((string?)frame["request_id"]);
                    break;
            }
        }

        await pinging;
        Assert.That(events.Select(e => e.EventId), Is.EqualTo(expected));
        Assert.That(events.Select(e => e.Sequence), Is.EqualTo(Enumerable.Range(1, expected.Count).Select(i => (long)i)));
        Assert.That(pongs, Is.EqualTo(Enumerable.Range(0, pings).Select(i => $"p{i}")), "every ping answered once, in order");
    }

    [Test]
    public async Task A_client_message_that_is_not_json_or_not_utf8_gets_an_error_frame_and_the_stream_goes_on()
    {
        await using var client = await StreamClient.ConnectAsync(_host, $"order_ids=bad-msg-{Guid.NewGuid():N}");
        await client.ReceiveAsync();

        await client.SendAsync("not json");
        var notJson = await client.ReceiveUntilAsync(f => (string?)f["type"] == "error");
        byte[] invalid = [.. "{\"type\":\"ack\",\"subscription_id\":\""u8, 0xC3, 0x28, .. "\"}"u8];
        await client.SendBinaryAsync(invalid);
        var notUtf8 = await client.ReceiveUntilAsync(f => (string?)f["type"] == "error");
        await client.SendAsync("""{"type":"ping"}""");
        var pong = await client.ReceiveUntilAsync(f => (string?)f["type"] == "pong");

        Assert.That((string?)notJson["message"], Is.EqualTo("the message is not JSON"));
        Assert.That((string?)notUtf8["message"], Is.EqualTo("the message is not valid UTF-8"));
        Assert.That((string?)pong["type"], Is.EqualTo("pong"), "the stream goes on");
    }

    [Test]
    public async Task A_client_that_stops_reading_is_isolated_and_at_most_once_drops_are_announced()
    {
        var order = $"slow-{Guid.NewGuid():N}";
        await using var stalled = await StreamClient.ConnectAsync(_host, $"order_ids={order}&delivery_guarantee=at_most_once");
        await using var healthy = await StreamClient.ConnectAsync(_host, $"order_ids={order}");
        await stalled.ReceiveAsync();
        await healthy.ReceiveAsync();

        // Enough bytes to fill the stalled client's socket buffers and then its 256-event stream buffer.
        const int n = 20_000;
        var reading = healthy.ReceiveEventsAsync(n);
        for (var i = 0; i < n; i++)
        {
            await _host.Core.PublishAsync(Events.Fill(order, eventId: $"{order}-{i}"), CancellationToken.None);
        }

        var received = await reading;
        Assert.That(received.Select(r => r.Sequence), Is.EqualTo(Enumerable.Range(1, n).Select(i => (long)i)), "the healthy stream gets everything");

        var total = 0L;
        var dropped = 0L;
        while (total + dropped < n)
        {
            var frame = await stalled.ReceiveAsync();
            dropped += (long?)frame["dropped"] ?? 0;
            total += frame["events"]?.AsArray().Count ?? 0;
        }

        Assert.That(dropped, Is.GreaterThan(0), "the stalled at_most_once stream was told what it lost");
        Assert.That(total + dropped, Is.EqualTo(n));
    }

    [Test]
    public async Task A_client_that_stops_reading_and_then_vanishes_ends_its_stream_and_frees_its_place()
    {
        // One stream per client: the next connection is accepted only once the stalled one's stream has ended.
        await using var host = await ServiceHost.StartAsync("--WebSocket:MaxStreamsPerClient=1", "--WebSocket:BufferCapacity=256");
        var order = $"vanish-{Guid.NewGuid():N}";
        var stalled = await StreamClient.ConnectAsync(host, $"order_ids={order}&delivery_guarantee=at_most_once");
        await stalled.ReceiveAsync();

        // Until the stream's send waits for the client (its socket buffers are full) and its buffer overflows.
        const int most = 1_000_000;
        var published = 0;
        for (; host.Core.GetStats().Dropped == 0 && published < most; published++)
        {
            await host.Core.PublishAsync(Events.Fill(order, eventId: $"{order}-{published}"), CancellationToken.None);
        }

        Assert.That(published, Is.LessThan(most), "the stalled stream's buffer overflowed");

        stalled.Abort();

        // Each attempt waits for the service's answer: "subscribed", or 1008 while the stalled stream holds the place.
        using var deadline = new CancellationTokenSource(Eventually.DefaultTimeout);
        JsonObject? subscribed = null;
        while (subscribed is null)
        {
            Assert.That(deadline.IsCancellationRequested, Is.False, "a new stream from the same client is accepted in time");
            await using var next = await StreamClient.ConnectAsync(host, $"order_ids={order}");
            try
            {
                subscribed = await next.ReceiveAsync();
            }
            catch (InvalidOperationException)
            {
                // Closed 1008: not yet.
            }
        }

        Assert.That((string?)subscribed!["type"], Is.EqualTo("subscribed"));
    }

    [Test]
    public async Task A_thousand_concurrent_streams_each_receive_their_filtered_events_in_order()
    {
        const int streams = 1_000;
        const int orders = 100;
        var run = Guid.NewGuid().ToString("N")[..8];
        var clients = new StreamClient[streams];
        for (var i = 0; i < streams; i += 100)
        {
            var batch = await Task.WhenAll(Enumerable.Range(i, 100).Select(k => StreamClient.ConnectAsync(_host, $"order_ids={run}-O{k % orders}")));
            batch.CopyTo(clients, i);
        }

        await Task.WhenAll(clients.Select(c => c.ReceiveAsync()));
        const int perOrder = 20;
        for (var s = 0; s < perOrder; s++)
        {
            for (var o = 0; o < orders; o++)
            {
                await _host.Core.PublishAsync(Events.Fill($"{run}-O{o}", eventId: $"{run}-O{o}#{s}"), CancellationToken.None);
            }
        }

        var results = await Task.WhenAll(clients.Select(c => c.ReceiveEventsAsync(perOrder)));
        for (var i = 0; i < streams; i++)
        {
            Assert.That(results[i].Select(r => r.EventId), Is.EqualTo(Enumerable.Range(0, perOrder).Select(s => $"{run}-O{i % orders}#{s}")), $"stream {i}");
        }

        await Task.WhenAll(clients.Select(c => c.DisposeAsync().AsTask()));
    }
}

/// <summary>A WebSocket client of the stream for tests.</summary>
internal sealed class StreamClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;
    private readonly byte[] _buffer = new byte[1 << 20];

    private StreamClient(ClientWebSocket socket) => _socket = socket;

    public string LastResumeToken { get; private set; } = string.Empty;

    /// <summary>On a multiplexed connection: the last resume token of each subscription.</summary>
    public Dictionary<string, string> LastResumeTokens { get; } = new(StringComparer.Ordinal);

    public static Task<StreamClient> ConnectAsync(ServiceHost host, string query, string? bearer = null) => ConnectAsync(host.BaseAddress, query, bearer);

    /// <summary>The client's socket (its close status, once closed).</summary>
    public ClientWebSocket Socket => _socket;

    public static async Task<StreamClient> ConnectAsync(Uri baseAddress, string query, string? bearer = null)
    {
        var socket = new ClientWebSocket();
        if (bearer is not null)
        {
            socket.Options.SetRequestHeader("Authorization", $"Bearer {bearer}");
        }

        var uri = new UriBuilder(baseAddress) { Scheme = "ws", Path = "/api/v1/execution/stream", Query = query }.Uri;
        await socket.ConnectAsync(uri, CancellationToken.None);
        return new StreamClient(socket);
    }

    public async Task SendAsync(string text) =>
        await _socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    public async Task SendBinaryAsync(byte[] bytes) =>
        await _socket.SendAsync(bytes, WebSocketMessageType.Binary, true, CancellationToken.None);

    public async Task<JsonObject> ReceiveAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var length = 0;
        while (true)
        {
            var result = await _socket.ReceiveAsync(_buffer.AsMemory(length), timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException($"closed: {_socket.CloseStatus} {_socket.CloseStatusDescription}");
            }

            length += result.Count;
            if (result.EndOfMessage)
            {
                var frame = JsonNode.Parse(_buffer.AsSpan(0, length))!.AsObject();
                if ((string?)frame["resume_token"] is { Length: > 0 } token)
                {
                    LastResumeToken = token;
                }

                if (frame["resume_tokens"] is JsonObject tokens)
                {
                    foreach (var (id, value) in tokens)
                    {
                        LastResumeTokens[id] = (string)value!;
                    }
                }

                return frame;
            }
        }
    }

    public async Task<JsonObject> ReceiveUntilAsync(Func<JsonObject, bool> predicate)
    {
        // A deadline for the whole wait, not per frame: heartbeats would keep a wait for a frame that never comes alive.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the frame waited for did not come within 90 s");
            }

            var frame = await ReceiveAsync();
            if (predicate(frame))
            {
                return frame;
            }
        }
    }

    public async Task<List<(string EventId, long Sequence)>> ReceiveEventsAsync(int count)
    {
        var events = new List<(string, long)>();
        while (events.Count < count)
        {
            var frame = await ReceiveAsync();
            if ((string?)frame["type"] != "events")
            {
                continue;
            }

            events.AddRange(EventsOf(frame));
        }

        return events;
    }

    /// <summary>The event ids and sequence numbers of an <c>events</c> frame, in frame order.</summary>
    public static IEnumerable<(string EventId, long Sequence)> EventsOf(JsonObject frame) =>
        frame["events"]!.AsArray().Select(item => ((string)item!["event"]!["event_id"]!, (long)item["sequence"]!));

    public async Task<(WebSocketCloseStatus? Status, string? Reason)> ReceiveCloseAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var result = await _socket.ReceiveAsync(_buffer, timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return (result.CloseStatus, result.CloseStatusDescription);
            }
        }
    }

    /// <summary>Drops the connection without a close handshake, as a client that crashed.</summary>
    public void Abort() => _socket.Abort();

    public async ValueTask DisposeAsync()
    {
        if (_socket.State == WebSocketState.Open)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
                // The server closed first.
            }
        }

        _socket.Dispose();
    }
}

/// <summary>Stopping the service (a drain) sends every subscription's token in a reconnect frame, then closes with 1012, so clients resume elsewhere.</summary>
public sealed class WebSocketShutdownTests
{
    [Test]
    public async Task Stopping_the_service_sends_the_tokens_to_reconnect_with_and_closes_streams_with_1012()
    {
        var host = await ServiceHost.StartAsync();
        await using var client = await StreamClient.ConnectAsync(host, "order_ids=shutdown");
        var subscribed = await client.ReceiveAsync();

        var stopping = host.DisposeAsync().AsTask();
        var reconnect = await client.ReceiveUntilAsync(f => (string?)f["type"] == "reconnect");
        var close = await client.ReceiveCloseAsync();
        await stopping;

        Assert.That((string?)reconnect["resume_tokens"]![(string)subscribed["subscription_id"]!], Is.EqualTo((string?)subscribed["resume_token"]), "the token after the last frame");
        Assert.That((int?)close.Status, Is.EqualTo(1012));
        Assert.That(close.Reason, Does.Contain("resume token"));
    }
}

/// <summary>Under load (a frame that followed the previous one within the send linger), a stream rests a linger and then sends what arrived meanwhile together.</summary>
public sealed class WebSocketLingerTests
{
    private static async Task<JsonArray> NextEventsAsync(StreamClient client)
    {
        while (true)
        {
            var frame = await client.ReceiveAsync();
            if ((string?)frame["type"] == "events")
            {
                return frame["events"]!.AsArray();
            }
        }
    }

    [Test]
    public async Task A_frame_that_follows_another_within_the_linger_makes_the_stream_rest_and_the_next_carries_everything_that_arrived()
    {
        // The host's clock stands still unless the test moves it: the rest ends when the test says, not after a wall-clock wait.
        var time = new ArmingFakeTime(DateTimeOffset.UtcNow);
        await using var host = await ServiceHost.StartAsync(b => b.Services.AddSingleton<TimeProvider>(time), "--WebSocket:SendLinger=00:00:00.300");
        var order = $"linger-{Guid.NewGuid():N}";
        await using var client = await StreamClient.ConnectAsync(host, $"order_ids={order}");
        await client.ReceiveAsync();

        host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-a"));
        var first = await NextEventsAsync(client);
        Assert.That(first, Has.Count.EqualTo(1), "after a quiet spell the first event goes at once");

        host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-b"));
        var second = await NextEventsAsync(client);
        Assert.That(second.Select(e => (string?)e!["event"]!["event_id"]), Is.EqualTo(new[] { $"{order}-b" }), "a frame goes at once; the rest follows it");

        // The second frame followed the first within the linger: the stream rests, and what arrives meanwhile waits for the rest to end.
        var ingested = host.Core.GetStats().Ingested;
        foreach (var s in new[] { "c", "d", "e" })
        {
            host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-{s}"));
        }

        await Eventually.WaitUntilAsync(() => host.Core.GetStats().Ingested == ingested + 3 && time.WasArmed(TimeSpan.FromMilliseconds(300)), "the three events are dispatched during the rest");
        var third = NextEventsAsync(client);
        time.Advance(TimeSpan.FromMilliseconds(300));
        Assert.That((await third).Select(e => (string?)e!["event"]!["event_id"]), Is.EqualTo(new[] { "c", "d", "e" }.Select(s => $"{order}-{s}")),
            "the frame after the rest carries everything that arrived during it");
    }
}
