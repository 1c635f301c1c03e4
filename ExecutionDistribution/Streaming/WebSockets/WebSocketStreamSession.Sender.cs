using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Subscriptions;

namespace ExecutionDistribution.Streaming.WebSockets;

internal sealed partial class WebSocketStreamSession
{
    /// <summary>
    /// Sends the events of a connection that carries one subscription from the core's delivery loop
    /// (<see cref="PushSender"/>): each batch, at most <see cref="WebSocketOptions.MaxEventsPerFrame"/>, is
    /// one events frame in a buffer of its own, sent at once. The session's other frames (replies,
    /// heartbeats, the opening's "subscribed", events re-read from Kafka and order snapshot) take the
    /// same writer, so one frame is sent at a time; the session starts the sender after its opening.
    /// </summary>
    /// <remarks>
    /// Its sends take no cancellation token. With one that can be cancelled, the WebSocket takes its slow
    /// path for every frame (an async state machine, its send lock awaited, a registration on the token),
    /// which was a tenth of the service's CPU at 100,000 frames/s (measured in W4).
    /// Nothing is lost by it: the token such a send would take is the request's abort, and when the
    /// connection is aborted Kestrel completes a send that waits for the client anyway.
    /// </remarks>
    private sealed class Sender(WebSocket socket, string subscriptionId, Guid epoch, WebSocketOptions options, StreamAudit audit, TimeProvider time, CancellationToken aborted)
        : PushSender(options.MaxEventsPerFrame, audit, time, options.SendLinger, aborted)
    {
        private readonly ArrayBufferWriter<byte> _frame = new(16 * 1024);
        private readonly Utf8JsonWriter _writer = new(Stream.Null, new JsonWriterOptions { SkipValidation = true });

        /// <inheritdoc />
        protected override bool StillConnected => !Ended.IsCancellationRequested && socket.State == WebSocketState.Open;

        /// <inheritdoc />
        protected override ValueTask WriteEvents(DeliveryBatch batch, out string token)
        {
            token = WriteEventsFrame(_frame, _writer, subscriptionId, batch, new ResumeToken(epoch, batch.ResumePosition, batch.LastSequence));
            return socket.SendAsync(_frame.WrittenMemory, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        }

        /// <inheritdoc />
        protected override ValueTask WriteHeartbeat(string token) =>
            socket.SendAsync(
                new ReadOnlyMemory<byte>(JsonSerializer.SerializeToUtf8Bytes(new ControlFrame("heartbeat", subscriptionId, token, Timestamps.UtcNow(Time), null), ControlFrame.Json)),
                WebSocketMessageType.Text,
                endOfMessage: true,
                CancellationToken.None);

        /// <summary>At the connection's end, after <see cref="PushSender.StopAsync"/>.</summary>
        public ValueTask DisposeAsync() => _writer.DisposeAsync();
    }
}
