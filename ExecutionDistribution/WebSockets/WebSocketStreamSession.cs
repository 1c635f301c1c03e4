using ExecutionDistribution.Audit;
using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Distribution;
using ExecutionDistribution.Orders;
using ExecutionDistribution.Subscriptions;

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
    private volatile bool _clientClosed;
    private readonly StreamAudit _audit;
    private SubscriptionAttachment? _attachment;

    public WebSocketStreamSession(WebSocket socket, FanOutDispatcher core, WebSocketOptions options, TimeProvider time, StreamAudit audit)
    {
        _audit = audit;
        _socket = socket;
        _core = core;
        _options = options;
        _time = time;
        _writer = new Utf8JsonWriter(_frame, new JsonWriterOptions { SkipValidation = true });
    }

    public async Task RunAsync(
        string id,
        SubscriptionFilter filter,
        DeliveryGuarantee guarantee,
        ResumeToken? resume,
        SubscriptionAttachment? attachment,
        IReadOnlyList<OrderExecutionStatus>? snapshot,
        CancellationToken aborted,
        CancellationToken serviceStopping)
    {
        _attachment = attachment;
        var subscriber = _core.Subscribe(id, filter, guarantee, resume?.Position, resume?.Sequence ?? 0, _options.BufferCapacity);
        attachment?.Registry.Bind(attachment.SubscriptionId, attachment.Stream, subscriber);
        _resumeToken = new ResumeToken(_core.LogEpoch, subscriber.StartPosition, subscriber.InitialSequence).Encode();

        // `stop` ends the stream gracefully (the client closed, or the service is stopping): it releases the
        // subscriber, which ends the send loop. Socket operations only take `aborted` (the client is gone):
        // cancelling a pending WebSocket operation aborts the socket, and then no close frame can be sent.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(aborted, serviceStopping, attachment?.Changed ?? CancellationToken.None);
        using var release = stop.Token.Register(() => _core.Unsubscribe(subscriber));
        Task receive = Task.CompletedTask;
        Task heartbeat = Task.CompletedTask;
        try
        {
            await SendControlAsync("subscribed", subscriber.Id, aborted).ConfigureAwait(false);
            if (snapshot is not null)
            {
                // Before any event: the state of the watched orders as of the stream's start position.
                await SendAsync(JsonSerializer.SerializeToUtf8Bytes(new SnapshotFrame("snapshot", subscriber.Id, _resumeToken, snapshot), ControlFrame.Json), aborted)
                    .ConfigureAwait(false);
            }

            receive = ReceiveLoopAsync(stop, aborted);
            heartbeat = HeartbeatLoopAsync(subscriber.Id, stop.Token, aborted);
            await SendLoopAsync(subscriber, aborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
            // The client went away; the subscriber is released below.
        }
        finally
        {
            _core.Unsubscribe(subscriber);
            await stop.CancelAsync().ConfigureAwait(false);
            await heartbeat.ConfigureAwait(false);
            if (attachment?.Changed.IsCancellationRequested == true && !serviceStopping.IsCancellationRequested)
            {
                await CloseAsync(WebSocketCloseStatus.NormalClosure, "subscription changed, paused or deleted; reconnect with your resume token").ConfigureAwait(false);
            }
            else if (serviceStopping.IsCancellationRequested || !(_clientClosed || aborted.IsCancellationRequested))
            {
                // The service ended the stream: 1001, and the last token says where to resume.
                await CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "service stopping; reconnect with your resume token").ConfigureAwait(false);
            }
            else
            {
                await CloseAsync(WebSocketCloseStatus.NormalClosure, "stream ended").ConfigureAwait(false);
            }

            // Let the receive loop take the client's close reply, briefly.
            await Task.WhenAny(receive, Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None)).ConfigureAwait(false);
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
        var linger = _options.SendLinger;
        long lastFrame = 0;
        while (await subscriber.WaitToReadAsync().ConfigureAwait(false))
        {
            await _audit.WaitForRoomAsync(cancellationToken).ConfigureAwait(false);

            // Under load (the previous frame went out within the linger), hold the rest of the linger so
            // what arrives meanwhile travels in the same frame; the first event after a quiet spell goes at once.
            if (linger > TimeSpan.Zero && lastFrame != 0 && _time.GetElapsedTime(lastFrame) is var since && since < linger)
            {
                await Task.Delay(linger - since, _time, cancellationToken).ConfigureAwait(false);
            }

            while (subscriber.TryReadBatch(batch))
            {
                lastFrame = _time.GetTimestamp();
                WriteEventsFrame(subscriber.Id, batch);
                try
                {
                    await SendFrameAsync(cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    _audit.Failed(batch.Deliveries);
                    throw;
                }

                // Kestrel swallows writes once the connection is aborted: a frame "sent" after the client
                // vanished is audited as failed, not delivered (at_least_once sends it again on resume).
                if (cancellationToken.IsCancellationRequested || _socket.State != WebSocketState.Open)
                {
                    _audit.Failed(batch.Deliveries);
                    return;
                }

                _audit.Delivered(batch.Deliveries);
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

    private Task SendControlAsync(string type, string subscriptionId, CancellationToken cancellationToken) =>
        SendAsync(JsonSerializer.SerializeToUtf8Bytes(new ControlFrame(type, subscriptionId, _resumeToken, Timestamps.UtcNow(_time)), ControlFrame.Json), cancellationToken);

    private Task SendFrameAsync(CancellationToken cancellationToken) => SendAsync(_frame.WrittenMemory, cancellationToken);

    // The one way to send: one frame at a time (the send loop, heartbeats and replies share the socket).
    private async Task SendAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        await _sendGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _lastSend, _time.GetTimestamp());
        }
        finally
        {
            _sendGate.Release();
        }
    }

    private async Task ReceiveLoopAsync(CancellationTokenSource stop, CancellationToken aborted)
    {
        var buffer = new byte[4 * 1024];
        try
        {
            while (true)
            {
                var result = await _socket.ReceiveAsync(buffer, aborted).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    _clientClosed = true;
                    break;
                }

                if (!result.EndOfMessage || stop.IsCancellationRequested)
                {
                    continue;
                }

                var (type, token) = ReadClientMessage(buffer.AsSpan(0, result.Count));
                if (type == "ping")
                {
                    await SendControlAsync("pong", string.Empty, aborted).ConfigureAwait(false);
                }
                else if (type == "ack")
                {
                    await AcknowledgeAsync(token, aborted).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // Closed or aborted.
        }
        finally
        {
            // The client closed or vanished: stop the stream.
            _clientClosed = true;
            try
            {
                await stop.CancelAsync().ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                // The session already ended.
            }
        }
    }

    private async Task HeartbeatLoopAsync(string subscriptionId, CancellationToken stopping, CancellationToken aborted)
    {
        using var timer = new PeriodicTimer(_options.HeartbeatInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
            {
                if (_time.GetElapsedTime(Volatile.Read(ref _lastSend)) >= _options.HeartbeatInterval)
                {
                    await SendControlAsync("heartbeat", subscriptionId, aborted).ConfigureAwait(false);
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

    // {"type":"ack","resume_token":"..."} from a subscription's client: record it, answer with the point held.
    private async Task AcknowledgeAsync(string? token, CancellationToken aborted)
    {
        string reply;
        if (_attachment is null)
        {
            reply = "acknowledgements are for streams of a subscription (connect with subscription_id)";
        }
        else if (!ResumeToken.TryDecode(token, out var parsed, out var why))
        {
            reply = $"resume_token {why}";
        }
        else if (_attachment.Registry.Acknowledge(_attachment.SubscriptionId, parsed) is { } held)
        {
            await SendAsync(JsonSerializer.SerializeToUtf8Bytes(new AckFrame("acked", _attachment.SubscriptionId, held.Encode(), held.Sequence), ControlFrame.Json), aborted).ConfigureAwait(false);
            return;
        }
        else
        {
            reply = $"subscription '{_attachment.SubscriptionId}' no longer exists";
        }

        await SendAsync(JsonSerializer.SerializeToUtf8Bytes(new ErrorFrame("error", reply), ControlFrame.Json), aborted).ConfigureAwait(false);
    }

    private static (string? Type, string? Token) ReadClientMessage(ReadOnlySpan<byte> message)
    {
        string? type = null, token = null;
        try
        {
            var reader = new Utf8JsonReader(message);
            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1)
                {
                    continue;
                }

                if (reader.ValueTextEquals("type"u8) && reader.Read() && reader.TokenType == JsonTokenType.String)
                {
                    type = reader.GetString();
                }
                else if (reader.ValueTextEquals("resume_token"u8) && reader.Read() && reader.TokenType == JsonTokenType.String)
                {
                    token = reader.GetString();
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON: ignored.
        }

        return (type, token);
    }

    private sealed record AckFrame(string Type, string SubscriptionId, string ResumeToken, long AcknowledgedSequence);

    private sealed record ErrorFrame(string Type, string Message);

    private sealed record SnapshotFrame(string Type, string SubscriptionId, string ResumeToken, IReadOnlyList<OrderExecutionStatus> Orders);

    /// <summary>Frames that carry no events: subscribed, heartbeat, pong.</summary>
    private sealed record ControlFrame(string Type, string SubscriptionId, string ResumeToken, DateTime Time)
    {
        public static readonly JsonSerializerOptions Json = new()
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            Converters = { new UtcMicrosecondsConverter() },
        };
    }
}

/// <summary>A stream attached to a managed subscription: where acknowledgements go, and what ends it when the subscription changes.</summary>
internal sealed record SubscriptionAttachment(string SubscriptionId, SubscriptionRegistry Registry, CancellationTokenSource Stream)
{
    /// <summary>Cancelled when the subscription changes (the stream must end).</summary>
    public CancellationToken Changed => Stream.Token;
}
