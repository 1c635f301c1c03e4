using System.Globalization;
using System.IO.Pipelines;
using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Subscriptions;
using Grpc.Core;

namespace ExecutionDistribution.Streaming.Grpc;

/// <summary>
/// One <c>StreamExecution</c> call: a <see cref="Connection"/> of one subscription whose messages of
/// events (at most the call's <c>max_events_per_message</c> each) are <see cref="ExecutionMessage"/>s
/// written from each event's JSON bytes as they are (<see cref="EventFrames"/>). The call writes its opening
/// (headers, events re-read from Kafka, the order snapshot) before the subscription is read.
/// </summary>
/// <param name="core">The dispatch core.</param>
/// <param name="registry">Managed subscriptions.</param>
/// <param name="trail">The delivery audit.</param>
/// <param name="options">The gRPC stream settings (linger, heartbeat interval).</param>
/// <param name="time">Clock of heartbeats and the linger.</param>
/// <param name="body">The call's response writer.</param>
/// <param name="bodyPipe">The call's response body, which the messages of events are written into.</param>
/// <param name="id">The subscription id every message carries.</param>
/// <param name="aborted">Cancelled when the call ends (the client went away, the service stops).</param>
internal sealed class ExecutionCall(
    FanOutDispatcher core, SubscriptionRegistry registry, AuditTrail trail, GrpcStreamOptions options, TimeProvider time,
    IServerStreamWriter<ExecutionMessage> body, PipeWriter bodyPipe, string id, CancellationToken aborted)
    : Connection(core, registry, trail, 1, $"{GrpcStreamOptions.SectionName}:{nameof(GrpcStreamOptions.MaxSubscriptionsPerCall)}", multiplexed: false,
        time, options.SendLinger, options.HeartbeatInterval, aborted)
{
    private readonly EventFrames _frames = new();

    /// <summary>A message of the call's own (a re-read batch, the snapshot), between the loop's.</summary>
    public Task WriteAsync(ExecutionMessage message) => WriteAsync((body, message), static (s, ct) => new ValueTask(s.body.WriteAsync(s.message, ct)));

    /// <summary>A message of events re-read from Kafka (before the subscription is read), between the loop's.</summary>
    public Task WriteEventsAsync(EventFrames frames, string subscriptionId, string resumeToken, DeliveryBatch batch) =>
        WriteAsync((bodyPipe, frames, subscriptionId, resumeToken, batch), static (s, _) => s.frames.WriteEvents(s.bodyPipe, s.subscriptionId, s.resumeToken, s.batch));

    /// <inheritdoc />
    internal override StreamTransport Transport => StreamTransport.Grpc;

    /// <summary>
    /// One message of the subscription's batch, straight into the response body (started by the
    /// opening's headers). A call that ends while its client does not read ends the request.
    /// </summary>
    protected override ValueTask WriteEvents(StreamMember[] members)
    {
        var m = members[0];
        return _frames.WriteEvents(bodyPipe, id, m.ResumeToken, m.Batch);
    }

    /// <inheritdoc />
    protected override ValueTask WriteHeartbeat(CancellationToken cancellationToken) =>
        new(body.WriteAsync(
            new ExecutionMessage
            {
                SubscriptionId = id,
                ResumeToken = Subscriptions.Members is [var m] ? m.ResumeToken : string.Empty,
                Heartbeat = new Heartbeat { Time = Timestamps.UtcNow(Time).ToString(Timestamps.WireFormat, CultureInfo.InvariantCulture) },
            },
            cancellationToken));

    /// <inheritdoc />
    protected override Task OnEndedAsync(StreamMember member) => Task.CompletedTask;

    // A write to a finished call throws InvalidOperationException.
    protected override bool IsDisconnect(Exception exception) => exception is IOException or InvalidOperationException;
}
