using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ExecutionDistribution.Benchmarks.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace ExecutionDistribution.Benchmarks.Workloads;

/// <summary>
/// Peers a user could pick instead of ours, fed the same events for the same streams: Redis pub/sub
/// and ASP.NET Core SignalR. Like the NATS peer, each event is one message: published once, sent by
/// the server to every subscriber.
/// </summary>
public static partial class WebSocketWorkload
{
    /// <summary>
    /// Redis pub/sub: Debian's redis-server in a child process (no persistence), each stream a
    /// StackExchange.Redis connection of its own subscribed to one channel, each event one PUBLISH
    /// (fire and forget, pipelined) from one publishing connection.
    /// </summary>
    private static List<Step> RedisLadder(int streams, int seconds, int[] rates, byte[][] events, bool climbAll)
    {
        var port = Child.FreePort();
        using var server = PeerServer.Start("redis-server",
            "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--client-output-buffer-limit", "pubsub 256mb 128mb 60");
        var endpoint = $"127.0.0.1:{port},abortConnect=false,connectRetry=10";
        using var publisher = ConnectionMultiplexer.Connect(endpoint);
        var channel = RedisChannel.Literal("executions");
        var pub = publisher.GetSubscriber();
        return Ladder("redis", () => RedisReceiver.ConnectAsync(endpoint, channel), batch =>
        {
            foreach (var e in batch)
            {
                pub.Publish(channel, e, CommandFlags.FireAndForget);
            }
        }, server.Pid, streams, seconds, rates, events, climbAll);
    }

    /// <summary>One Redis subscriber connection.</summary>
    private sealed class RedisReceiver : Receiver
    {
        private readonly ConnectionMultiplexer _connection;

        private RedisReceiver(ConnectionMultiplexer connection) => _connection = connection;

        public static async Task<Receiver> ConnectAsync(string endpoint, RedisChannel channel)
        {
            var connection = await ConnectionMultiplexer.ConnectAsync(endpoint).ConfigureAwait(false);
            var receiver = new RedisReceiver(connection);
            var queue = await connection.GetSubscriber().SubscribeAsync(channel).ConfigureAwait(false);
            queue.OnMessage(message =>
            {
                if (message.Message.HasValue)
                {
                    receiver.Record((byte[])message.Message!);
                }
            });
            return receiver;
        }

        public override void Dispose() => _connection.Dispose();
    }

    /// <summary>
    /// ASP.NET Core SignalR: a hub in a child process (<c>serve signalr PORT</c>) that sends every
    /// posted event to all its connections as one hub message each; each stream a HubConnection of
    /// its own (WebSocket transport, JSON protocol).
    /// </summary>
    private static List<Step> SignalRLadder(int streams, int seconds, int[] rates, byte[][] events, bool climbAll)
    {
        using var server = Child.Start("signalr");
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        var hub = new Uri(server.BaseAddress, "/hub");
        return Ladder("signalr", () => SignalRReceiver.ConnectAsync(hub), batch => Post(http, "/ingest", batch), server.Pid, streams, seconds, rates, events, climbAll);
    }

    /// <summary>One SignalR client connection.</summary>
    private sealed class SignalRReceiver : Receiver
    {
        private readonly HubConnection _connection;

        private SignalRReceiver(HubConnection connection) => _connection = connection;

        public static async Task<Receiver> ConnectAsync(Uri hub)
        {
            var connection = new HubConnectionBuilder()
                .WithUrl(hub, Microsoft.AspNetCore.Http.Connections.HttpTransportType.WebSockets, o => o.SkipNegotiation = true)
                .Build();
            var receiver = new SignalRReceiver(connection);
            connection.On<string>("execution", text => receiver.Record(Encoding.UTF8.GetBytes(text)));
            await connection.StartAsync().ConfigureAwait(false);
            return receiver;
        }

        // A client far behind (past SignalR's saturation) can take long to close; the server is killed anyway.
        public override void Dispose() => _connection.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
    }

    /// <summary>The SignalR peer's server (<c>serve signalr PORT</c>): POST /ingest takes a JSON array; each event goes to every connection as one message.</summary>
    public static int ServeSignalR(string port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Services.AddSignalR(o => o.MaximumReceiveMessageSize = 1 << 20);
        var app = builder.Build();
        app.UseWebSockets();
        app.MapHub<BroadcastHub>("/hub");
        app.MapGet("/api/v1/distribution/stats", () => Results.Ok());
        app.MapPost("/ingest", async (HttpRequest request, IHubContext<BroadcastHub> hub) =>
        {
            using var body = await JsonDocument.ParseAsync(request.Body).ConfigureAwait(false);
            foreach (var e in body.RootElement.EnumerateArray())
            {
                await hub.Clients.All.SendAsync("execution", e.GetRawText()).ConfigureAwait(false);
            }

            return Results.Accepted();
        });
        app.Run();
        return 0;
    }

    /// <summary>The SignalR peer's hub: clients only listen.</summary>
    public sealed class BroadcastHub : Hub;
}
