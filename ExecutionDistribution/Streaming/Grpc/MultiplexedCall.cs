using System.Globalization;
using System.IO.Pipelines;
using System.Text.Json;
using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Security;
using ExecutionDistribution.Subscriptions;
using Google.Protobuf;
using Grpc.Core;

namespace ExecutionDistribution.Streaming.Grpc;

/// <summary>
/// One <c>StreamMultiplexed</c> call: several subscriptions of the dispatch core on one gRPC stream.
/// The client's commands (subscribe, unsubscribe, ack) are read as they come and answered in the
/// response stream; as a <see cref="Connection"/> of several subscriptions, its delivery loop writes
/// one <see cref="MultiplexedBatch"/> per message, each event once, tagged with every subscription that
/// takes it, from each event's JSON bytes as they are (<see cref="EventFrames"/>). The call ends when
/// the client cancels it, when the client has half-closed and no subscription remains, or when the
/// service stops.
/// </summary>
internal sealed class MultiplexedCall : Connection
{
    private const string Unsubscribed = "unsubscribed by the client";

    private readonly ExecutionStreamService _service;
    private readonly CallerRights _rights; // every subscription of the call is narrowed to them
    private readonly TokenValidation _tokens;
    private readonly GrpcStreamOptions _options;
    private readonly IServerStreamWriter<MultiplexedMessage> _writer;
    private readonly PipeWriter _body;

    // The frame of the loop's messages, reused for every one (one writer at a time).
    private readonly EventFrames _frames = new();
    private readonly IEventReplay? _replay;
    private int _halfClosed;
    private RpcException? _unreadable;

    public MultiplexedCall(
        ExecutionStreamService service, CallerRights rights, TokenValidation tokens, FanOutDispatcher core, SubscriptionRegistry registry, AuditTrail trail, GrpcStreamOptions options, TimeProvider time,
        IServerStreamWriter<MultiplexedMessage> writer, PipeWriter body, IEventReplay? replay, CancellationToken aborted)
        : base(core, registry, trail, options.MaxSubscriptionsPerCall, $"{GrpcStreamOptions.SectionName}:{nameof(GrpcStreamOptions.MaxSubscriptionsPerCall)}", multiplexed: true,
            time, options.SendLinger, options.HeartbeatInterval, aborted)
    {
        _service = service;
        _rights = rights;
        _tokens = tokens;
        _options = options;
        _writer = writer;
        _body = body;
        _replay = replay;
    }

    /// <summary>
    /// Why a command of the client could not be read, when that ended the call: InvalidArgument (not a
    /// StreamCommand) or ResourceExhausted (larger than gRPC's receive limit); the service ends the call with it.
    /// </summary>
    public RpcException? Unreadable => Volatile.Read(ref _unreadable);

    /// <summary>Runs the call until the client cancels it, half-closes with nothing left, or the service stops.</summary>
    public async Task RunAsync(IAsyncStreamReader<StreamCommand> commands, ServerCallContext context, CancellationToken stopping)
    {
        var aborted = context.CancellationToken;
        // `stop` ends the call gracefully: every subscriber closes, the delivery loop sends what they hold, and the call is done.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(aborted, stopping);
        using var release = stop.Token.Register(Subscriptions.StopAll);
        var receive = ReceiveLoopAsync(commands, stop, aborted);
        var heartbeat = HeartbeatLoopAsync(stop.Token);
        try
        {
            await Done.ConfigureAwait(false);
        }
        finally
        {
            Subscriptions.StopAll();
            Subscriptions.ReleaseAll();
            await stop.CancelAsync().ConfigureAwait(false);
            await heartbeat.ConfigureAwait(false);
            await receive.ConfigureAwait(false);
            await ReplaysEndedAsync().ConfigureAwait(false);
            Subscriptions.ReleaseAll(); // one the receive loop or a re-reading opened while the call ended
            await ExecutionStreamService.StopAsync(this, context).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    internal override StreamTransport Transport => StreamTransport.Grpc;

    // Each event once, in log order, with every subscription of the call that takes it, straight into the
    // response body (started by the first subscription's reply).
    protected override ValueTask WriteEvents(StreamMember[] members) => _frames.WriteLive(_body, members, Reader!);

    // A write to a finished call throws InvalidOperationException.
    protected override bool IsDisconnect(Exception exception) => exception is IOException or InvalidOperationException;

    // A call whose client half-closed ends when no subscription is left, streaming or opening.
    private void StopIfDone()
    {
        if (Volatile.Read(ref _halfClosed) == 1 && Subscriptions.Members.Length == 0 && Subscriptions.Openings.Length == 0)
        {
            Subscriptions.StopAll();
        }
    }

    // Announced; a call whose client half-closed ends after its last subscription.
    protected override async Task OnEndedAsync(StreamMember member)
    {
        if (!Subscriptions.Stopping)
        {
            await WriteAsync(new MultiplexedMessage
            {
                Unsubscribed = new SubscriptionEnded { RequestId = member.EndRequestId ?? string.Empty, SubscriptionId = member.Id, ResumeToken = member.ResumeToken, Reason = member.EndReason ?? "ended" },
            }).ConfigureAwait(false);
        }

        StopIfDone();
    }

    private async Task ReceiveLoopAsync(IAsyncStreamReader<StreamCommand> commands, CancellationTokenSource stop, CancellationToken aborted)
    {
        try
        {
            while (await commands.MoveNext(stop.Token).ConfigureAwait(false))
            {
                await HandleAsync(commands.Current, aborted).ConfigureAwait(false);
            }

            Interlocked.Exchange(ref _halfClosed, 1); // a full fence: the last release sees it, or this sees no member
            // Half-closed: the call goes on while it has subscriptions (it ends after the last).
            StopIfDone();
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or RpcException { StatusCode: StatusCode.ResourceExhausted } && !aborted.IsCancellationRequested)
        {
            // The client sent bytes that are not a StreamCommand, or a command over the receive limit, and
            // what follows cannot be read. The call ends gracefully, then with that status, so the client
            // learns why instead of waiting on unanswered commands.
            Volatile.Write(ref _unreadable, ex is RpcException tooLarge
                ? new RpcException(new Status(StatusCode.ResourceExhausted, $"a command is larger than the {GrpcModule.MaxCommandBytes} bytes a command may have ({tooLarge.Status.Detail})"))
                : new RpcException(new Status(StatusCode.InvalidArgument, $"the message is not a valid {StreamCommand.Descriptor.Name}: {ex.Message}")));

            await StopAsync(stop).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException || IsDisconnect(ex))
        {
            // The client went away, or the call ended.
            await StopAsync(stop).ConfigureAwait(false);
        }
    }

    private static async Task StopAsync(CancellationTokenSource stop)
    {
        try
        {
            await stop.CancelAsync().ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            // The call already ended.
        }
    }

    private async Task HandleAsync(StreamCommand command, CancellationToken aborted)
    {
        var requestId = command.RequestId;
        try
        {
            switch (command.CommandCase)
            {
                case StreamCommand.CommandOneofCase.Subscribe:
                    await SubscribeAsync(command.Subscribe, requestId, aborted).ConfigureAwait(false);
                    break;
                case StreamCommand.CommandOneofCase.Unsubscribe:
                    if (Subscriptions.Find(command.Unsubscribe) is { } member)
                    {
                        member.EndRequestId = requestId;
                        Subscriptions.End(member, Unsubscribed);
                    }
                    else if (Subscriptions.FindOpening(command.Unsubscribe) is { } opening)
                    {
                        // Still re-reading Kafka: it stops between batches and says so.
                        Subscriptions.EndOpening(opening, Unsubscribed, requestId);
                    }
                    else
                    {
                        throw new RpcException(new Status(StatusCode.NotFound, $"unsubscribe: '{command.Unsubscribe}' is not streaming on this call"));
                    }

                    break;
                case StreamCommand.CommandOneofCase.Ack:
                    await AcknowledgeAsync(command.Ack, requestId).ConfigureAwait(false);
                    break;
                case StreamCommand.CommandOneofCase.Refresh:
                    await RefreshAsync(command.Refresh, requestId, aborted).ConfigureAwait(false);
                    break;
                default:
                    throw ExecutionStreamService.Invalid("command", "one of subscribe, unsubscribe, ack or refresh is required");
            }
        }
        catch (RpcException ex)
        {
            await WriteAsync(new MultiplexedMessage
            {
                Error = new CommandError { RequestId = requestId, Code = CodeName(ex.StatusCode), Message = ex.Status.Detail },
            }).ConfigureAwait(false);
        }
    }

    // A subscribe: answered with subscribed (then its snapshot comes in the same message) before its first event, or an error.
    private async Task SubscribeAsync(StreamRequest request, string requestId, CancellationToken aborted)
    {
        var plan = await _service.ResolveAsync(request, _rights, aborted).ConfigureAwait(false);
        var id = plan.Managed?.SubscriptionId ?? $"grpc-{Guid.NewGuid():N}";
        var admission = Subscriptions.Admit(id, plan.Managed, plan.Guarantee, plan.Filter, out var refusal);
        if (admission is not null && plan.ReplayFrom is { } from)
        {
            // Older than the retained log: subscribed at the client's token, then its events re-read from
            // Kafka in the background, between this call's other messages, then the core takes over.
            try
            {
                await WriteAsync(new MultiplexedMessage
                {
                    Subscribed = new SubscriptionOpened { RequestId = requestId, SubscriptionId = id, ResumeToken = from.Encode(), Narrowed = plan.Narrowed ?? string.Empty },
                }).ConfigureAwait(false);
            }
            catch
            {
                Subscriptions.Abandon(admission);
                throw;
            }

            OpenWithReplay(admission, _replay!, plan.Filter, plan.Guarantee, from, _options.BufferCapacity, plan.PerMessage, requestId);
            return;
        }

        var member = admission is null
            ? null
            : Subscriptions.Join(admission, plan.Filter, plan.Guarantee, plan.Resume, _options.BufferCapacity, plan.PerMessage, out refusal);
        if (member is null)
        {
            throw new RpcException(new Status(Code(refusal!.Kind), refusal.Reason));
        }

        try
        {
            await WriteAsync(new MultiplexedMessage
            {
                Subscribed = new SubscriptionOpened { RequestId = requestId, SubscriptionId = id, ResumeToken = member.ResumeToken, Snapshot = plan.Snapshot, Narrowed = plan.Narrowed ?? string.Empty },
            }).ConfigureAwait(false);
        }
        finally
        {
            // Read even when the reply failed, so it is let go of like any other.
            Subscriptions.Activate(member);
        }
    }

    // A new token for the call, checked as any token is, of the same subject and portfolios.
    private async Task RefreshAsync(string token, string requestId, CancellationToken aborted)
    {
        var (principal, problem) = await _tokens.ValidateAsync(token, aborted).ConfigureAwait(false);
        var rights = principal is null ? null : CallerRights.Of(principal);
        problem ??= Access!.Refresh(rights!);
        if (problem is not null)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, problem.StartsWith("token", StringComparison.Ordinal) ? problem : $"refresh: {problem}"));
        }

        await WriteAsync(new MultiplexedMessage { Refreshed = ExecutionStreamService.Refreshed(requestId, rights!) }).ConfigureAwait(false);
    }

    // An acknowledgement of a managed subscription streaming on this call.
    private async Task AcknowledgeAsync(AckRequest request, string requestId)
    {
        // One still re-reading Kafka is acknowledged all the same: what the client processed of it is held.
        var managed = Subscriptions.Find(request.SubscriptionId) is { } member
            ? member.Changed is not null
            : Subscriptions.FindOpening(request.SubscriptionId) is { } opening
                ? opening.Managed
                : throw new RpcException(new Status(StatusCode.NotFound, $"ack.subscription_id: '{request.SubscriptionId}' is not streaming on this call"));
        if (!managed)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                "ack.subscription_id: acknowledgements are for subscriptions created with ManageSubscription; an ad hoc subscription is not acknowledged"));
        }

        var held = _service.Acknowledge(request, _rights);
        await WriteAsync(new MultiplexedMessage
        {
            Acked = new Acked { RequestId = requestId, SubscriptionId = request.SubscriptionId, AcknowledgedToken = held.AcknowledgedToken, AcknowledgedSequence = held.AcknowledgedSequence },
        }).ConfigureAwait(false);
    }

    // One subscription's events re-read from Kafka, each tagged with it alone.
    protected override Task WriteReplayFrameAsync(string id, DeliveryBatch batch, string resumeToken) =>
        WriteAsync(Replay(id, batch, resumeToken));

    protected override async Task WriteOpenFailedAsync(string? requestId, string subscriptionId, OpenRefusal refusal)
    {
        await WriteAsync(new MultiplexedMessage
        {
            Error = new CommandError { RequestId = requestId ?? string.Empty, Code = CodeName(Code(refusal.Kind)), Message = refusal.Reason, SubscriptionId = subscriptionId },
        }).ConfigureAwait(false);
        StopIfDone();
    }

    protected override async Task WriteOpeningEndedAsync(Admission admission)
    {
        await WriteAsync(new MultiplexedMessage
        {
            Unsubscribed = new SubscriptionEnded { RequestId = admission.EndRequestId ?? string.Empty, SubscriptionId = admission.Id, ResumeToken = admission.ResumeToken, Reason = admission.EndReason ?? "ended" },
        }).ConfigureAwait(false);
        StopIfDone();
    }

    protected override ValueTask WriteHeartbeat(CancellationToken cancellationToken)
    {
        var heartbeat = new MultiplexedHeartbeat { Time = Timestamps.UtcNow(Time).ToString(Timestamps.WireFormat, CultureInfo.InvariantCulture) };
        foreach (var m in Subscriptions.Members)
        {
            heartbeat.ResumeTokens[m.Id] = m.ResumeToken;
        }

        foreach (var opening in Subscriptions.Openings)
        {
            heartbeat.ResumeTokens[opening.Id] = opening.ResumeToken; // still re-reading Kafka
        }

        return new ValueTask(_writer.WriteAsync(new MultiplexedMessage { Heartbeat = heartbeat }, cancellationToken));
    }

    // Every message but the loop's: one at a time, between them.
    private Task WriteAsync(MultiplexedMessage message) =>
        WriteAsync((_writer, message), static (s, ct) => new ValueTask(s._writer.WriteAsync(s.message, ct)));

    private static StatusCode Code(RefusalKind kind) => kind switch
    {
        RefusalKind.NotReReadable => StatusCode.OutOfRange,
        RefusalKind.Limit => StatusCode.ResourceExhausted,
        RefusalKind.Conflict => StatusCode.AlreadyExists,
        RefusalKind.Closing => StatusCode.Unavailable,
        _ => StatusCode.FailedPrecondition,
    };

    // StatusCode.InvalidArgument -> "INVALID_ARGUMENT", as gRPC names its codes.
    private static string CodeName(StatusCode code) => JsonNamingPolicy.SnakeCaseUpper.ConvertName(code.ToString());

    /// <summary>One subscription's events re-read from Kafka, each tagged with it alone (a new message; generated: not on the hot path).</summary>
    internal static MultiplexedMessage Replay(string subscriptionId, DeliveryBatch batch, string resumeToken)
    {
        var replayed = new MultiplexedBatch { ResumeTokens = { [subscriptionId] = resumeToken } };
        foreach (var d in batch.Deliveries)
        {
            replayed.Events.Add(new TaggedEvent
            {
                Deliveries = { new SubscriptionSequence { SubscriptionId = subscriptionId, Sequence = d.Sequence } },
                EventId = d.Event.EventId,
                DataType = WireNames.DataTypes[(int)d.Event.DataType],
                OrderId = d.Event.OrderId ?? string.Empty,
                EventJson = UnsafeByteOperations.UnsafeWrap(d.Event.EnvelopeJson),
            });
        }

        return new MultiplexedMessage { Events = replayed };
    }
}
