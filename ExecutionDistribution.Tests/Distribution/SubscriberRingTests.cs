using ExecutionDistribution.Contract;
using ExecutionDistribution.Distribution;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Distribution;

/// <summary>
/// A subscriber's ring of positions starts small, grows while its subscriber is behind (up to the
/// buffer capacity) and is given back once drained and quiet.
/// </summary>
public sealed class SubscriberRingTests
{
    private static readonly SubscriptionFilter Watched = new() { OrderIds = new HashSet<string>(["O-watched"], StringComparer.Ordinal) };

    [Test]
    public async Task A_subscriber_that_falls_behind_grows_its_ring_and_stays_on_the_live_path()
    {
        using var core = Dispatchers.Start(bufferCapacity: 16_384);
        await using var reader = new CollectingReader(core, core.Subscribe("behind", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce), startStalled: true);
        Assert.That(reader.Subscriber.RingSize, Is.EqualTo(Subscriber.InitialRingSize), "a new subscriber holds a small ring");

        var published = PublishFills(core, 10_000, "O-behind");
        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == published.Count, "every event is dispatched");

        Assert.That(reader.Subscriber.RingSize, Is.EqualTo(16_384), "the ring doubled up to what the backlog needed");
        Assert.That(reader.Subscriber.Backlog, Is.EqualTo(published.Count));
        Assert.That(reader.Subscriber.IsCatchingUp, Is.False, "10,000 behind is within the buffer capacity: still live");

        reader.Gate.Set();
        await Eventually.WaitUntilAsync(() => reader.Count == published.Count, "the reader drains the grown ring");
        Assert.That(reader.Events.Select(e => e.EventId), Is.EqualTo(published));
        Assert.That(reader.Deliveries.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, published.Count).Select(i => (long)i)));
        Assert.That(reader.Subscriber.CatchUps, Is.Zero);
    }

    [Test]
    public async Task Past_the_buffer_capacity_a_grown_ring_applies_the_overflow_policy()
    {
        using var core = Dispatchers.Start(bufferCapacity: 4_096);
        await using var dropper = new CollectingReader(core, core.Subscribe("amo", SubscriptionFilter.All, DeliveryGuarantee.AtMostOnce), startStalled: true);
        await using var catcher = new CollectingReader(core, core.Subscribe("alo", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce), startStalled: true);

        var published = PublishFills(core, 10_000, "O-over");
        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == published.Count, "every event is dispatched");
        Assert.That(dropper.Subscriber.RingSize, Is.EqualTo(4_096));
        Assert.That(dropper.Subscriber.Dropped, Is.EqualTo(published.Count - 4_096), "at_most_once drops what the largest ring cannot hold");
        Assert.That(catcher.Subscriber.IsCatchingUp, Is.True, "at_least_once leaves the live path once the largest ring is full");

        dropper.Gate.Set();
        catcher.Gate.Set();
        await Eventually.WaitUntilAsync(() => catcher.Count == published.Count, "at_least_once catches up from the log");
        Assert.That(catcher.Events.Select(e => e.EventId), Is.EqualTo(published));
        await Eventually.WaitUntilAsync(() => dropper.Count + dropper.Dropped == published.Count, "at_most_once announces its drops");
        Assert.That(dropper.Events.Select(e => e.EventId), Is.EqualTo(published.Take(4_096)));
    }

    [Test]
    public async Task A_grown_ring_is_given_back_once_drained_and_quiet_for_30_seconds()
    {
        var time = Dispatchers.FakeTime();
        using var core = Dispatchers.Start(bufferCapacity: 65_536, time: time);
        await using var reader = new CollectingReader(core, core.Subscribe("once-behind", Watched, DeliveryGuarantee.AtLeastOnce), startStalled: true);
        var published = await FallBehindAsync(core, reader);
        reader.Gate.Set();
        await Eventually.WaitUntilAsync(() => reader.Count == published.Count, "the backlog is read");

        // Drained, but grown less than 30 s ago by the core's clock: kept (it may be needed again).
        time.Advance(TimeSpan.FromMilliseconds(500));
        Tick(core);
        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == published.Count + 1, "the tick is dispatched");
        Assert.That(reader.Subscriber.RingSize, Is.EqualTo(8_192));
        Assert.That(reader.Subscriber.RingShrinks, Is.Zero);

        time.Advance(TimeSpan.FromSeconds(31));
        await Eventually.WaitUntilAsync(() => Tick(core) && reader.Subscriber.RingSize == Subscriber.InitialRingSize, "the quiet ring is given back");
        Assert.That(reader.Subscriber.RingShrinks, Is.EqualTo(1));

        // And the small ring works as before.
        var more = PublishFills(core, 100, "O-watched");
        await Eventually.WaitUntilAsync(() => reader.Count == published.Count + more.Count, "later events still arrive");
        Assert.That(reader.Events.Select(e => e.EventId), Is.EqualTo(published.Concat(more)));
        Assert.That(reader.Deliveries.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, published.Count + more.Count).Select(i => (long)i)));
    }

    [Test]
    public async Task A_grown_ring_is_kept_while_it_holds_unread_positions_however_long_it_has_been_quiet()
    {
        var time = Dispatchers.FakeTime();
        using var core = Dispatchers.Start(bufferCapacity: 65_536, time: time);
        await using var reader = new CollectingReader(core, core.Subscribe("stalled", Watched, DeliveryGuarantee.AtLeastOnce), startStalled: true);
        var published = await FallBehindAsync(core, reader);
        time.Advance(TimeSpan.FromMinutes(5));
        Tick(core);
        Tick(core);
        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == published.Count + 2, "the ticks are dispatched");
        Assert.That(reader.Subscriber.RingSize, Is.EqualTo(8_192), "5,000 positions unread: the ring stays");

        reader.Gate.Set();
        await Eventually.WaitUntilAsync(() => reader.Count == published.Count, "the backlog is read");
        Assert.That(reader.Events.Select(e => e.EventId), Is.EqualTo(published));
    }

    [Test]
    public async Task Rings_grown_and_given_back_while_the_reader_reads_deliver_every_event_once_and_in_order()
    {
        var time = Dispatchers.FakeTime();
        using var core = Dispatchers.Start(bufferCapacity: 65_536, time: time);
        await using var reader = new CollectingReader(core, core.Subscribe("racing", Watched, DeliveryGuarantee.AtLeastOnce), batchCapacity: 7);
        var published = new List<string>();
        bool Publish(int count)
        {
            published.AddRange(PublishFills(core, count, "O-watched"));
            return false;
        }

        for (var round = 0; round < 12; round++)
        {
            // Stall the reader so the ring fills, then publish more while it drains: the ring grows under
            // a reader that is reading it.
            reader.Gate.Reset();
            await Eventually.WaitUntilAsync(() => reader.Subscriber.Backlog > 2_000 || Publish(500), "a backlog builds up");
            reader.Gate.Set();
            published.AddRange(PublishFills(core, 6_000, "O-watched"));
            await Eventually.WaitUntilAsync(() => reader.Count == published.Count, $"round {round}: everything is read");

            // Quiet and drained: given back, while the reader may be anywhere in its wait.
            time.Advance(TimeSpan.FromSeconds(31));
            await Eventually.WaitUntilAsync(() => Tick(core) && reader.Subscriber.RingSize == Subscriber.InitialRingSize, $"round {round}: the ring is given back");
        }

        Assert.That(reader.Events.Select(e => e.EventId), Is.EqualTo(published), "every event once, in order");
        Assert.That(reader.Deliveries.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, published.Count).Select(i => (long)i)));
        Assert.That(reader.Subscriber.CatchUps, Is.Zero, "the ring grew rather than sending the subscriber to the log");
        Assert.That(reader.Subscriber.RingGrowths, Is.GreaterThanOrEqualTo(12 * 2));
        Assert.That(reader.Subscriber.RingShrinks, Is.EqualTo(12));
    }

    // 5,000 watched events for a stalled reader: its ring grows to 8,192.
    private static async Task<List<string>> FallBehindAsync(FanOutDispatcher core, CollectingReader reader)
    {
        var published = PublishFills(core, 5_000, "O-watched");
        await Eventually.WaitUntilAsync(() => reader.Subscriber.RingSize == 8_192, "the ring grows to hold the backlog");
        return published;
    }

    private static List<string> PublishFills(FanOutDispatcher core, int count, string orderId)
    {
        var ids = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            var e = Events.Fill(orderId);
            Assert.That(core.TryPublish(e), Is.True, "the ingest queue has room");
            ids.Add(e.EventId);
        }

        return ids;
    }

    // An event nobody in these tests watches: it only makes the dispatcher run a batch (and its ring sweep).
    private static bool Tick(FanOutDispatcher core) => core.TryPublish(Events.Fill("O-tick"));
}
