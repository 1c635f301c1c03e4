using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Distribution;

namespace ExecutionDistribution.WebSockets;

/// <summary>
/// One WebSocket stream: a subscriber of the dispatch core whose batches become JSON text frames.
/// Each event's envelope bytes are serialized once by the core and copied into the frame as they are.
/// A send loop reads batches (up to <see cref="WebSocketOptions.MaxEventsPerFrame"/> per frame, so a
/// stream that is behind gets full frames), a receive loop answers pings and notices the close, and
/// a heartbeat carries the resume token while the stream is idle. While a send is slow the stream
/// stops reading its subscriber: its buffer fills and its overflow policy applies (dropped and
/// announced, or caught up from the log), and no other stream notices.
/// </summary>
internal sealed class WebSocketStreamSession
{
    private readonly WebSocket _socket;
    private readonly FanOutDispatcher _core;
    private readonly WebSocketOptions _options;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _sendGate = new(1, 1);
    private readonly ArrayBufferWriter<byte> _frame = new(16 * 1024);
    private readonly Utf8JsonWriter _writer;
    private long _lastSend;
    private string _resumeToken = string.Empty;

    public WebSocketStreamSession(WebSocket socket, FanOutDispatcher core, WebSocketOptions options, TimeProvider time)
    {
        _socket = socket;
        _core = core;
        _options = options;
        _time = time;
        _writer = new Utf8JsonWriter(_frame, new JsonWriterOptions { SkipValidation = true });
    }

    public async Task RunAsync(string id, SubscriptionFilter filter, DeliveryGuarantee guarantee, ResumeToken? resume, CancellationToken aborted)
    {
        var subscriber = _core.Subscribe(id, filter, guarantee, resume?.Position, resume?.Sequence ?? 0, _options.BufferCapacity);
        _resumeToken = new ResumeToken(_core.LogEpoch, subscriber.StartPosition, subscriber.InitialSequence).Encode();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        using var unsubscribe = stop.Token.Register(() => _core.Unsubscribe(subscriber));
        try
        {
            await SendControlAsync("subscribed", subscriber.Id, stop.Token).ConfigureAwait(false);
            var receive = ReceiveLoopAsync(stop);
            var heartbeat = HeartbeatLoopAsync(subscriber.Id, stop.Token);
            await SendLoopAsync(subscriber, stop.Token).ConfigureAwait(false);
            await stop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(receive, heartbeat).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
            // The client went away or the service is stopping; the subscriber is released below.
        }
        finally
        {
            _core.Unsubscribe(subscriber);
            await CloseAsync(aborted.IsCancellationRequested ? WebSocketCloseStatus.EndpointUnavailable : WebSocketCloseStatus.NormalClosure, "stream ended").ConfigureAwait(false);
            _sendGate.Dispose();
            await _writer.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Closes with 1008 and a reason (bad filter, bad token, limits); the reason is cut to the 123 bytes the protocol allows.</summary>
    public static async Task RejectAsync(WebSocket socket, string reason)
    {
        var text = reason.Length > 120 ? reason[..120] : reason;
        try
        {
            await socket.CloseAsync(WebSocketCloseStatus.PolicyViolation, text, CancellationToken.None).ConfigureAwait(false);
        }
        catch (WebSocketException)
        {
            // The client is already gone.
        }
    }

    private async Task SendLoopAsync(Subscriber subscriber, CancellationToken cancellationToken)
    {
        var batch = new DeliveryBatch(_options.MaxEventsPerFrame);
        while (await subscriber.WaitToReadAsync().ConfigureAwait(false))
        {
            while (subscriber.TryReadBatch(batch))
            {
                WriteEventsFrame(subscriber.Id, batch);
                await SendFrameAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private void WriteEventsFrame(string subscriptionId, DeliveryBatch batch)
    {
        _resumeToken = new ResumeToken(_core.LogEpoch, batch.ResumePosition, batch.LastSequence).Encode();
        _frame.ResetWrittenCount();
        _writer.Reset(_frame);
        _writer.WriteStartObject();
        _writer.WriteString("type"u8, "events"u8);
        _writer.WriteString("subscription_id"u8, subscriptionId);
        _writer.WriteString("resume_token"u8, _resumeToken);
        if (batch.Dropped > 0)
        {
            _writer.WriteNumber("dropped"u8, batch.Dropped);
        }

        if (batch.LostPositions > 0)
        {
            _writer.WriteNumber("lost_positions"u8, batch.LostPositions);
        }

        _writer.WriteStartArray("events"u8);
        foreach (var delivery in batch.Deliveries)
        {
            _writer.WriteStartObject();
            _writer.WriteNumber("sequence"u8, delivery.Sequence);
            _writer.WritePropertyName("event"u8);
            _writer.WriteRawValue(delivery.Event.EnvelopeJson.Span, skipInputValidation: true);
            _writer.WriteEndObject();
        }

        _writer.WriteEndArray();
        _writer.WriteEndObject();
        _writer.Flush();
    }

    private async Task SendControlAsync(string type, string subscriptionId, CancellationToken cancellationToken)
    {
        await _sendGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var frame = JsonSerializer.SerializeToUtf8Bytes(new ControlFrame(type, subscriptionId, _resumeToken, Timestamps.UtcNow(_time)), ControlFrame.Json);
            await _socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _lastSend, _time.GetTimestamp());
        }
        finally
        {
            _sendGate.Release();
        }
    }

    private async Task SendFrameAsync(CancellationToken cancellationToken)
    {
        await _sendGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _socket.SendAsync(_frame.WrittenMemory, WebSocketMessageType.Text, endOfMessage: true, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _lastSend, _time.GetTimestamp());
        }
        finally
        {
            _sendGate.Release();
        }
    }

    private async Task ReceiveLoopAsync(CancellationTokenSource stop)
    {
        var buffer = new byte[4 * 1024];
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var result = await _socket.ReceiveAsync(buffer, stop.Token).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                if (result.EndOfMessage && IsPing(buffer.AsSpan(0, result.Count)))
                {
                    await SendControlAsync("pong", string.Empty, stop.Token).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
            // Closed or aborted.
        }
        finally
        {
            // The client closed or vanished: stop the stream.
            await stop.CancelAsync().ConfigureAwait(false);
        }
    }

    private async Task HeartbeatLoopAsync(string subscriptionId, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.HeartbeatInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                if (_time.GetElapsedTime(Volatile.Read(ref _lastSend)) >= _options.HeartbeatInterval)
                {
                    await SendControlAsync("heartbeat", subscriptionId, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
            // Stream ended.
        }
    }

    private async Task CloseAsync(WebSocketCloseStatus status, string reason)
    {
        if (_socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await _socket.CloseOutputAsync(status, reason, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
            // The client is gone.
        }
    }

    private static bool IsPing(ReadOnlySpan<byte> message)
    {
        try
        {
            var reader = new Utf8JsonReader(message);
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("type"u8) && reader.Read())
                {
                    return reader.ValueTextEquals("ping"u8);
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON: not a ping.
        }

        return false;
    }

    /// <summary>Frames that carry no events: subscribed, heartbeat, pong.</summary>
    private sealed record ControlFrame(string Type, string SubscriptionId, string ResumeToken, DateTime Time)
    {
        public static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    }
}
