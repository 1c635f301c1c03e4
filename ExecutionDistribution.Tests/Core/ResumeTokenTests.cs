using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;

namespace ExecutionDistribution.Tests.Core;

[Category("Unit")]
public sealed class ResumeTokenTests
{
    private const string Topic = "execution.events";

    [Test]
    public void A_token_round_trips_through_its_text()
    {
        var topic = SourceFrontier.TopicHash(Topic);
        var token = new ResumeToken(Guid.NewGuid(), [new SourceOffset(topic, 0, 123_456_789), new SourceOffset(topic, 11, 0)], 42);

        Assert.That(ResumeToken.TryDecode(token.Encode(), out var decoded, out _), Is.True);
        Assert.That(decoded.Epoch, Is.EqualTo(token.Epoch));
        Assert.That(decoded.Sequence, Is.EqualTo(42));
        Assert.That(decoded.Offsets, Is.EqualTo(token.Offsets));
        Assert.That(token.Encode(), Does.Match("^[A-Za-z0-9_-]+$"), "URL-safe, no padding");
    }

    [TestCase("")]
    [TestCase("not-a-token")]
    [TestCase("%%%%")]
    [TestCase("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public void Garbage_is_not_a_token(string text)
    {
        Assert.That(ResumeToken.TryDecode(text, out _, out var reason), Is.False);
        Assert.That(reason, Is.Not.Empty);
    }

    [Test]
    public void A_token_cut_short_or_with_bytes_after_it_is_not_a_token()
    {
        var text = new ResumeToken(Guid.NewGuid(), [new SourceOffset(7, 1, 300)], 9).Encode();

        Assert.That(ResumeToken.TryDecode(text[..^3], out _, out _), Is.False);
        Assert.That(ResumeToken.TryDecode(text + "AAAA", out _, out _), Is.False);
    }

    [Test]
    public void A_position_s_token_names_every_partition_at_the_next_offset_not_passed()
    {
        var frontier = new SourceFrontier(4_096, Guid.NewGuid());
        frontier.Declare(Topic, 0, 100);
        frontier.Declare(Topic, 1, 50);
        var position = 0L;
        foreach (var (partition, offset) in new[] { (0, 100L), (1, 50L), (0, 101L), (1, 51L), (0, 102L) })
        {
            frontier.Record(position++, new SourcePosition(Topic, partition, offset));
        }

        var epoch = Guid.NewGuid();
        Assert.That(Offsets(frontier.TokenAt(epoch, 0, 0)), Is.EqualTo(new[] { (0, 100L), (1, 50L) }), "before anything: where each partition starts");
        Assert.That(Offsets(frontier.TokenAt(epoch, 3, 0)), Is.EqualTo(new[] { (0, 102L), (1, 51L) }));
        Assert.That(Offsets(frontier.TokenAt(epoch, 5, 0)), Is.EqualTo(new[] { (0, 103L), (1, 52L) }));
    }

    [Test]
    public void A_token_of_this_log_starts_exactly_where_it_was_taken()
    {
        var frontier = Interleaved(out _);

        for (var position = 0; position <= 300; position += 37)
        {
            var located = frontier.Locate(frontier.TokenAt(Guid.NewGuid(), position, 0));
            Assert.That(located.Result, Is.EqualTo(LocateResult.Found));
            Assert.That(located.Start, Is.EqualTo(position), $"the token taken at {position}");
            Assert.That(located.Floor, Is.Null, "nothing to skip in the log that issued it");
        }
    }

    [Test]
    public void A_token_of_another_interleaving_starts_at_the_first_event_it_lacks_and_skips_those_it_has()
    {
        // Another instance read partition 0 further than partition 1 at the moment its client left.
        var frontier = Interleaved(out var sources);
        var topic = SourceFrontier.TopicHash(Topic);
        var token = new ResumeToken(Guid.NewGuid(), [new SourceOffset(topic, 0, 80), new SourceOffset(topic, 1, 20), new SourceOffset(topic, 2, 50)], 0);

        var located = frontier.Locate(token);

        Assert.That(located.Result, Is.EqualTo(LocateResult.Found));
        var expected = Enumerable.Range(0, sources.Count).First(p => sources[p].Offset >= token.OffsetOf(topic, sources[p].Partition));
        Assert.That(located.Start, Is.EqualTo(expected), "the first position with an event the token has not passed");
        var delivered = Enumerable.Range((int)located.Start, sources.Count - (int)located.Start)
            .Where(p => located.Floor is null || sources[p].Offset >= token.OffsetOf(topic, sources[p].Partition))
            .Select(p => sources[p]).ToHashSet();
        var missing = sources.Where(s => s.Offset >= token.OffsetOf(topic, s.Partition));
        Assert.That(delivered.SetEquals(missing), Is.True, "exactly the events the token has not passed");
        Assert.That(located.Floor, Is.Not.Null, "the events of partition 0 below offset 80 after the start are skipped");
    }

    [Test]
    public void A_token_older_than_the_index_or_naming_a_topic_this_log_never_read_is_sent_to_the_source()
    {
        var frontier = Interleaved(out _);
        var topic = SourceFrontier.TopicHash(Topic);

        Assert.That(frontier.Locate(new ResumeToken(Guid.NewGuid(), [new SourceOffset(topic, 0, 0)], 0)).Result, Is.EqualTo(LocateResult.Before), "offset 0 is before this log began (it declared 10)");
        Assert.That(frontier.Locate(new ResumeToken(Guid.NewGuid(), [new SourceOffset(SourceFrontier.TopicHash("elsewhere"), 0, 5)], 0)).Result, Is.EqualTo(LocateResult.Before),
            "a topic this log never read: its source decides");
    }

    [Test]
    public void A_token_ahead_of_this_log_waits_at_its_head_and_skips_what_it_has()
    {
        var frontier = Interleaved(out var sources);
        var topic = SourceFrontier.TopicHash(Topic);
        var ahead = new ResumeToken(Guid.NewGuid(), [new SourceOffset(topic, 0, 10_000), new SourceOffset(topic, 1, 10_000), new SourceOffset(topic, 2, 10_000)], 0);

        var located = frontier.Locate(ahead);

        Assert.That(located.Start, Is.EqualTo(sources.Count));
        Assert.That(located.Floor, Is.Not.Null);
        Assert.That(frontier.Passed(located.Floor!, sources.Count), Is.False, "not until this log reads past offset 10,000");
    }

    // 300 events of three partitions, declared from offset 10, interleaved pseudo-randomly.
    private static SourceFrontier Interleaved(out List<(int Partition, long Offset)> sources)
    {
        var frontier = new SourceFrontier(4_096, Guid.NewGuid());
        var random = new Random(5);
        var next = new long[] { 10, 10, 10 };
        sources = [];
        for (var p = 0; p < 3; p++)
        {
            frontier.Declare(Topic, p, 10);
        }

        for (var position = 0; position < 300; position++)
        {
            var partition = random.Next(3);
            sources.Add((partition, next[partition]));
            frontier.Record(position, new SourcePosition(Topic, partition, next[partition]++));
        }

        return frontier;
    }

    private static (int, long)[] Offsets(ResumeToken token) =>
        [.. token.Offsets.Where(o => o.Topic == SourceFrontier.TopicHash(Topic)).Select(o => (o.Partition, o.Offset))];
}
