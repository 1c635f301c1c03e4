using System.Buffers;
using ExecutionDistribution.Core;
using ExecutionDistribution.Grpc.V1;
using Google.Protobuf;

namespace ExecutionDistribution.Streaming.Grpc;

/// <summary>
/// What a streaming call writes: either a message for protobuf to encode (a heartbeat, a snapshot,
/// a command's answer), or a batch of events written by hand from each event's bytes encoded once
/// (<see cref="DeliveryHead"/>). The bytes on the wire are the same message either way, so clients
/// read it with the .proto as published.
/// </summary>
internal interface IWireFrame
{
    /// <summary>Bytes of the encoded message (gRPC writes the length ahead of it).</summary>
    int CalculateSize();

    /// <summary>Writes the encoded message.</summary>
    void WriteTo(IBufferWriter<byte> output);
}

/// <summary>
/// One <see cref="ExecutionMessage"/> of a <c>StreamExecution</c> call. A stream reuses one frame for
/// its event batches, so sending a batch allocates nothing per event: per delivery it writes the
/// message's header and the sequence number, then the event's shared head and JSON. Encoded, a
/// batch is byte for byte what protobuf writes for the same <see cref="ExecutionMessage"/>.
/// </summary>
internal sealed class ExecutionFrame : IWireFrame
{
    // Field tags of ExecutionMessage, EventBatch and Delivery: (number << 3) | wire type (0 varint, 2 length-delimited).
    private const byte SubscriptionIdTag = (1 << 3) | 2;
    private const byte EventsTag = (2 << 3) | 2;
    private const byte ResumeTokenTag = (4 << 3) | 2;
    private const byte DeliveryTag = (1 << 3) | 2;
    private const byte DroppedTag = 2 << 3;
    private const byte LostPositionsTag = 3 << 3;
    private const byte SequenceTag = 1 << 3;

    private ExecutionMessage? _message;
    private string _subscriptionId = string.Empty;
    private string _resumeToken = string.Empty;
    private DeliveryBatch? _batch;

    // The batch's encoded size, measured once per batch (gRPC asks the size before the bytes); -1 until then.
    private int _batchSize = -1;

    /// <summary>A frame for protobuf to encode.</summary>
    public static ExecutionFrame Of(ExecutionMessage message) => new() { _message = message };

    /// <summary>Sets this frame to <paramref name="batch"/>'s events; valid until the write completes.</summary>
    public ExecutionFrame Events(string subscriptionId, string resumeToken, DeliveryBatch batch)
    {
        _message = null;
        _subscriptionId = subscriptionId;
        _resumeToken = resumeToken;
        _batch = batch;
        _batchSize = -1;
        return this;
    }

    /// <inheritdoc />
    public int CalculateSize() =>
        _message?.CalculateSize()
        ?? ProtoWriter.StringFieldSize(_subscriptionId) + ProtoWriter.DelimitedSize(BatchSize()) + ProtoWriter.StringFieldSize(_resumeToken);

    /// <inheritdoc />
    public void WriteTo(IBufferWriter<byte> output)
    {
        if (_message is not null)
        {
            _message.WriteTo(output);
            return;
        }

        var batch = _batch!;
        var w = new ProtoWriter(output);
        w.String(SubscriptionIdTag, _subscriptionId);
        w.Delimited(EventsTag, BatchSize());
        foreach (var d in batch.Deliveries)
        {
            w.Delimited(DeliveryTag, DeliverySize(d));
            w.Int64(SequenceTag, d.Sequence);
            DeliveryHead.Write(ref w, d.Event);
        }

        w.Int64(DroppedTag, batch.Dropped);
        w.Int64(LostPositionsTag, batch.LostPositions);
        w.String(ResumeTokenTag, _resumeToken);
        w.Flush();
    }

    private int BatchSize()
    {
        if (_batchSize >= 0)
        {
            return _batchSize;
        }

        var batch = _batch!;
        var size = ProtoWriter.Int64FieldSize(batch.Dropped) + ProtoWriter.Int64FieldSize(batch.LostPositions);
        foreach (var d in batch.Deliveries)
        {
            size += ProtoWriter.DelimitedSize(DeliverySize(d));
        }

        return _batchSize = size;
    }

    private static int DeliverySize(Core.Delivery d) => DeliveryHead.MessageSize(d.Event, ProtoWriter.Int64FieldSize(d.Sequence));
}
