using ExecutionDistribution.Contract;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Contract;

/// <summary>
/// An event's two shapes (the envelope with <c>routing</c>, the <c>execution_distributed</c> event with
/// <c>distribution</c>): the envelope is written once and kept, the distributed event is copied from
/// it, byte for byte what writing it would give, whichever is asked for first.
/// </summary>
[Category("Unit")]
public sealed class EnvelopeShapeTests
{
    [Test]
    public void The_distributed_event_copied_from_the_envelope_is_what_writing_it_gives_for_every_data_type()
    {
        var stream = new SyntheticExecutionStream(seed: 7, liveOrders: 1_000);
        var seen = new HashSet<ExecutionDataType>();
        for (var i = 0; i < 2_000; i++)
        {
            var e = stream.Next();
            seen.Add(e.DataType);
            var envelopeFirst = e.EnvelopeJson.ToArray();

            Assert.That(e.DistributedJson(), Is.EqualTo(ExecutionEventWriter.Write(e, EnvelopeShape.Distributed)), $"event {i}");
            Assert.That(envelopeFirst, Is.EqualTo(ExecutionEventWriter.Write(e, EnvelopeShape.Envelope)), $"event {i}");
        }

        Assert.That(seen, Has.Count.EqualTo(6), "every data type");
    }

    [Test]
    public void Asking_for_the_distributed_event_first_gives_what_writing_each_shape_gives()
    {
        var e = Events.Fill("O-shape", eventId: "E-shape");

        var distributedFirst = e.DistributedJson();

        Assert.That(e.EnvelopeJson.ToArray(), Is.EqualTo(ExecutionEventWriter.Write(e, EnvelopeShape.Envelope)));
        Assert.That(distributedFirst, Is.EqualTo(ExecutionEventWriter.Write(e, EnvelopeShape.Distributed)));
    }

    [Test]
    public void An_event_id_that_spells_the_routing_name_does_not_move_where_the_name_is_changed()
    {
        var e = Events.Fill("O-trick", eventId: "x\",\"routing\":{\"topic\":\"evil");

        Assert.That(e.EnvelopeJson.ToArray(), Is.EqualTo(ExecutionEventWriter.Write(e, EnvelopeShape.Envelope)));
        Assert.That(e.DistributedJson(), Is.EqualTo(ExecutionEventWriter.Write(e, EnvelopeShape.Distributed)));
        Assert.That(ExecutionEventParser.Parse(e.DistributedJson()).Event?.EventId, Is.EqualTo(e.EventId), "and it parses back as written");
    }
}
