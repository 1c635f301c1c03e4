using System.Buffers;
using BenchmarkDotNet.Attributes;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;
using ExecutionDistribution.Streaming.Grpc;
using Google.Protobuf;

namespace ExecutionDistribution.Benchmarks.Micro;

/// <summary>
/// What one gRPC stream spends building and encoding one <c>ExecutionMessage</c> of N deliveries of
/// the standard stream's events, in steady state: the call's reused message sharing each event's JSON
/// bytes (<see cref="EventMessages"/>) against a generated message built anew per stream (the
/// baseline). The bytes are the same (EventMessagesTests); the output buffer is reused.
/// </summary>
[MemoryDiagnoser]
public class GrpcFrameBenchmarks
{
    private readonly ArrayBufferWriter<byte> _output = new(1 << 20);
    private readonly EventMessages _messages = new();
    private DeliveryBatch _batch = new(1);

    /// <summary>Deliveries per message: 1 (a stream keeping up) or 64 (a stream behind, a full batch).</summary>
    [Params(1, 64)]
    public int Deliveries { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var stream = new SyntheticExecutionStream(seed: 42, liveOrders: 10_000);
        _batch = new DeliveryBatch(Deliveries);
        for (var i = 0; i < Deliveries; i++)
        {
            var e = stream.Next();
            _batch.Items[i] = new Core.Delivery(e, 1_000_000 + i);
            _ = e.EnvelopeJsonBytes;
        }

        _batch.SetCount(Deliveries);
    }

    /// <summary>The call's reused message, sharing each event's JSON bytes.</summary>
    [Benchmark]
    public int Reused()
    {
        _output.ResetWrittenCount();
        var message = _messages.Events("grpc-0123456789abcdef0123456789abcdef", "AQIDBAUGBwgJCgsMDQ4PEAAAAAAAAQAAAAAAAAA", _batch);
        _ = message.CalculateSize();
        message.WriteTo(_output);
        return _output.WrittenCount;
    }

    /// <summary>Baseline: a generated message per stream (a Delivery per event, its strings encoded again by protobuf).</summary>
    [Benchmark(Baseline = true)]
    public int GeneratedMessage()
    {
        _output.ResetWrittenCount();
        var events = new EventBatch { Dropped = _batch.Dropped, LostPositions = _batch.LostPositions };
        foreach (var d in _batch.Deliveries)
        {
            var e = d.Event;
            events.Deliveries.Add(new Grpc.V1.Delivery
            {
                Sequence = d.Sequence,
                EventId = e.EventId,
                DataType = WireNames.DataTypes[(int)e.DataType],
                OrderId = e.OrderId ?? string.Empty,
                EventJson = UnsafeByteOperations.UnsafeWrap(e.EnvelopeJson),
            });
        }

        var message = new ExecutionMessage { SubscriptionId = "grpc-0123456789abcdef0123456789abcdef", ResumeToken = "AQIDBAUGBwgJCgsMDQ4PEAAAAAAAAQAAAAAAAAA", Events = events };
        _ = message.CalculateSize();
        message.WriteTo(_output);
        return _output.WrittenCount;
    }
}
