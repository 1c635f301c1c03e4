using System.Text.Json.Nodes;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.WebSockets;

/// <summary>A WebSocket client we did not write (Debian's python3-websockets) streams, disconnects and resumes.</summary>
public sealed class PythonWebSocketClientTests
{
    private const string Client = """
        import asyncio, json, sys
        import websockets

        async def main(url, count):
            received, token = [], None
            async with websockets.connect(url, max_size=None) as ws:
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
    public async Task Python_websockets_client_receives_disconnects_and_resumes_without_a_gap()
    {
        await using var host = await ServiceHost.StartAsync();
        var order = $"py-{Guid.NewGuid():N}";
        var url = new UriBuilder(host.BaseAddress) { Scheme = "ws", Path = "/api/v1/execution/stream", Query = $"order_ids={order}" }.Uri.ToString();

        var first = await ExternalClient.RunAsync("/usr/bin/python3", ["-c", Client, url, "10"], () =>
        {
            for (var i = 0; i < 10; i++)
            {
                host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-a{i}"));
            }
        });
        Assert.That(first["events"]!.AsArray().Select(e => (string?)e![0]), Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"{order}-a{i}")));

        for (var i = 0; i < 10; i++)
        {
            host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-b{i}"));
        }

        await Eventually.WaitUntilAsync(() => host.Core.TryGetRetained(host.Core.Head - 1, out var e) && e.EventId == $"{order}-b9", "missed events ingested");
        var second = await ExternalClient.RunAsync("/usr/bin/python3", ["-c", Client, $"{url}&resume_token={(string?)first["token"]}", "10"], () => { });

        Assert.That(second["events"]!.AsArray().Select(e => (string?)e![0]), Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"{order}-b{i}")));
        Assert.That(second["events"]!.AsArray().Select(e => (long)e![1]!), Is.EqualTo(Enumerable.Range(11, 10).Select(i => (long)i)));
    }
}
