using System.Diagnostics;
using System.Net.WebSockets;
using ExecutionDistribution.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace ExecutionDistribution.Tests.Streaming;

/// <summary>With tracing on, a stream subscribing is a span, under the request that opened it.</summary>
[Category("Unit")]
public sealed class StreamTracingTests
{
    [Test]
    public async Task Opening_a_stream_is_a_subscribe_span_under_its_request()
    {
        var spans = new List<Activity>();
        await using var host = await ServiceHost.StartAsync(b => b.Services.ConfigureOpenTelemetryTracerProvider(t => t.AddInMemoryExporter(spans)), "--Telemetry:Tracing=true");
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{host.BaseAddress.Authority}/api/v1/execution/stream"), CancellationToken.None);

        Activity? subscribe = null;
        await Eventually.WaitUntilAsync(() =>
        {
            lock (spans)
            {
                subscribe = spans.FirstOrDefault(s => s.OperationName == "subscribe");
            }

            return subscribe is not null;
        }, "the subscribe span is exported");

        Assert.That(subscribe!.Source.Name, Is.EqualTo("ExecDist.Streaming"));
        Assert.That(subscribe.GetTagItem("execdist.delivery_guarantee"), Is.EqualTo("at_least_once"));
        Assert.That((string?)subscribe.GetTagItem("execdist.subscription.id"), Is.Not.Empty);
        Assert.That(subscribe.ParentSpanId, Is.Not.EqualTo(default(ActivitySpanId)), "under the WebSocket request's span");
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
    }
}
