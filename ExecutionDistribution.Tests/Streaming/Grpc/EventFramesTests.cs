using System.Buffers;
using System.IO.Pipelines;
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
/// The calls' messages of events, written by hand into the response body from each event's bytes, are
/// gRPC frames of byte for byte the messages built field by field from the .proto's generated classes
/// (so any client of the published .proto reads them), for every data type and field, including an
/// event whose JSON spans many of the body's chunks; and a frame written again holds only its own batch.
/// </summary>
[Category("Unit")]
public sealed class EventFramesTests
{
    

    [Test]
    public void An_execution_message_carries_every_data_type_and_every_field()
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

        AssertFrame(body => new EventFrames().WriteEvents(body, "sub-ü-1", "token-after", batch), expected);
    }

    [Test]
    public void An_execution_message_without_deliveries_still_carries_its_announcements()
    {
        var batch = new DeliveryBatch(4) { Dropped = 12 };
        var expected = new ExecutionMessage { SubscriptionId = "s", ResumeToken = "t", Events = new EventBatch { Dropped = 12 } };

        var written = AssertFrame(body => new EventFrames().WriteEvents(body, "s", "t", batch), expected);
        Assert.That(ExecutionMessage.Parser.ParseFrom(written).BodyCase, Is.EqualTo(ExecutionMessage.BodyOneofCase.Events));
    }

    [Test]
    public void A_frame_written_again_holds_only_its_own_batch()
    {
        var events = Sample();
        var frames = new EventFrames();
        var large = new DeliveryBatch(events.Count);
        for (var i = 0; i < events.Count; i++)
        {
            large.Items[i] = new Delivery(events[i], i + 1);
        }

        large.SetCount(events.Count);
        large.Dropped = 5;
        AssertFrame(body => frames.WriteEvents(body, "s", "t1", large), new ExecutionMessage { SubscriptionId = "s", ResumeToken = "t1", Events = Reference(large) });

        var small = new DeliveryBatch(2);
        small.Items[0] = new Delivery(events[^1], 100);
        small.Items[1] = new Delivery(events[0], 101);
        small.SetCount(2);
        AssertFrame(body => frames.WriteEvents(body, "s", "t2", small), new ExecutionMessage { SubscriptionId = "s", ResumeToken = "t2", Events = Reference(small) });
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

        Assert.That(MultiplexedCall.Replay("replayed", batch, "tok").ToByteArray(), Is.EqualTo(new MultiplexedMessage { Events = expected }.ToByteArray()));
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
            new("all", all, null!, null, 64, core),
            new("fills", fills, null!, null, 64, core),
            new("small-ü", small, null!, null, 64, core),
        ];
        var reader = new MultiplexedReader(core);
        Assert.That(reader.Read(members), Is.SameAs(members));
        var tags = reader.Collect(members).ToArray();
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
        AssertFrame(body => new EventFrames().WriteLive(body, members, reader), new MultiplexedMessage { Events = expected });
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

    // One gRPC frame (not compressed, big-endian length) of the expected message's bytes; returns the message's bytes.
    private static byte[] AssertFrame(Func<PipeWriter, ValueTask> write, IMessage expected)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
        write(pipe.Writer).AsTask().GetAwaiter().GetResult();
        pipe.Writer.Complete();
        Assert.That(pipe.Reader.TryRead(out var result), Is.True);
        var frame = result.Buffer.ToArray();
        pipe.Reader.AdvanceTo(result.Buffer.End);
        var bytes = expected.ToByteArray();
        Assert.That(frame[0], Is.Zero, "not compressed");
        Assert.That(System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(1)), Is.EqualTo((uint)bytes.Length), "the length ahead of the message");
        Assert.That(frame[5..], Is.EqualTo(bytes), "the message protobuf writes");
        return frame[5..];
    }
}
