using System.Collections.Concurrent;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Core;

/// <summary>Push-mode subscribers, served by the core's delivery loops (how transports consume).</summary>
[Category("Unit")]
public sealed class PushModeTests
{
    [Test]
    public async Task Push_subscribers_receive_every_event_in_order_with_gap_free_sequences()
    {
        using var core = Dispatchers.Start(bufferCapacity: 4_096);
        var handlers = Enumerable.Range(0, 50).Select(_ => new RecordingHandler()).ToList();
        for (var i = 0; i < handlers.Count; i++)
        {
            core.Subscribe($"push-{i}", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce, handlers[i]);
        }

        var published = new List<string>();
        for (var i = 0; i < 5_000; i++)
        {
            var e = Events.Fill($"O-{i % 17}");
            published.Add(e.EventId);
            await core.PublishAsync(e, CancellationToken.None);
        }

        foreach (var h in handlers)
        {
            await Eventually.WaitUntilAsync(() => h.Count == published.Count, "every push subscriber gets every event");
            Assert.That(h.Deliveries.Select(d => d.Event.EventId), Is.EqualTo(published));
            Assert.That(h.Deliveries.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, published.Count).Select(i => (long)i)));
        }
    }

    [Test]
    public async Task A_paused_handler_does_not_slow_others_and_catches_up_without_loss_when_resumed()
    {
        using var core = Dispatchers.Start(bufferCapacity: 64, logCapacity: 1 << 16);
        var slow = new RecordingHandler { PauseAfterFirstBatch = true };
        var dropper = new RecordingHandler { PauseAfterFirstBatch = true };
        var fast = Enumerable.Range(0, 10).Select(_ => new RecordingHandler()).ToList();
        var slowSubscriber = core.Subscribe("slow-alo", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce, slow);
        var dropSubscriber = core.Subscribe("slow-amo", SubscriptionFilter.All, DeliveryGuarantee.AtMostOnce, dropper);
        for (var i = 0; i < fast.Count; i++)
        {
            core.Subscribe($"fast-{i}", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce, fast[i]);
        }

        const int n = 10_000;
        for (var i = 0; i < n; i++)
        {
            await core.PublishAsync(Events.Fill($"O-{i % 5}"), CancellationToken.None);
        }

        foreach (var h in fast)
        {
            await Eventually.WaitUntilAsync(() => h.Count == n, "fast subscribers get everything while the slow ones are paused");
        }

        Assert.That(slowSubscriber.IsPaused, Is.True);
        Assert.That(slow.Count, Is.LessThan(n));
        slowSubscriber.ResumeDelivery();
        dropSubscriber.ResumeDelivery();

        await Eventually.WaitUntilAsync(() => slow.Count == n, "the at_least_once subscriber catches up without loss");
        Assert.That(slow.Deliveries.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, n).Select(i => (long)i)));
        await Eventually.WaitUntilAsync(() => dropper.Count + dropper.Dropped == n, "the at_most_once subscriber's drops are announced");
        Assert.That(dropper.Dropped, Is.GreaterThan(0));
    }

    [Test]
    public async Task A_subscriber_with_a_long_backlog_is_served_all_of_it_in_one_turn_of_its_loop()
    {
        // One loop, two subscribers with 3,000 events queued each. A fixed few batches per turn would
        // alternate them, so a subscriber that takes most of the flow could never gain on it; a turn
        // serves what had arrived when it began.
        using var core = Dispatchers.Start(bufferCapacity: 8_192, deliveryThreads: 1);
        var turns = new ConcurrentQueue<string>();
        var first = new RecordingHandler { PauseAfterFirstBatch = true, Turns = turns };
        var second = new RecordingHandler { PauseAfterFirstBatch = true, Turns = turns };
        var firstSubscriber = core.Subscribe("first", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce, first);
        var secondSubscriber = core.Subscribe("second", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce, second);

        const int n = 3_000;
        for (var i = 0; i < n; i++)
        {
            await core.PublishAsync(Events.Fill($"O-{i % 5}"), CancellationToken.None);
        }

        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == n && firstSubscriber.IsPaused && secondSubscriber.IsPaused, "both are paused with a backlog");
        turns.Clear();
        firstSubscriber.ResumeDelivery();
        secondSubscriber.ResumeDelivery();

        await Eventually.WaitUntilAsync(() => first.Count == n && second.Count == n, "both receive everything");
        var order = turns.ToList();
        Assert.That(order.Count(id => id == "first"), Is.GreaterThan(4), "the backlog takes more than a few batches");
        Assert.That(order.SkipWhile(id => id == "first"), Is.All.EqualTo("second"), "the first one's whole backlog came in its one turn");
    }

    [Test]
    public async Task A_handler_that_resumes_before_its_pause_is_recorded_keeps_receiving()
    {
        // The worst order of a handler whose write completes on another thread at once: the resume
        // comes before the loop has recorded the pause. Delivery must go on, not stay paused.
        using var core = Dispatchers.Start(bufferCapacity: 8_192, readBatch: 16);
        var handler = new RecordingHandler { ResumeBeforePausing = true };
        core.Subscribe("quick", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce, handler);

        const int n = 2_000;
        for (var i = 0; i < n; i++)
        {
            await core.PublishAsync(Events.Fill($"O-{i % 5}"), CancellationToken.None);
        }

        await Eventually.WaitUntilAsync(() => handler.Count == n, "every event arrives although every batch paused");
        Assert.That(handler.Deliveries.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, n).Select(i => (long)i)));
        Assert.That(handler.Batches, Is.GreaterThanOrEqualTo(n / 16), "many pauses, each taken back");
    }

    [Test]
    public async Task A_handler_gets_no_more_deliveries_per_call_than_it_takes()
    {
        using var core = Dispatchers.Start(readBatch: 256);
        var handler = new RecordingHandler { PauseAfterFirstBatch = true, Limit = 7 };
        var subscriber = core.Subscribe("small", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce, handler);

        const int n = 500;
        for (var i = 0; i < n; i++)
        {
            await core.PublishAsync(Events.Fill($"O-{i % 5}"), CancellationToken.None);
        }

        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == n && subscriber.IsPaused, "a backlog waits");
        subscriber.ResumeDelivery();
        await Eventually.WaitUntilAsync(() => handler.Count == n, "everything arrives");
        Assert.That(handler.Deliveries.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, n).Select(i => (long)i)));
        Assert.That(handler.LargestBatch, Is.EqualTo(7), "batches of the handler's size, never more");
    }

    [Test]
    public async Task A_throwing_handler_loses_only_its_own_subscription()
    {
        using var core = Dispatchers.Start();
        var faulty = new RecordingHandler { ThrowOnDelivery = true };
        var healthy = new RecordingHandler();
        var faultySubscriber = core.Subscribe("faulty", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce, faulty);
        core.Subscribe("healthy", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce, healthy);

        for (var i = 0; i < 100; i++)
        {
            core.TryPublish(Events.Fill());
        }

        await Eventually.WaitUntilAsync(() => healthy.Count == 100, "the healthy subscriber gets everything");
        await Eventually.WaitUntilAsync(() => faulty.ClosedCount == 1, "the faulty one is told it is closed");
        Assert.That(faultySubscriber.IsClosed, Is.True);
        Assert.That(core.GetStats().Subscribers, Is.EqualTo(1));
    }

    [Test]
    public async Task Unsubscribing_tells_the_handler_once()
    {
        using var core = Dispatchers.Start();
        var handler = new RecordingHandler();
        var subscriber = core.Subscribe("bye", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce, handler);

        core.Unsubscribe(subscriber);
        core.Unsubscribe(subscriber);

        await Eventually.WaitUntilAsync(() => handler.ClosedCount == 1, "OnClosed");
        core.TryPublish(Events.Fill());
        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == 1, "ingested");
        Assert.That(handler.Count, Is.Zero);
        Assert.That(handler.ClosedCount, Is.EqualTo(1));
    }

    private sealed class RecordingHandler : IDeliveryHandler
    {
        private readonly ConcurrentQueue<Delivery> _deliveries = new();
        private long _dropped;
        private int _closed;
        private int _batches;
        private int _largest;

        public bool PauseAfterFirstBatch { get; init; }

        public bool ResumeBeforePausing { get; init; }

        public int Limit { get; init; } = int.MaxValue;

        public int MaxDeliveriesPerCall => Limit;

        public int Batches => Volatile.Read(ref _batches);

        public int LargestBatch => Volatile.Read(ref _largest);

        public bool ThrowOnDelivery { get; init; }

        /// <summary>Where each batch's subscriber id is recorded, in the order the loop delivered them.</summary>
        public ConcurrentQueue<string>? Turns { get; init; }

        public int Count => _deliveries.Count;

        public long Dropped => Interlocked.Read(ref _dropped);

        public int ClosedCount => Volatile.Read(ref _closed);

        public List<Delivery> Deliveries => [.. _deliveries];

        public bool OnDeliveries(Subscriber subscriber, DeliveryBatch batch)
        {
            if (ThrowOnDelivery)
            {
                throw new InvalidOperationException("handler bug");
            }

            Turns?.Enqueue(subscriber.Id);
            foreach (var d in batch.Deliveries)
            {
                _deliveries.Enqueue(d);
            }

            Interlocked.Add(ref _dropped, batch.Dropped);
            if (batch.Count > _largest)
            {
                Volatile.Write(ref _largest, batch.Count);
            }

            var number = Interlocked.Increment(ref _batches);
            if (ResumeBeforePausing)
            {
                subscriber.ResumeDelivery();
                return false;
            }

            return !(PauseAfterFirstBatch && number == 1);
        }

        public void OnClosed(Subscriber subscriber) => Interlocked.Increment(ref _closed);
    }
}
