using System.Buffers;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;
using ExecutionDistribution.Streaming;
using ExecutionDistribution.Streaming.Grpc;
using ExecutionDistribution.Subscriptions;
using ExecutionDistribution.Tests.Core;
using ExecutionDistribution.Tests.Support;
using Google.Protobuf;
using Delivery = ExecutionDistribution.Core.Delivery;

namespace ExecutionDistribution.Tests.Streaming.Grpc;

/// <summary>
/// The streams' frames, written by hand from each event's bytes encoded once, are byte for byte what
/// protobuf writes for the same message built field by field from the .proto's generated classes: so
/// any client of the published .proto reads them. Checked into a plain buffer and into one that hands
/// out no more than it is asked for, so every field that crosses a buffer boundary is written in pieces.
/// </summary>
[Category("Unit")]
public sealed class WireFrameTests
{
    private static readonly Guid Epoch = Guid.Parse("7d0c5a64-52c2-4a4e-9d43-1d6f1e0a9b11");

    [Test]
    public void An_execution_frame_is_the_message_protobuf_writes_for_every_data_type_and_every_field()
    {
        var events = Sample();
        var batch = new DeliveryBatch(events.Count);
        for (var i = 0; i < events.Count; i++)
        {
            // Sequences from 1 to past 2^35: varints of 1 to 6 bytes.
            batch.Items[i] = new Delivery(events[i], 1L << (i * 5 % 40));
        }

        batch.SetCount(events.Count);
        batch.Dropped = 3;
        batch.LostPositions = 70_000;
        var expected = new ExecutionMessage { SubscriptionId = "sub-ü-1", ResumeToken = "token-after", Events = Reference(batch) };

        var frame = new ExecutionFrame().Events("sub-ü-1", "token-after", batch);

        AssertWritesAs(frame, expected.ToByteArray());
    }

    [Test]
    public void An_execution_frame_without_deliveries_still_carries_its_announcements()
    {
        var batch = new DeliveryBatch(4) { Dropped = 12 };
        var expected = new ExecutionMessage { SubscriptionId = "s", ResumeToken = "t", Events = new EventBatch { Dropped = 12 } };

        AssertWritesAs(new ExecutionFrame().Events("s", "t", batch), expected.ToByteArray());
        Assert.That(ExecutionMessage.Parser.ParseFrom(Write(new ExecutionFrame().Events("s", "t", batch))).BodyCase, Is.EqualTo(ExecutionMessage.BodyOneofCase.Events));
    }

    [Test]
    public void A_replayed_multiplexed_frame_tags_each_event_with_its_subscription_alone()
    {
        var events = Sample();
        var batch = new DeliveryBatch(events.Count);
        for (var i = 0; i < events.Count; i++)
        {
            batch.Items[i] = new Delivery(events[i], 500 + i);
        }

        batch.SetCount(events.Count);
        var expected = new MultiplexedBatch { ResumeTokens = { ["replayed"] = "tok" } };
        foreach (var d in batch.Deliveries)
        {
            expected.Events.Add(Tagged(d.Event, new SubscriptionSequence { SubscriptionId = "replayed", Sequence = d.Sequence }));
        }

        AssertWritesAs(MultiplexedFrame.Replay("replayed", batch, "tok"), new MultiplexedMessage { Events = expected }.ToByteArray());
    }

    [Test]
    public async Task A_live_multiplexed_frame_writes_an_event_taken_by_several_subscriptions_once_with_all_their_tags()
    {
        using var core = Dispatchers.Start();
        var all = core.Subscribe("all", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce);
        var fills = core.Subscribe("fills", new SubscriptionFilter { DataTypes = new HashSet<ExecutionDataType> { ExecutionDataType.FillNotification } }, DeliveryGuarantee.AtLeastOnce);

        // at_most_once with room for 2: what it cannot hold is dropped and announced in its map entry.
        var small = core.Subscribe("small-ü", SubscriptionFilter.All, DeliveryGuarantee.AtMostOnce, bufferCapacity: 2);
        var events = Sample();
        foreach (var e in events)
        {
            await core.PublishAsync(e, CancellationToken.None);
        }

        await Eventually.WaitUntilAsync(() => events[^1].Position >= 0 && core.RoutedHead > events[^1].Position, "every event routed");
        StreamMember[] members =
        [
            new("all", all, null!, null, 64, Epoch),
            new("fills", fills, null!, null, 64, Epoch),
            new("small-ü", small, null!, null, 64, Epoch),
        ];
        var reader = new MultiplexedReader(core);
        Assert.That(reader.Read(members), Is.SameAs(members));
        var tags = reader.Collect(members);
        Assert.That(members[2].Dropped, Is.GreaterThan(0), "the small subscription dropped some");

        var expected = new MultiplexedBatch();
        foreach (var m in members)
        {
            expected.ResumeTokens[m.Id] = m.ResumeToken;
            if (m.Dropped > 0)
            {
                expected.Dropped[m.Id] = m.Dropped;
            }
        }

        for (var i = 0; i < tags.Length;)
        {
            var tagged = Tagged(tags[i].Event);
            var position = tags[i].Position;
            for (; i < tags.Length && tags[i].Position == position; i++)
            {
                tagged.Deliveries.Add(new SubscriptionSequence { SubscriptionId = members[tags[i].Member].Id, Sequence = tags[i].Sequence });
            }

            expected.Events.Add(tagged);
        }

        Assert.That(expected.Events.Count(t => t.Deliveries.Count == 2), Is.GreaterThan(0), "some events are taken by two subscriptions");
        AssertWritesAs(new MultiplexedFrame().Live(members, reader), new MultiplexedMessage { Events = expected }.ToByteArray());
    }

    [Test]
    public async Task A_frame_written_to_the_response_body_is_a_length_prefixed_grpc_message_flushed_at_once()
    {
        var events = Sample();
        var batch = new DeliveryBatch(events.Count);
        for (var i = 0; i < events.Count; i++)
        {
            batch.Items[i] = new Delivery(events[i], 10 + i);
        }

        batch.SetCount(events.Count);
        var heartbeat = new ExecutionMessage { SubscriptionId = "s", ResumeToken = "t", Heartbeat = new Heartbeat { Time = "2026-11-24T10:00:00.000000Z" } };
        var body = new MemoryStream();
        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        context.Features.Set<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>(new Microsoft.AspNetCore.Http.StreamResponseBodyFeature(body));
        var writer = new BodyFrameWriter<ExecutionFrame>(context.Response);

        await writer.WriteAsync(new ExecutionFrame().Events("sub-1", "token-1", batch), CancellationToken.None);
        var first = body.ToArray();
        await writer.WriteAsync(ExecutionFrame.Of(heartbeat), CancellationToken.None);
        var both = body.ToArray();

        // Each write is on the stream when it returns (flushed), framed as gRPC frames a message: no compression, big-endian length.
        var expected = new ExecutionMessage { SubscriptionId = "sub-1", ResumeToken = "token-1", Events = Reference(batch) }.ToByteArray();
        Assert.That(first, Is.EqualTo(Prefixed(expected)), "the first write, flushed");
        Assert.That(both, Is.EqualTo(Prefixed(expected).Concat(Prefixed(heartbeat.ToByteArray())).ToArray()), "both writes, in order");
    }

    private static byte[] Prefixed(byte[] message)
    {
        var framed = new byte[5 + message.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(framed.AsSpan(1), (uint)message.Length);
        message.CopyTo(framed, 5);
        return framed;
    }

    [Test]
    public void A_frame_of_a_control_message_is_protobufs_encoding_of_it()
    {
        var heartbeat = new ExecutionMessage { SubscriptionId = "s", ResumeToken = "t", Heartbeat = new Heartbeat { Time = "2026-11-24T10:00:00.000000Z" } };
        var error = new MultiplexedMessage { Error = new CommandError { RequestId = "r", Code = "NOT_FOUND", Message = "unsubscribe: 'x' is not streaming on this call" } };

        AssertWritesAs(ExecutionFrame.Of(heartbeat), heartbeat.ToByteArray());
        AssertWritesAs(MultiplexedFrame.Of(error), error.ToByteArray());
    }

    // Every data type, an event without an order id, a non-ASCII event id and one whose JSON is far
    // larger than a buffer segment.
    private static List<ExecutionEvent> Sample()
    {
        var stream = new SyntheticExecutionStream(seed: 11, liveOrders: 50);
        var events = new List<ExecutionEvent>();
        var types = new HashSet<ExecutionDataType>();
        while (types.Count < 6 || events.Count < 12)
        {
            var e = stream.Next();
            types.Add(e.DataType);
            events.Add(e);
        }

        events.Add(Events.Venue());
        events.Add(Events.Fill("O-ü", eventId: "E-é-ü-✓"));
        events.Add(Events.Fill("O-big", workflows: [.. Enumerable.Range(0, 1_000).Select(i => $"workflow_{i:D4}_with_a_long_name")]));
        Assert.That(events[^1].EnvelopeJson.Length, Is.GreaterThan(16_384));
        return events;
    }

    private static EventBatch Reference(DeliveryBatch batch)
    {
        var events = new EventBatch { Dropped = batch.Dropped, LostPositions = batch.LostPositions };
        foreach (var d in batch.Deliveries)
        {
            var e = d.Event;
            events.Deliveries.Add(new ExecutionDistribution.Grpc.V1.Delivery
            {
                Sequence = d.Sequence,
                EventId = e.EventId,
                DataType = WireNames.DataTypes[(int)e.DataType],
                OrderId = e.OrderId ?? string.Empty,
                EventJson = ByteString.CopyFrom(e.EnvelopeJson.Span),
            });
        }

        return events;
    }

    private static TaggedEvent Tagged(ExecutionEvent e, SubscriptionSequence? only = null)
    {
        var tagged = new TaggedEvent
        {
            EventId = e.EventId,
            DataType = WireNames.DataTypes[(int)e.DataType],
            OrderId = e.OrderId ?? string.Empty,
            EventJson = ByteString.CopyFrom(e.EnvelopeJson.Span),
        };
        if (only is not null)
        {
            tagged.Deliveries.Add(only);
        }

        return tagged;
    }

    private static void AssertWritesAs(IWireFrame frame, byte[] expected)
    {
        Assert.That(frame.CalculateSize(), Is.EqualTo(expected.Length), "size");
        Assert.That(Write(frame), Is.EqualTo(expected), "written into one buffer");
        var stingy = new StingyWriter();
        frame.WriteTo(stingy);
        Assert.That(stingy.Written, Is.EqualTo(expected), "written in pieces");
    }

    private static byte[] Write(IWireFrame frame)
    {
        var output = new ArrayBufferWriter<byte>();
        frame.WriteTo(output);
        return output.WrittenSpan.ToArray();
    }

    // Hands out exactly what is asked for, each time in a new array, so writes that cross spans are split.
    private sealed class StingyWriter : IBufferWriter<byte>
    {
        private readonly List<byte> _written = [];
        private byte[] _current = [];

        public byte[] Written => [.. _written];

        public void Advance(int count) => _written.AddRange(_current.AsSpan(0, count));

        public Memory<byte> GetMemory(int sizeHint = 0) => _current = new byte[Math.Max(sizeHint, 1)];

        public Span<byte> GetSpan(int sizeHint = 0) => _current = new byte[Math.Max(sizeHint, 1)];
    }
}
