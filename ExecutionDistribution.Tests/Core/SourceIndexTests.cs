using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;

namespace ExecutionDistribution.Tests.Core;

/// <summary>The Kafka source of each log position, kept beyond the retained log for re-reading.</summary>
[Category("Unit")]
public sealed class SourceIndexTests
{
    [Test]
    public void Each_position_returns_the_topic_partition_and_offset_it_was_recorded_with()
    {
        using var index = SourceIndex.Create(65_536, Guid.NewGuid(), directory: null);
        for (var p = 0; p < 1_000; p++)
        {
            index.Record(p, new SourcePosition(p % 3 == 0 ? "fills" : "orders", p % 7, 10_000_000_000L + p));
        }

        for (var p = 0; p < 1_000; p++)
        {
            Assert.That(index.TryGet(p, out var source), Is.EqualTo(SourceLookup.Recorded));
            Assert.That(source, Is.EqualTo(new SourcePosition(p % 3 == 0 ? "fills" : "orders", p % 7, 10_000_000_000L + p)));
        }
    }

    [Test]
    public void An_event_that_did_not_come_from_kafka_is_told_apart_from_a_forgotten_position()
    {
        using var index = SourceIndex.Create(65_536, Guid.NewGuid(), directory: null);
        index.Record(0, new SourcePosition("in", 0, 5));
        index.Record(1, null);

        Assert.That(index.TryGet(1, out _), Is.EqualTo(SourceLookup.NotFromKafka));
        Assert.That(index.TryGet(2, out _), Is.EqualTo(SourceLookup.Gone), "not written yet");
        Assert.That(index.TryGet(-1, out _), Is.EqualTo(SourceLookup.Gone));
    }

    [Test]
    public void Positions_older_than_the_capacity_are_forgotten_and_the_newest_stay_exact()
    {
        using var index = SourceIndex.Create(65_536, Guid.NewGuid(), directory: null);
        const int written = 65_536 + 10_000;
        for (var p = 0; p < written; p++)
        {
            index.Record(p, new SourcePosition("in", p % 4, p / 4));
        }

        Assert.That(index.Oldest, Is.EqualTo(written - index.Capacity));
        Assert.That(index.TryGet(index.Oldest - 1, out _), Is.EqualTo(SourceLookup.Gone));
        Assert.That(index.TryGet(0, out _), Is.EqualTo(SourceLookup.Gone));
        Assert.That(index.TryGet(index.Oldest, out var oldest), Is.EqualTo(SourceLookup.Recorded));
        Assert.That(oldest, Is.EqualTo(new SourcePosition("in", (int)(index.Oldest % 4), index.Oldest / 4)));
        Assert.That(index.TryGet(written - 1, out var newest), Is.EqualTo(SourceLookup.Recorded));
        Assert.That(newest, Is.EqualTo(new SourcePosition("in", (written - 1) % 4, (written - 1) / 4)));
    }
}
