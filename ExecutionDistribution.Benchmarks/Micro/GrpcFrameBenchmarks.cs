using System.IO.Pipelines;
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
/// What one gRPC stream spends writing one <c>ExecutionMessage</c> of N deliveries of the standard
/// stream's events into its response body, in steady state: the frame written by hand from each
/// event's bytes (<see cref="EventFrames"/>) against the generated message built per stream and
/// encoded by protobuf (the baseline). The bytes are the same (EventFramesTests); the body is a pipe
/// that is read out after every message.
/// </summary>
[MemoryDiagnoser]
public class GrpcFrameBenchmarks
{
    private readonly Pipe _body = new(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
    private readonly EventFrames _frames = new();
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
            _ = e.EnvelopeJson;
        }

        _batch.SetCount(Deliveries);
    }

    /// <summary>The frame written by hand into the body.</summary>
    [Benchmark]
    public long Frame()
    {
        _frames.WriteEvents(_body.Writer, "grpc-0123456789abcdef0123456789abcdef", "AQIDBAUGBwgJCgsMDQ4PEAAAAAAAAQAAAAAAAAA", _batch).GetAwaiter().GetResult();
        return Drain();
    }

    /// <summary>Baseline: a generated message per stream (a Delivery per event, its strings encoded again by protobuf).</summary>
    [Benchmark(Baseline = true)]
    public long GeneratedMessage()
    {
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
        var prefix = _body.Writer.GetSpan(5);
        prefix[0] = 0;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(prefix[1..], (uint)message.CalculateSize());
        _body.Writer.Advance(5);
        message.WriteTo(_body.Writer);
        _body.Writer.FlushAsync().GetAwaiter().GetResult();
        return Drain();
    }

    private long Drain()
    {
        _body.Reader.TryRead(out var read);
        var length = read.Buffer.Length;
        _body.Reader.AdvanceTo(read.Buffer.End);
        return length;
    }
}
