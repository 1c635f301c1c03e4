using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Serialization;
using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Orders;
using ExecutionDistribution.Security;
using ExecutionDistribution.Subscriptions;

namespace ExecutionDistribution.Streaming.WebSockets;

/// <summary>
/// One WebSocket connection: a <see cref="Connection"/> of one or (multiplexed) several subscriptions
/// of the dispatch core whose messages become JSON text frames. Each event's envelope bytes are
/// serialized once by the core and copied into the frame as they are. On a multiplexed connection an
/// event that several subscriptions take travels once, tagged with each subscription's id and
/// sequence. A receive loop answers pings, acknowledgements and (multiplexed) subscribe / unsubscribe
/// messages, and a heartbeat carries the resume tokens while the connection is idle.
/// </summary>
/// <remarks>
/// Frames of events are sent without a cancellation token: with one that can be cancelled, the
/// WebSocket takes its slow path for every frame (an async state machine, its send lock awaited, a
/// registration on the token), which was a tenth of the service's CPU at 100,000 frames/s (measured in
/// W4). Nothing is lost by it: the token such a send would take is the request's abort, and when the
/// connection is aborted Kestrel completes a send that waits for the client anyway.
/// </remarks>
internal sealed partial class WebSocketStreamSession : Connection
{
    private readonly WebSocket _socket;
    private readonly SubscriptionRegistry _registry;
    private readonly AuditTrail _trail;
    private readonly OrderLookups _lookups;
    private readonly WebSocketOptions _options;
    private readonly bool _multiplex;
    private readonly IEventReplay? _replay;
    private readonly CallerRights _rights; // every subscription of the connection is narrowed to them

    /// <summary>Checks the tokens of in-band refreshes.</summary>
    public TokenValidation? Tokens { get; init; }
    private readonly EventFrames _frames = new();

    // Frames of events re-read from Kafka for a subscription opening beside others: written holding the writer.
    private readonly EventFrames _replayFrames = new();
    private volatile bool _clientClosed;
    private volatile bool _failedByClient;
    private string? _endedBySubscription;

    public WebSocketStreamSession(
        WebSocket socket, FanOutDispatcher core, SubscriptionRegistry registry, AuditTrail trail, OrderLookups lookups, CallerRights rights,
        WebSocketOptions options, TimeProvider time, bool multiplex, CancellationToken aborted, IEventReplay? replay = null)
        : base(core, registry, trail, multiplex ? options.MaxSubscriptionsPerConnection : 1, $"{WebSocketOptions.SectionName}:{nameof(WebSocketOptions.MaxSubscriptionsPerConnection)}",
            multiplex, time, options.SendLinger, options.HeartbeatInterval, aborted)
    {
        _replay = replay;
        _rights = rights;
        _socket = socket;
        _registry = registry;
        _trail = trail;
        _lookups = lookups;
        _options = options;
        _multiplex = multiplex;
    }

    /// <summary>Close code 1012, "service restart" (RFC 6455's registry; not in <see cref="WebSocketCloseStatus"/>).</summary>
    private const WebSocketCloseStatus ServiceRestart = (WebSocketCloseStatus)1012;

    /// <summary>Runs the connection until the client leaves or the service stops; <paramref name="first"/> is opened before anything else.</summary>
    public async Task RunAsync(StreamPlan? first, CancellationToken serviceStopping)
    {
        // `stop` ends the connection gracefully (the client closed, or the service is stopping): it
        // closes every subscriber, the delivery loop sends what they hold and lets go of them. Socket
        // operations only take `Aborted` (the client is gone): cancelling a pending WebSocket operation
        // aborts the socket, and then no close frame can be sent.
        var aborted = Aborted;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(aborted, serviceStopping);
        StreamMember[] members = [];
        using var release = stop.Token.Register(() =>
        {
            members = Subscriptions.Members; // their tokens, once the last write is done, go in a reconnect frame
            Subscriptions.StopAll();
        });
        Task receive = Task.CompletedTask;
        Task heartbeat = Task.CompletedTask;
        try
        {
            // The client is read from the start: its pings, acknowledgements and close are served while
            // the first subscription re-reads Kafka, which can take long (a client with a pong timeout
            // would otherwise give up on a replaying connection).
            receive = ReceiveLoopAsync(stop, aborted);
            var refusal = first switch
            {
                null => null,
                { ReplayFrom: { } from } when _multiplex => await OpenWithReplayAsync(first, from, requestId: null).ConfigureAwait(false),
                _ => await OpenAsync(first, requestId: null, aborted, stop.Token).ConfigureAwait(false),
            };
            if (refusal is not null)
            {
                await RejectAsync(_socket, refusal).ConfigureAwait(false);
                return;
            }

            // The delivery loop sends; this waits until the connection can send no more (its subscriptions
            // ended, or a write failed).
            heartbeat = HeartbeatLoopAsync(stop.Token);
            await Done.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
            // The client went away; the subscribers are released below.
        }
        finally
        {
            Subscriptions.StopAll();
            Subscriptions.ReleaseAll();

            // Waits for a write under way and keeps the writer: the close frame below is the last.
            await StopAsync().ConfigureAwait(false);
            await stop.CancelAsync().ConfigureAwait(false);
            await heartbeat.ConfigureAwait(false);
            if (DeniedReason is { } denied && !(_clientClosed || aborted.IsCancellationRequested))
            {
                // The caller's access was revoked, or its token expired unrefreshed: 4403 with the reason.
                await CloseAsync(WebSocketAuth.Forbidden, denied).ConfigureAwait(false);
            }
            else if (_endedBySubscription is not null && !serviceStopping.IsCancellationRequested)
            {
                await CloseAsync(WebSocketCloseStatus.NormalClosure, _endedBySubscription).ConfigureAwait(false);
            }
            else if (serviceStopping.IsCancellationRequested && !(_clientClosed || aborted.IsCancellationRequested))
            {
                // The instance is stopping (a drain): every subscription's token, then 1012 (service restart):
                // the client reconnects, to another instance, with them.
                var tokens = members.Where(m => m.ResumeToken.Length > 0).ToDictionary(m => m.Id, m => m.ResumeToken, StringComparer.Ordinal);
                await SendLastAsync(ControlFrames.Reconnect(tokens, Timestamps.UtcNow(Time))).ConfigureAwait(false);
                await CloseAsync(ServiceRestart, "instance stopping; reconnect elsewhere with your resume tokens (the reconnect frame)").ConfigureAwait(false);
            }
            else if (!(_clientClosed || aborted.IsCancellationRequested))
            {
                // The service ended the stream: 1001, and the last token says where to resume.
                await CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "stream ended by the service; reconnect with your resume token").ConfigureAwait(false);
            }
            else
            {
                await CloseAsync(WebSocketCloseStatus.NormalClosure, "stream ended").ConfigureAwait(false);
            }

            // Let the receive loop take the client's close reply, briefly.
            await Task.WhenAny(receive, Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None)).ConfigureAwait(false);
            if (_failedByClient)
            {
                // The close the WebSocket sent must reach the client before the connection is torn down (ending
                // the request at once can reset it first): wait, briefly, for the client to close the connection.
                await Task.WhenAny(Task.Delay(TimeSpan.FromSeconds(2), aborted)).ConfigureAwait(false);
            }
            await ReplaysEndedAsync().ConfigureAwait(false);
            Subscriptions.ReleaseAll(); // one the receive loop or a re-reading opened while the connection ended
            await _frames.DisposeAsync().ConfigureAwait(false);
            await _replayFrames.DisposeAsync().ConfigureAwait(false);
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

    // Opens one subscription on this connection: null, or why not. Replies "subscribed" (and the order
    // snapshot) before the connection reads the subscriber, so they precede its first event.
    private async Task<string?> OpenAsync(StreamPlan plan, string? requestId, CancellationToken aborted, CancellationToken stopping)
    {
        if (Subscriptions.Admit(plan.Id, plan.Managed, plan.Guarantee, plan.Filter, out var refusal) is not { } admission)
        {
            return refusal!.Reason;
        }

        var subscribedSent = false;
        if (plan.ReplayFrom is { } from)
        {
            // Before the retained log: "subscribed" at the client's token, the events re-read from Kafka,
            // then the core takes over where the log begins.
            try
            {
                await SendAsync(ControlFrames.Control("subscribed", plan.Id, from.Encode(), Timestamps.UtcNow(Time), requestId, plan.Narrowed)).ConfigureAwait(false);
                subscribedSent = true;
                plan = plan with { Resume = await ReplayAsync(plan.Id, plan.Filter, from, admission.Audit, aborted, stopping).ConfigureAwait(false) };
            }
            catch (ReplayException ex)
            {
                Subscriptions.Abandon(admission);
                return $"resume_token: {ex.Message}";
            }
            catch
            {
                Subscriptions.Abandon(admission);
                throw;
            }
        }

        if (Subscriptions.Join(admission, plan.Filter, plan.Guarantee, plan.Resume, _options.BufferCapacity, _options.MaxEventsPerFrame, out refusal) is not { } member)
        {
            return refusal!.Reason;
        }

        try
        {
            if (!subscribedSent)
            {
                await SendAsync(ControlFrames.Control("subscribed", plan.Id, member.ResumeToken, Timestamps.UtcNow(Time), requestId, plan.Narrowed)).ConfigureAwait(false);
            }

            if (plan.Snapshot is { } snapshot)
            {
                // Before any event: the state of the watched orders as of the stream's start position.
                await SendAsync(ControlFrames.Snapshot(plan.Id, member.ResumeToken, snapshot))
                    .ConfigureAwait(false);
            }
        }
        finally
        {
            // Read from now on, what arrived meanwhile first (even when the reply failed, so it is let go of like any other).
            Subscriptions.Activate(member);
        }

        return null;
    }

    /// <inheritdoc />
    internal override StreamTransport Transport => StreamTransport.WebSocket;

    // One frame of events: a connection of one subscription sends its batch, a multiplexed one each event once with every subscription that takes it.
    protected override ValueTask WriteEvents(StreamMember[] members)
    {
        var frame = _multiplex ? _frames.Multiplexed(members, Reader!) : _frames.Events(members[0].Id, members[0].Batch, members[0].ResumeToken);
        return _socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
    }

    // Kestrel swallows writes once the connection is aborted.
    protected override bool StillConnected => !Aborted.IsCancellationRequested && _socket.State == WebSocketState.Open;

    protected override bool IsDisconnect(Exception exception) => exception is WebSocketException;

    // A multiplexed connection says a subscription ended and goes on; a connection of one closes with the reason.
    protected override async Task OnEndedAsync(StreamMember member)
    {
        if (!_multiplex)
        {
            _endedBySubscription = member.EndReason;
        }
        else if (!Subscriptions.Stopping)
        {
            await SendAsync(ControlFrames.Ended(member.Id, member.ResumeToken, member.EndReason ?? "ended")).ConfigureAwait(false);
        }
    }

    // Sends the events from a token older than the retained log, re-read from Kafka (single-subscription
    // connections), and returns where the core takes over.
    // `stopping` (the client closed, the service is stopping) ends it between frames; socket operations take only `aborted`.
    private Task<ResumeToken> ReplayAsync(string id, SubscriptionFilter filter, ResumeToken from, StreamAudit audit, CancellationToken aborted, CancellationToken stopping) =>
        _replay!.SendUntilHandOverAsync(filter, from, _options.MaxEventsPerFrame, async (batch, token) =>
        {
            await _trail.WaitForRoomAsync(aborted).ConfigureAwait(false);
            try
            {
                await SendAsync(_frames.Events(id, batch, token.Encode())).ConfigureAwait(false);
            }
            catch
            {
                audit.Failed(batch.Deliveries, reread: true);
                throw;
            }

            audit.Delivered(batch.Deliveries, reread: true);
        }, stopping);

    // Every frame but the delivery loop's events: between them, one at a time.
    private Task SendAsync(ReadOnlyMemory<byte> frame) =>
        WriteAsync((_socket, frame), static (s, ct) => s._socket.SendAsync(s.frame, WebSocketMessageType.Text, endOfMessage: true, ct));

    private async Task<string?> OpenWithReplayAsync(StreamPlan plan, ResumeToken from, string? requestId)
    {
        if (Subscriptions.Admit(plan.Id, plan.Managed, plan.Guarantee, plan.Filter, out var refusal) is not { } admission)
        {
            return refusal!.Reason;
        }

        try
        {
            await SendAsync(ControlFrames.Control("subscribed", plan.Id, from.Encode(), Timestamps.UtcNow(Time), requestId, plan.Narrowed)).ConfigureAwait(false);
        }
        catch
        {
            Subscriptions.Abandon(admission);
            throw;
        }

        OpenWithReplay(admission, _replay!, plan.Filter, plan.Guarantee, from, _options.BufferCapacity, _options.MaxEventsPerFrame, requestId);
        return null;
    }

    // The multiplexed frame for one subscription, built holding the writer, in a buffer of its own.
    protected override Task WriteReplayFrameAsync(string id, DeliveryBatch batch, string resumeToken) =>
        WriteAsync((Session: this, Id: id, Batch: batch, Token: resumeToken), static (s, ct) =>
            s.Session._socket.SendAsync(s.Session._replayFrames.Replay(s.Id, s.Batch, s.Token), WebSocketMessageType.Text, endOfMessage: true, ct));

    protected override Task WriteOpenFailedAsync(string? requestId, string subscriptionId, OpenRefusal refusal) =>
        SendAsync(ControlFrames.Error(refusal.Reason, requestId, subscriptionId));

    protected override Task WriteOpeningEndedAsync(Admission admission) =>
        SendAsync(ControlFrames.Ended(admission.Id, admission.ResumeToken, admission.EndReason ?? "ended"));

    private Task SendErrorAsync(string? requestId, string message) =>
        SendAsync(ControlFrames.Error(message, requestId));

    // A heartbeat: the subscription's token, or on a multiplexed connection every subscription's.
    protected override ValueTask WriteHeartbeat(CancellationToken cancellationToken)
    {
        var members = Subscriptions.Members;
        if (!_multiplex)
        {
            var (id, token) = members is [var only] ? (only.Id, only.ResumeToken) : (string.Empty, string.Empty);
            return _socket.SendAsync(new ReadOnlyMemory<byte>(ControlFrames.Control("heartbeat", id, token, Timestamps.UtcNow(Time), null)),
                WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
        }

        var tokens = new Dictionary<string, string>(members.Length, StringComparer.Ordinal);
        foreach (var m in members)
        {
            tokens[m.Id] = m.ResumeToken;
        }

        foreach (var opening in Subscriptions.Openings)
        {
            tokens[opening.Id] = opening.ResumeToken; // still re-reading Kafka
        }

        return _socket.SendAsync(new ReadOnlyMemory<byte>(ControlFrames.Heartbeat(tokens, Timestamps.UtcNow(Time))),
            WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
    }

    // After the connection stopped (its writer kept, as for the close): a last frame before the close.
    private async Task SendLastAsync(byte[] frame)
    {
        if (_socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await _socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
            // The client is gone.
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
}
