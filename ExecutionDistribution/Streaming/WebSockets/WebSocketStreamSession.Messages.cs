using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Security;

namespace ExecutionDistribution.Streaming.WebSockets;

/// <summary>What a client sends on its connection: pings, acknowledgements, and (multiplexed) subscribe / unsubscribe.</summary>
internal sealed partial class WebSocketStreamSession
{
    private async Task ReceiveLoopAsync(CancellationTokenSource stop, CancellationToken aborted)
    {
        var buffer = new byte[4 * 1024];
        var message = new ArrayBufferWriter<byte>(4 * 1024);
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

                if (message.WrittenCount + result.Count > _options.MaxClientMessageBytes)
                {
                    await RejectAsync(_socket, $"message too large (the most is {_options.MaxClientMessageBytes} bytes)").ConfigureAwait(false);
                    break;
                }

                message.Write(buffer.AsSpan(0, result.Count));
                if (!result.EndOfMessage)
                {
                    continue;
                }

                if (!stop.IsCancellationRequested)
                {
                    await HandleClientMessageAsync(message.WrittenMemory, aborted).ConfigureAwait(false);
                }

                message.ResetWrittenCount();
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // Closed or aborted; or the client broke the protocol (text that is not UTF-8, a bad frame), and
            // the WebSocket itself sent the close (1007, 1002) and let go of the connection.
            _failedByClient = ex is WebSocketException && _socket.State == WebSocketState.Aborted && !aborted.IsCancellationRequested;
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

    // ping, ack, and on a multiplexed connection subscribe / unsubscribe. Anything else gets an error frame.
    private async Task HandleClientMessageAsync(ReadOnlyMemory<byte> text, CancellationToken aborted)
    {
        // A text message's UTF-8 is checked by the WebSocket itself (it closes with 1007), a binary one's is
        // not, and reading an invalid string from the document would throw out of the receive loop.
        if (!System.Text.Unicode.Utf8.IsValid(text.Span))
        {
            await SendErrorAsync(null, "the message is not valid UTF-8").ConfigureAwait(false);
            return;
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text);
        }
        catch (JsonException)
        {
            await SendErrorAsync(null, "the message is not JSON").ConfigureAwait(false);
            return;
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type"u8, out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
            {
                await SendErrorAsync(null, "type: required (ping, ack, subscribe or unsubscribe)").ConfigureAwait(false);
                return;
            }

            var requestId = root.TryGetProperty("request_id"u8, out var r) && r.ValueKind == JsonValueKind.String ? StreamRequest.Text(r) : null;
            var subscriptionId = root.TryGetProperty("subscription_id"u8, out var s) && s.ValueKind == JsonValueKind.String ? StreamRequest.Text(s) : null;
            switch (StreamRequest.Text(typeElement))
            {
                case "ping":
                    var token = Subscriptions.Members is [var only] && !_multiplex ? only.ResumeToken : string.Empty;
                    await SendAsync(ControlFrames.Control("pong", string.Empty, token, Timestamps.UtcNow(Time), requestId))
                        .ConfigureAwait(false);
                    break;
                case "ack":
                    var acked = root.TryGetProperty("resume_token"u8, out var t) && t.ValueKind == JsonValueKind.String ? StreamRequest.Text(t) : null;
                    await AcknowledgeAsync(subscriptionId, acked, requestId).ConfigureAwait(false);
                    break;
                case "subscribe" when _multiplex:
                    await SubscribeAsync(root, requestId, aborted).ConfigureAwait(false);
                    break;
                case "unsubscribe" when _multiplex:
                    if (Subscriptions.Find(subscriptionId) is { } member)
                    {
                        Subscriptions.End(member, "unsubscribed by the client");
                    }
                    else if (Subscriptions.FindOpening(subscriptionId) is { } opening)
                    {
                        // Still re-reading Kafka: it stops between frames and says so.
                        Subscriptions.EndOpening(opening, "unsubscribed by the client", requestId);
                    }
                    else
                    {
                        await SendErrorAsync(requestId, $"subscription_id: '{subscriptionId}' is not streaming on this connection").ConfigureAwait(false);
                    }

                    break;
                case "refresh":
                    await RefreshAsync(root, requestId, aborted).ConfigureAwait(false);
                    break;
                case "subscribe" or "unsubscribe":
                    await SendErrorAsync(requestId, "type: this connection carries one subscription; connect with multiplex=true to subscribe and unsubscribe on it")
                        .ConfigureAwait(false);
                    break;
                default:
                    await SendErrorAsync(requestId, "type: must be ping, ack, refresh, subscribe or unsubscribe").ConfigureAwait(false);
                    break;
            }
        }
    }

    // {"type":"refresh","token":"..."}: a new token of the same subject and portfolios; the stream goes on past the old one's expiry.
    private async Task RefreshAsync(JsonElement message, string? requestId, CancellationToken aborted)
    {
        var token = message.TryGetProperty("token"u8, out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        if (string.IsNullOrEmpty(token) || Tokens is null || Access is null)
        {
            await SendErrorAsync(requestId, "token: required, a bearer token").ConfigureAwait(false);
            return;
        }

        var (principal, problem) = await Tokens.ValidateAsync(token, aborted).ConfigureAwait(false);
        var rights = principal is null ? null : CallerRights.Of(principal);
        problem = problem is not null ? $"token: {problem}" : Access.Refresh(rights!);
        await SendAsync(problem is null ? ControlFrames.Refreshed(rights!.ExpiresAt?.UtcDateTime, requestId) : ControlFrames.Error(problem, requestId)).ConfigureAwait(false);
    }

    // A subscribe message: the query string's parameters as fields. A bad one is answered with an error
    // naming the field; the connection and its other subscriptions go on.
    private async Task SubscribeAsync(JsonElement message, string? requestId, CancellationToken aborted)
    {
        var query = StreamRequest.FromMessage(message, out var problem);
        if (problem is null)
        {
            (var plan, problem) = await StreamRequest.ResolveAsync(query, _rights, Core, _registry, _lookups, _replay, aborted).ConfigureAwait(false);
            if (plan is { ReplayFrom: { } from })
            {
                if (await OpenWithReplayAsync(plan, from, requestId).ConfigureAwait(false) is { } refused)
                {
                    await SendErrorAsync(requestId, refused).ConfigureAwait(false);
                }

                return;
            }

            if (plan is not null)
            {
                // From the receive loop itself: a close is read only after this returns, and this
                // subscribe does not re-read Kafka, so `aborted` is the only stop it needs.
                if (await OpenAsync(plan, requestId, aborted, aborted).ConfigureAwait(false) is { } refusal)
                {
                    await SendErrorAsync(requestId, refusal).ConfigureAwait(false);
                }

                return;
            }
        }

        await SendErrorAsync(requestId, problem!.Value.ToString()).ConfigureAwait(false);
    }

    // Older than the retained log, beside other subscriptions: "subscribed" at the client's token, then its
    // events re-read from Kafka in the background, between this connection's other frames, then the core takes over.
    // Null, or why it was not admitted.

    // {"type":"ack","resume_token":"..."} (plus "subscription_id" on a multiplexed connection): record it, answer with the point held.
    private async Task AcknowledgeAsync(string? subscriptionId, string? token, string? requestId)
    {
        var members = Subscriptions.Members;
        var member = subscriptionId is null
            ? (members.Length == 1 ? members[0] : null)
            : Array.Find(members, m => m.Id == subscriptionId);

        // A subscription still opening (re-reading Kafka) has no member yet; what the client has processed of it is held all the same.
        var opening = member is not null ? null
            : subscriptionId is null ? (members.Length == 0 && Subscriptions.Openings is [var only] ? only : null)
            : Subscriptions.FindOpening(subscriptionId);
        var (id, managed) = member is not null ? (member.Id, member.Changed is not null) : opening is not null ? (opening.Id, opening.Managed) : (null, false);
        string reply;
        if (id is null)
        {
            reply = subscriptionId is null
                ? "subscription_id: required on a connection that carries several subscriptions"
                : $"subscription_id: '{subscriptionId}' is not streaming on this connection";
        }
        else if (!managed)
        {
            reply = "acknowledgements are for streams of a subscription (connect with subscription_id)";
        }
        else if (!ResumeToken.TryDecode(token, out var parsed, out var why))
        {
            reply = $"resume_token {why}";
        }
        else if (_registry.Acknowledge(id, parsed) is { } held)
        {
            await SendAsync(ControlFrames.Acked(id, held.Encode(), held.Sequence, requestId))
                .ConfigureAwait(false);
            return;
        }
        else
        {
            reply = $"subscription '{id}' no longer exists";
        }

        await SendErrorAsync(requestId, reply).ConfigureAwait(false);
    }
}
