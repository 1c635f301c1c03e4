using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using ExecutionDistribution.Benchmarks.Workloads;
using ExecutionDistribution.Contract;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace ExecutionDistribution.Benchmarks.Tests;

/// <summary>
/// The benchmark's epoll WebSocket load client against a Kestrel WebSocket server: every frame
/// length encoding, messages split over several frames, and the pings it must answer, counted by
/// the stamps it records.
/// </summary>
[NonParallelizable]
[Category("Harness")]
public sealed class EpollLoadClientTests
{
    private static string Event(int padding) =>
        $$"""{"event_id":"e","timestamp":"{{WebSocketWorkload.MonotonicUtcNow().ToString(Timestamps.WireFormat, CultureInfo.InvariantCulture)}}","pad":"{{new string('x', padding)}}"}""";

    [Test]
    public async Task The_epoll_client_records_every_event_of_every_frame_size_and_of_fragmented_messages_and_keeps_its_connection_by_answering_pings()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear(); // not the service's appsettings (its Kestrel endpoints)
        builder.Configuration.AddInMemoryCollection();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var app = builder.Build();
        app.UseWebSockets();
        var sent = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        app.Map("/ws", async (HttpContext context) =>
        {
            // Pings every 50 ms and gives up on the connection after 250 ms without a pong.
            using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
            {
                KeepAliveInterval = TimeSpan.FromMilliseconds(50),
                KeepAliveTimeout = TimeSpan.FromMilliseconds(250),
            });
            try
            {
            // A pending receive is what reads the client's pongs (and would see its close).
            var receiving = socket.ReceiveAsync(new byte[16], context.RequestAborted);
            var events = 0;
            async Task Send(string text, bool endOfMessage = true) =>
                await socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage, CancellationToken.None);

            await Send(Event(10)); // 7-bit length
            await Send(Event(1_000)); // 16-bit length
            await Send("[" + string.Join(',', Enumerable.Range(0, 700).Select(_ => Event(100))) + "]"); // 64-bit length, 700 events
            var split = Event(400);
            await Send(split[..50], endOfMessage: false); // one event over three frames
            await Send(split[50..120], endOfMessage: false);
            await Send(split[120..]);
            events += 1 + 1 + 700 + 1;

            // A second of pings: without pongs the server aborts and the last event never arrives.
            await Task.Delay(TimeSpan.FromSeconds(1));
            await Send(Event(10));
            sent.TrySetResult(events + 1);
            await receiving;
            }
            catch (Exception ex)
            {
                sent.TrySetException(ex);
            }
        });
        await app.StartAsync();
        var address = new Uri(app.Urls.First());

        using var clients = new WebSocketWorkload.EpollClients(1);
        using var client = await clients.ConnectAsync(new Uri($"ws://{address.Authority}/ws"));
        var expected = await sent.Task.WaitAsync(TimeSpan.FromSeconds(30));

        var recorded = 0L;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (recorded < expected && DateTime.UtcNow < deadline)
        {
            recorded += client.TakeHistogram().Count;
            await Task.Delay(20);
        }

        Assert.That(recorded, Is.EqualTo(expected), "one latency per event: short, 16-bit, 64-bit and fragmented messages, and the one sent after a second of pings");
    }
}
