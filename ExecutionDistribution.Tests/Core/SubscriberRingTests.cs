using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Core;

/// <summary>
/// A subscriber's ring of positions starts small, grows while its subscriber is behind (up to the
/// buffer capacity) and is given back once drained and quiet.
/// </summary>
[Category("Unit")]
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

    [Test]
    public async Task Once_the_cores_buffer_budget_is_spent_a_full_ring_applies_its_overflow_policy_instead_of_growing()
    {
        // One ring's growth from 1,024 to 4,096 positions: 3,072 x 8 bytes.
        using var core = Dispatchers.Start(bufferCapacity: 4_096, bufferBudget: 24_576);
        await using var hog = new CollectingReader(core, core.Subscribe("hog", Orders("O-hog"), DeliveryGuarantee.AtLeastOnce), startStalled: true);
        var hogs = PublishFills(core, 4_000, "O-hog");
        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == hogs.Count, "the hog's events are dispatched");
        Assert.That(hog.Subscriber.RingSize, Is.EqualTo(4_096), "the first ring behind grows within the budget");
        Assert.That(core.GetStats().BufferBytesGrown, Is.EqualTo(24_576));

        await using var catcher = new CollectingReader(core, core.Subscribe("late-alo", Orders("O-late"), DeliveryGuarantee.AtLeastOnce), startStalled: true);
        await using var dropper = new CollectingReader(core, core.Subscribe("late-amo", Orders("O-late"), DeliveryGuarantee.AtMostOnce), startStalled: true);
        var lates = PublishFills(core, 3_000, "O-late");
        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == hogs.Count + lates.Count, "the late events are dispatched");

        Assert.That(catcher.Subscriber.RingSize, Is.EqualTo(Subscriber.InitialRingSize), "no budget left: the ring keeps its size");
        Assert.That(dropper.Subscriber.RingSize, Is.EqualTo(Subscriber.InitialRingSize));
        Assert.That(catcher.Subscriber.IsCatchingUp, Is.True, "at_least_once leaves the live path as at a full ring");
        Assert.That(dropper.Subscriber.Dropped, Is.EqualTo(lates.Count - Subscriber.InitialRingSize), "at_most_once drops what its ring cannot hold");
        Assert.That(core.GetStats().BufferBytesGrown, Is.EqualTo(24_576), "the budget is never exceeded");
        Assert.That(core.GetStats().BufferGrowthsRefused, Is.GreaterThanOrEqualTo(2));

        catcher.Gate.Set();
        dropper.Gate.Set();
        hog.Gate.Set();
        await Eventually.WaitUntilAsync(() => catcher.Count == lates.Count && hog.Count == hogs.Count, "both catch up");
        Assert.That(catcher.Events.Select(e => e.EventId), Is.EqualTo(lates), "nothing lost, in order");
        Assert.That(catcher.Deliveries.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, lates.Count).Select(i => (long)i)));
        Assert.That(hog.Events.Select(e => e.EventId), Is.EqualTo(hogs));
        await Eventually.WaitUntilAsync(() => dropper.Count + dropper.Dropped == lates.Count, "at_most_once announces its drops");
        Assert.That(dropper.Events.Select(e => e.EventId), Is.EqualTo(lates.Take(Subscriber.InitialRingSize)));
    }

    [Test]
    public async Task Budget_given_back_by_a_drained_ring_or_a_closed_subscriber_lets_another_ring_grow()
    {
        var time = Dispatchers.FakeTime();
        using var core = Dispatchers.Start(bufferCapacity: 4_096, bufferBudget: 24_576, time: time);
        var hogSubscriber = core.Subscribe("hog", Orders("O-hog"), DeliveryGuarantee.AtLeastOnce);
        await using var hog = new CollectingReader(core, hogSubscriber, startStalled: true);
        var hogs = PublishFills(core, 4_000, "O-hog");
        await Eventually.WaitUntilAsync(() => core.GetStats().BufferBytesGrown == 24_576, "the hog's ring takes the whole budget");

        // Drained and quiet: the ring goes back and so does its share of the budget.
        hog.Gate.Set();
        await Eventually.WaitUntilAsync(() => hog.Count == hogs.Count, "the hog drains");
        time.Advance(TimeSpan.FromSeconds(31));
        await Eventually.WaitUntilAsync(() => Tick(core) && core.GetStats().BufferBytesGrown == 0, "a given-back ring returns its bytes");
        Assert.That(hog.Subscriber.RingSize, Is.EqualTo(Subscriber.InitialRingSize));

        // Behind again, then unsubscribed while still holding its grown ring.
        hog.Gate.Reset();
        await Eventually.WaitUntilAsync(() => PublishFills(core, 500, "O-hog").Count > 0 && hog.Subscriber.RingSize == 4_096, "the hog grows again");
        core.Unsubscribe(hogSubscriber);
        time.Advance(TimeSpan.FromSeconds(1));
        await Eventually.WaitUntilAsync(() => Tick(core) && core.GetStats().BufferBytesGrown == 0, "a closed subscriber returns its bytes");

        await using var late = new CollectingReader(core, core.Subscribe("late", Orders("O-late"), DeliveryGuarantee.AtLeastOnce), startStalled: true);
        var lates = PublishFills(core, 3_000, "O-late");
        await Eventually.WaitUntilAsync(() => late.Subscriber.Backlog == lates.Count, "the late subscriber buffers its backlog");
        Assert.That(late.Subscriber.RingSize, Is.EqualTo(4_096), "the budget given back lets it grow");
        Assert.That(late.Subscriber.IsCatchingUp, Is.False);
        late.Gate.Set();
        await Eventually.WaitUntilAsync(() => late.Count == lates.Count, "it reads its backlog");
        Assert.That(late.Events.Select(e => e.EventId), Is.EqualTo(lates));
        Assert.That(late.Subscriber.CatchUps, Is.Zero);
    }

    private static SubscriptionFilter Orders(string orderId) => new() { OrderIds = new HashSet<string>([orderId], StringComparer.Ordinal) };

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
