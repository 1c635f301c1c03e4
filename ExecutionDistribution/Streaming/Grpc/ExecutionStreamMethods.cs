using ExecutionDistribution.Grpc.V1;
using Google.Protobuf;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;

namespace ExecutionDistribution.Streaming.Grpc;

/// <summary>
/// Binds the <c>execdist.v1.ExecutionStream</c> methods to <see cref="ExecutionStreamService"/> in place
/// of the generated binder, for one reason: the two streaming methods answer with
/// <see cref="IWireFrame"/>s, whose marshaller writes event batches from bytes encoded once per event
/// rather than encoding every event's fields again for each stream. Requests and the unary methods use
/// protobuf's generated messages as before; method names, types and the wire are those of the .proto,
/// and server reflection describes the service from the same descriptor (see <see cref="GrpcModule"/>).
/// The streaming methods are handed a <see cref="BodyFrameWriter{T}"/> in place of gRPC's response
/// writer: the same bytes, written into the response body with fewer layers per write.
/// </summary>
internal sealed class ExecutionStreamMethods : IServiceMethodProvider<ExecutionStreamService>
{
    private static readonly string ServiceName = ExecutionStream.Descriptor.FullName;

    private static readonly Method<StreamRequest, ExecutionFrame> StreamExecution = new(
        MethodType.ServerStreaming, ServiceName, nameof(StreamExecution), Protobuf(StreamRequest.Parser), Frames<ExecutionFrame>());

    private static readonly Method<SubscriptionRequest, SubscriptionResponse> ManageSubscription = new(
        MethodType.Unary, ServiceName, nameof(ManageSubscription), Protobuf(SubscriptionRequest.Parser), Protobuf(SubscriptionResponse.Parser));

    private static readonly Method<AckRequest, AckResponse> Acknowledge = new(
        MethodType.Unary, ServiceName, nameof(Acknowledge), Protobuf(AckRequest.Parser), Protobuf(AckResponse.Parser));

    private static readonly Method<StreamCommand, MultiplexedFrame> StreamMultiplexed = new(
        MethodType.DuplexStreaming, ServiceName, nameof(StreamMultiplexed), Protobuf(StreamCommand.Parser), Frames<MultiplexedFrame>());

    /// <inheritdoc />
    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<ExecutionStreamService> context)
    {
        context.AddServerStreamingMethod(StreamExecution, [], static (service, request, _, call) => service.StreamExecution(request, BodyFrameWriter<ExecutionFrame>.For(call), call));
        context.AddUnaryMethod(ManageSubscription, [], static (service, request, call) => service.ManageSubscription(request, call));
        context.AddUnaryMethod(Acknowledge, [], static (service, request, call) => service.Acknowledge(request, call));
        context.AddDuplexStreamingMethod(StreamMultiplexed, [], static (service, commands, _, call) => service.StreamMultiplexed(commands, BodyFrameWriter<MultiplexedFrame>.For(call), call));
    }

    // As the generated code does: straight into gRPC's buffer, its length known first. A request that is
    // not a valid message is the client's error (InvalidArgument), not an exception of the handler (Unknown).
    private static Marshaller<T> Protobuf<T>(MessageParser<T> parser)
        where T : IMessage<T>, new() => new(
        static (message, context) =>
        {
            context.SetPayloadLength(message.CalculateSize());
            message.WriteTo(context.GetBufferWriter());
            context.Complete();
        },
        context =>
        {
            try
            {
                return parser.ParseFrom(context.PayloadAsReadOnlySequence());
            }
            catch (InvalidProtocolBufferException ex)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"the message is not a valid {new T().Descriptor.Name}: {ex.Message}"));
            }
        });

    // Frames are only ever sent by the service.
    private static Marshaller<T> Frames<T>()
        where T : IWireFrame => new(
        static (frame, context) =>
        {
            context.SetPayloadLength(frame.CalculateSize());
            frame.WriteTo(context.GetBufferWriter());
            context.Complete();
        },
        static _ => throw new NotSupportedException("stream frames are written by the service, never read by it"));
}
