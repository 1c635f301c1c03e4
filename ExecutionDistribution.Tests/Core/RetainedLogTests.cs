using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Ingest.Demo;
using Microsoft.Extensions.Time.Testing;

namespace ExecutionDistribution.Tests.Core;

/// <summary>The retained log keeps the newest events within its capacity, its bytes and its age, and counts what it holds.</summary>
[Category("Unit")]
public sealed class RetainedLogTests
{
    private readonly SyntheticExecutionStream _stream = new(seed: 3);

    [Test]
    public void Past_its_byte_bound_the_oldest_events_leave_the_log()
    {
        var log = new RetainedLog(capacity: 64, TimeSpan.FromHours(1), new FakeTimeProvider(), maxBytes: 10_000);

        for (var i = 0; i < 5; i++)
        {
            log.Append(Event(3_000));
        }

        Assert.Multiple(() =>
        {
            Assert.That(log.Bytes, Is.EqualTo(9_000));
            Assert.That((log.Tail, log.Head), Is.EqualTo((2L, 5L)));
            Assert.That(log.TryGet(1, out _), Is.False, "the position that left is not served");
            Assert.That(log.TryGet(2, out var oldest) && oldest.Position == 2, Is.True);
        });
    }

    [Test]
    public void An_event_larger_than_the_bound_is_kept_alone_as_the_newest()
    {
        var log = new RetainedLog(capacity: 64, TimeSpan.FromHours(1), new FakeTimeProvider(), maxBytes: 10_000);
        log.Append(Event(1_000));
        log.Append(Event(1_000));

        log.Append(Event(25_000));

        Assert.That((log.Tail, log.Head, log.Bytes), Is.EqualTo((2L, 3L, 25_000L)));
        Assert.That(log.TryGet(2, out _), Is.True);
    }

    [Test]
    public void The_bytes_held_follow_events_overwritten_at_capacity_and_trimmed_by_age()
    {
        var time = new FakeTimeProvider();
        var log = new RetainedLog(capacity: 4, TimeSpan.FromMinutes(1), time);
        for (var i = 0; i < 10; i++)
        {
            var e = Event(100 + i);
            e.IngestTimestamp = time.GetTimestamp();
            log.Append(e);
        }

        Assert.That((log.Tail, log.Bytes), Is.EqualTo((6L, 106L + 107 + 108 + 109)));

        time.Advance(TimeSpan.FromMinutes(2));
        log.TrimExpired(16);

        Assert.That((log.Tail, log.Head, log.Bytes), Is.EqualTo((10L, 10L, 0L)));
    }

    [Test]
    public void A_parsed_event_is_estimated_from_the_length_of_its_json()
    {
        var json = _stream.Next().EnvelopeJson.ToArray();
        var parsed = ExecutionEventParser.Parse(json).Event!;

        Assert.That(parsed.EstimatedBytes, Is.EqualTo((2 * json.Length) + 256));
        Assert.That(Event(0).EstimatedBytes, Is.Zero);
        Assert.That(new SyntheticExecutionStream(seed: 3).Next().EstimatedBytes, Is.EqualTo(ExecutionEvent.StandardEstimatedBytes));
    }

    private ExecutionEvent Event(int bytes)
    {
        var e = _stream.Next();
        return new ExecutionEvent(e.EventId, e.Timestamp, e.DataType, e.Data, e.Routing, e.Metadata) { EstimatedBytes = bytes };
    }
}
