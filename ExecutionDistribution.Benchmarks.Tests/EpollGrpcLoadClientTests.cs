using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using ExecutionDistribution.Benchmarks.Workloads;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;
using ExecutionDistribution.Tests.Support;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace ExecutionDistribution.Benchmarks.Tests;

/// <summary>
/// The benchmark's epoll HTTP/2 gRPC load client against our service: calls spread over connections,
/// messages larger than a DATA frame, flow control with small windows (the service stalls unless the
/// client gives credit back), and the keep-alive PINGs it must answer, counted by the stamps it records.
/// </summary>
[NonParallelizable]
[Category("Harness")]
public sealed class EpollGrpcLoadClientTests
{
    [Test]
    public async Task The_epoll_grpc_client_records_every_event_on_every_call_and_gives_back_flow_control_credit()
    {
        await using var host = await ServiceHost.StartAsync();
        const int streams = 150; // two connections at 100 calls each
        using var clients = new WebSocketWorkload.EpollClients(1, h2StreamWindow: 64 * 1024, h2ConnectionWindow: 256 * 1024);
        var request = new StreamRequest { DeliveryGuarantee = "at_most_once", Filter = new Filter { Topics = { "#" } }, MaxEventsPerMessage = 256 }.ToByteArray();
        var receivers = await Task.WhenAll(Enumerable.Range(0, streams).Select(_ =>
            clients.ConnectGrpcAsync(host.GrpcAddress, "/execdist.v1.ExecutionStream/StreamExecution", request, streamsPerConnection: 100)));
        try
        {
            // 600 events of about 500 bytes: 300 KB per call against a 64 KB window, up to 256 events per message (several DATA frames each).
            var feed = new SyntheticExecutionStream(7);
            const int events = 600;
            for (var sent = 0; sent < events; sent += 100)
            {
                var body = "[" + string.Join(',', Enumerable.Range(0, 100).Select(_ => Encoding.UTF8.GetString(feed.Next().EnvelopeJson.Span))) + "]";
                using var content = new StringContent(body);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                using var response = await host.Client.PostAsync(new Uri("/api/v1/executions", UriKind.Relative), content);
                Assert.That(response.IsSuccessStatusCode, Is.True, await response.Content.ReadAsStringAsync());
            }

            var recorded = new long[streams];
            await Until(() =>
            {
                for (var i = 0; i < streams; i++)
                {
                    recorded[i] += receivers[i].TakeHistogram().Count;
                }

                return recorded.All(r => r >= events);
            }, "every call to record every event");
            Assert.That(recorded, Is.All.EqualTo(events), "one latency per event per call, no more");
        }
        finally
        {
            foreach (var r in receivers)
            {
                r.Dispose();
            }
        }
    }

    [Test]
    public async Task The_epoll_grpc_client_answers_keep_alive_pings_and_keeps_its_connection()
    {
        // Kestrel pings a connection quiet for a second and closes it if no answer comes within a second.
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2);
            k.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(1);
            k.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(1);
        });
        await using var app = builder.Build();
        var quiet = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        app.MapPost("/test.Stream/Call", async (HttpContext context) =>
        {
            context.Response.ContentType = "application/grpc";
            await Message(context, "first");
            await quiet.Task; // the test waits for pings meanwhile
            await Message(context, "second");
        });
        await app.StartAsync();
        var address = new Uri(app.Urls.First());

        using var clients = new WebSocketWorkload.EpollClients(1);
        using var client = await clients.ConnectGrpcAsync(address, "/test.Stream/Call", [], streamsPerConnection: 100);
        await Until(() => clients.PingsAnswered >= 3, "3 pings answered"); // unanswered, the first would have closed the connection
        quiet.SetResult();

        var recorded = 0L;
        await Until(() => (recorded += client.TakeHistogram().Count) >= 2, "both messages");
        Assert.That(recorded, Is.EqualTo(2), "the message before the pings and the one after them");
    }

    // A length-prefixed message holding one stamp, flushed at once.
    private static async Task Message(HttpContext context, string name)
    {
        var json = Encoding.UTF8.GetBytes($$"""{"name":"{{name}}","timestamp":"{{WebSocketWorkload.MonotonicUtcNow().ToString(Timestamps.WireFormat, CultureInfo.InvariantCulture)}}"}""");
        var prefix = new byte[5];
        BinaryPrimitives.WriteInt32BigEndian(prefix.AsSpan(1), json.Length);
        await context.Response.Body.WriteAsync(prefix);
        await context.Response.Body.WriteAsync(json);
        await context.Response.Body.FlushAsync();
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"waited 30 s for {what}");
            }

            await Task.Delay(20);
        }
    }
}
