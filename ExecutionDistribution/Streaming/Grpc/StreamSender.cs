using System.Globalization;
using System.IO.Pipelines;
using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Subscriptions;

namespace ExecutionDistribution.Streaming.Grpc;

/// <summary>
/// Sends the events of one <c>StreamExecution</c> call from the core's delivery loop
/// (<see cref="PushSender"/>): each batch, at most the call's <c>max_events_per_message</c>, is one
/// gRPC message written into the response body and flushed. Its events wait until the call starts it,
/// after the response headers and the order snapshot, which the call writes itself.
/// </summary>
/// <param name="body">The call's response body.</param>
/// <param name="subscriptionId">The id every message carries.</param>
/// <param name="epoch">The core's log epoch, for resume tokens.</param>
/// <param name="perMessage">Most events per message.</param>
/// <param name="audit">The stream's audit.</param>
/// <param name="time">Clock of the heartbeats and the linger.</param>
/// <param name="linger">Under load, the rest after a message (<c>Grpc:SendLinger</c>); zero: none.</param>
/// <param name="ended">Cancelled when the stream ends (the client went away, the service stops, the subscription changed).</param>
internal sealed class StreamSender(
    PipeWriter body, string subscriptionId, Guid epoch, int perMessage, StreamAudit audit, TimeProvider time, TimeSpan linger, CancellationToken ended)
    : PushSender(perMessage, audit, time, linger, ended)
{
    private readonly ExecutionFrame _frame = new();

    /// <inheritdoc />
    protected override ValueTask WriteEvents(DeliveryBatch batch, out string token)
    {
        token = new ResumeToken(epoch, batch.ResumePosition, batch.LastSequence).Encode();
        BodyFrameWriter<ExecutionFrame>.Frame(body, _frame.Events(subscriptionId, token, batch));
        return BodyFrameWriter<ExecutionFrame>.Flush(body, Ended);
    }

    /// <inheritdoc />
    protected override ValueTask WriteHeartbeat(string token)
    {
        BodyFrameWriter<ExecutionFrame>.Frame(body, ExecutionFrame.Of(new ExecutionMessage
        {
            SubscriptionId = subscriptionId,
            ResumeToken = token,
            Heartbeat = new Heartbeat { Time = Timestamps.UtcNow(Time).ToString(Timestamps.WireFormat, CultureInfo.InvariantCulture) },
        }));
        return BodyFrameWriter<ExecutionFrame>.Flush(body, Ended);
    }
}
