using System.Text.Json.Nodes;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Streaming.WebSockets;

/// <summary>A WebSocket client we did not write (Debian's python3-websockets) streams, disconnects and resumes.</summary>
[Category("ExternalClient")]
public sealed class PythonWebSocketClientTests
{
    /// <summary>Streams <c>count</c> events from the URL (printing READY once subscribed), then prints them and the last token as JSON.</summary>
    internal const string Client = """
        import asyncio, json, os, sys
        import websockets

        async def main(url, count):
            received, token = [], None
            async with websockets.connect(url, max_size=None) as ws:
                if os.environ.get('EXECDIST_TOKEN'):
                    # As a browser does: the bearer token in the first message.
                    await ws.send(json.dumps({'type': 'auth', 'token': os.environ['EXECDIST_TOKEN']}))
                while len(received) < count:
                    frame = json.loads(await ws.recv())
                    token = frame.get('resume_token') or token
                    if frame['type'] == 'subscribed':
                        print('READY', flush=True)
                    elif frame['type'] == 'events':
                        received += [[e['event']['event_id'], e['sequence']] for e in frame['events']]
            print(json.dumps({'events': received, 'token': token}), flush=True)

        asyncio.run(main(sys.argv[1], int(sys.argv[2])))
        """;

    [Test]
    public async Task Python_websockets_client_authenticates_receives_disconnects_and_resumes_without_a_gap()
    {
        await using var host = await ServiceHost.StartAsync([.. TestAuth.Settings(), .. TestAuth.RevocationsFile()]);
        var token = TestAuth.Token([ExecutionDistribution.Security.Scopes.Read], ["PF001"], "python-client");
        var order = $"py-{Guid.NewGuid():N}";
        var url = new UriBuilder(host.BaseAddress) { Scheme = "ws", Path = "/api/v1/execution/stream", Query = $"order_ids={order}" }.Uri.ToString();

        // The order belongs to the token's portfolio: its fills reach the stream.
        Assert.That(host.Core.TryPublish(Events.Order(order, eventId: $"{order}-new", portfolio: "PF001")), Is.True);
        var first = await ExternalClient.RunAsync("/usr/bin/python3", ["-c", Client, $"{url}&data_types=FILL_NOTIFICATION", "10"], () =>
        {
            for (var i = 0; i < 10; i++)
            {
                host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-a{i}"));
            }
        }, token: token);
        Assert.That(first["events"]!.AsArray().Select(e => (string?)e![0]), Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"{order}-a{i}")));

        for (var i = 0; i < 10; i++)
        {
            host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-b{i}"));
        }

        await Eventually.WaitUntilAsync(() => host.Core.TryGetRetained(host.Core.Head - 1, out var e) && e.EventId == $"{order}-b9", "missed events ingested");
        var second = await ExternalClient.RunAsync("/usr/bin/python3", ["-c", Client, $"{url}&data_types=FILL_NOTIFICATION&resume_token={(string?)first["token"]}", "10"], () => { }, token: token);

        var (exit, errors) = await ExternalClient.RunToFailureAsync("/usr/bin/python3", ["-c", Client, url, "1"], token: TestAuth.BrokenTokens()["expired"]);
        Assert.That(exit, Is.Not.Zero);
        Assert.That(errors, Does.Contain("4401"), "an expired token is refused with the close code");

        Assert.That(second["events"]!.AsArray().Select(e => (string?)e![0]), Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"{order}-b{i}")));
        Assert.That(second["events"]!.AsArray().Select(e => (long)e![1]!), Is.EqualTo(Enumerable.Range(11, 10).Select(i => (long)i)));
    }

    private const string MultiplexClient = """
        import asyncio, json, sys
        import websockets

        async def main(url, a, b, count):
            events, ids = [], {}
            async with websockets.connect(url, max_size=None) as ws:
                await ws.send(json.dumps({'type': 'subscribe', 'request_id': 'a', 'order_ids': [a]}))
                await ws.send(json.dumps({'type': 'subscribe', 'request_id': 'b', 'order_ids': [a, b]}))
                while len(events) < count:
                    frame = json.loads(await ws.recv())
                    if frame['type'] == 'subscribed':
                        ids[frame['request_id']] = frame['subscription_id']
                        if len(ids) == 2:
                            print('READY', flush=True)
                    elif frame['type'] == 'events':
                        for e in frame['events']:
                            tags = sorted(k for k, v in ids.items() for d in e['deliveries'] if d['subscription_id'] == v)
                            events.append([e['event']['event_id'], ''.join(tags)])
            print(json.dumps({'events': events}), flush=True)

        asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
        """;

    [Test]
    public async Task Python_websockets_client_carries_two_subscriptions_on_one_connection_and_gets_each_event_once()
    {
        await using var host = await ServiceHost.StartAsync();
        var run = Guid.NewGuid().ToString("N")[..8];
        string a = $"py-{run}-A", b = $"py-{run}-B";
        var url = new UriBuilder(host.BaseAddress) { Scheme = "ws", Path = "/api/v1/execution/stream", Query = "multiplex=true" }.Uri.ToString();

        var result = await ExternalClient.RunAsync("/usr/bin/python3", ["-c", MultiplexClient, url, a, b, "20"], () =>
        {
            for (var i = 0; i < 10; i++)
            {
                host.Core.TryPublish(Events.Fill(a, eventId: $"{a}-{i}"));
                host.Core.TryPublish(Events.Fill(b, eventId: $"{b}-{i}"));
            }
        });

        var events = result["events"]!.AsArray().Select(e => ((string)e![0]!, (string)e[1]!)).ToList();
        Assert.That(events.Select(e => e.Item1), Is.EqualTo(Enumerable.Range(0, 10).SelectMany(i => new[] { $"{a}-{i}", $"{b}-{i}" })), "each event once, in order");
        Assert.That(events.Where(e => e.Item1.StartsWith(a, StringComparison.Ordinal)).Select(e => e.Item2), Has.All.EqualTo("ab"), "tagged with both subscriptions");
        Assert.That(events.Where(e => e.Item1.StartsWith(b, StringComparison.Ordinal)).Select(e => e.Item2), Has.All.EqualTo("b"));
    }
}
