using System.Globalization;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Core;

[Category("Unit")]
public sealed class FanOutDispatcherTests
{
    [Test]
    public async Task Events_of_one_order_reach_every_subscriber_in_ingest_order_under_concurrent_producers()
    {
        using var core = Dispatchers.Start(bufferCapacity: 64);
        const int producers = 4;
        const int ordersPerProducer = 25;
        const int eventsPerOrder = 200;
        var readers = new[]
        {
            new CollectingReader(core, core.Subscribe("all", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce)),
            new CollectingReader(core, core.Subscribe("fills", new SubscriptionFilter
            {
                DataTypes = new HashSet<ExecutionDataType> { ExecutionDataType.FillNotification },
            }, DeliveryGuarantee.AtLeastOnce)),
            new CollectingReader(core, core.Subscribe("slowish", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce), batchCapacity: 3),
        };

        // Each producer owns its orders and publishes their events in sequence: the event id carries the sequence.
        var tasks = Enumerable.Range(0, producers).Select(p => Task.Run(async () =>
        {
            for (var i = 0; i < eventsPerOrder; i++)
            {
                for (var o = 0; o < ordersPerProducer; o++)
                {
                    var orderId = $"P{p}-O{o}";
                    var e = i % 3 == 0 ? Events.Order(orderId, eventId: $"{orderId}#{i}") : Events.Fill(orderId, eventId: $"{orderId}#{i}");
                    await core.PublishAsync(e, CancellationToken.None);
                }
            }
        })).ToArray();
        await Task.WhenAll(tasks);

        const int total = producers * ordersPerProducer * eventsPerOrder;
        foreach (var reader in readers)
        {
            var expected = reader.Subscriber.Id == "fills" ? total - (producers * ordersPerProducer * ((eventsPerOrder + 2) / 3)) : total;
            await Eventually.WaitUntilAsync(() => reader.Count >= expected, $"{reader.Subscriber.Id} receives {expected}");
            AssertPerOrderSequenceIncreases(reader.Events, reader.Subscriber.Id);
            Assert.That(reader.Count, Is.EqualTo(expected), $"{reader.Subscriber.Id}: no duplicates");
            Assert.That(reader.Deliveries.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, (int)expected).Select(i => (long)i)),
                $"{reader.Subscriber.Id}: sequence numbers are gap-free");
        }

        foreach (var reader in readers)
        {
            await reader.DisposeAsync();
        }
    }

    [Test]
    public async Task Subscribers_added_and_removed_concurrently_are_each_in_the_index_by_the_time_subscribe_returns()
    {
        using var core = new FanOutDispatcher(new DistributionOptions(), TimeProvider.System);
        core.Start();
        var order = $"storm-{Guid.NewGuid():N}";
        var filter = new SubscriptionFilter { OrderIds = new HashSet<string>([order], StringComparer.Ordinal) };
        var gone = Enumerable.Range(0, 200).Select(i => core.Subscribe($"gone-{i}", filter, DeliveryGuarantee.AtLeastOnce)).ToList();

        // 1,000 subscribes and 200 unsubscribes from 8 threads at once; each returns with its change published.
        var subscribers = new Subscriber[1_000];
        Parallel.Invoke(
            () => Parallel.For(0, subscribers.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => subscribers[i] = core.Subscribe($"s-{i}", filter, DeliveryGuarantee.AtLeastOnce)),
            () => Parallel.ForEach(gone, new ParallelOptions { MaxDegreeOfParallelism = 2 }, core.Unsubscribe));
        core.TryPublish(Events.Fill(order, eventId: $"{order}-1"));

        var batch = new DeliveryBatch();
        foreach (var s in subscribers)
        {
            await Eventually.WaitUntilAsync(() => s.TryReadBatch(batch) && batch.Deliveries.Length == 1 && batch.Deliveries[0].Event.EventId == $"{order}-1",
                $"{s.Id} receives the event");
        }

        Assert.That(core.GetStats().Subscribers, Is.EqualTo(1_000));
        Assert.That(gone.Select(g => g.Delivered), Has.All.Zero, "an unsubscribed one is out of the index");
    }

    [Test]
    public async Task A_stalled_subscriber_does_not_reduce_what_the_others_receive()
    {
        using var core = Dispatchers.Start(bufferCapacity: 128, logCapacity: 1 << 16);
        await using var stalledAtLeastOnce = new CollectingReader(core, core.Subscribe("stalled-alo", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce), startStalled: true);
        await using var stalledAtMostOnce = new CollectingReader(core, core.Subscribe("stalled-amo", SubscriptionFilter.All, DeliveryGuarantee.AtMostOnce), startStalled: true);
        var healthy = Enumerable.Range(0, 20).Select(i => new CollectingReader(core, core.Subscribe($"h{i}", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce))).ToList();

        const int n = 20_000;
        for (var i = 0; i < n; i++)
        {
            await core.PublishAsync(Events.Fill($"O-{i % 50}"), CancellationToken.None);
        }

        foreach (var reader in healthy)
        {
            await Eventually.WaitUntilAsync(() => reader.Count == n, $"{reader.Subscriber.Id} receives all {n}");
        }

        Assert.That(core.GetStats().Ingested, Is.EqualTo(n), "ingestion was never held up");
        Assert.That(stalledAtLeastOnce.Count, Is.Zero);
        foreach (var reader in healthy)
        {
            await reader.DisposeAsync();
        }
    }

    [Test]
    public async Task At_most_once_overflow_drops_counts_and_announces_the_drops()
    {
        using var core = Dispatchers.Start(bufferCapacity: 64);
        await using var reader = new CollectingReader(core, core.Subscribe("amo", SubscriptionFilter.All, DeliveryGuarantee.AtMostOnce), startStalled: true);

        const int n = 1_000;
        for (var i = 0; i < n; i++)
        {
            core.TryPublish(Events.Fill());
        }

        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == n, "all ingested");
        reader.Gate.Set();
        await Eventually.WaitUntilAsync(() => reader.Count + reader.Dropped == n, "every event is delivered or announced as dropped");

        Assert.That(reader.Count, Is.EqualTo(64), "the buffer's worth was delivered");
        Assert.That(reader.Dropped, Is.EqualTo(n - 64));
        Assert.That(reader.Subscriber.Dropped, Is.EqualTo(n - 64));
        Assert.That(reader.Subscriber.CatchUps, Is.Zero);
    }

    [Test]
    public async Task At_least_once_overflow_catches_up_from_the_log_without_loss_or_repeat()
    {
        using var core = Dispatchers.Start(bufferCapacity: 64);
        await using var reader = new CollectingReader(core, core.Subscribe("alo", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce), startStalled: true);

        var published = new List<string>();
        for (var i = 0; i < 3_000; i++)
        {
            var e = Events.Fill($"O-{i % 7}");
            published.Add(e.EventId);
            core.TryPublish(e);
        }

        await Eventually.WaitUntilAsync(() => reader.Subscriber.IsCatchingUp, "subscriber leaves the live path");
        reader.Gate.Set();

        // Keep publishing while it catches up: the seam between log and live path must hold.
        for (var i = 0; i < 3_000; i++)
        {
            var e = Events.Fill($"O-{i % 7}");
            published.Add(e.EventId);
            await core.PublishAsync(e, CancellationToken.None);
        }

        await Eventually.WaitUntilAsync(() => reader.Count >= published.Count, "every event arrives");
        Assert.That(reader.Events.Select(e => e.EventId), Is.EqualTo(published));
        Assert.That(reader.Dropped + reader.Lost, Is.Zero);
        Assert.That(reader.Subscriber.CatchUps, Is.GreaterThanOrEqualTo(1));
        await Eventually.WaitUntilAsync(() => !reader.Subscriber.IsCatchingUp, "subscriber rejoins the live path");
    }

    [Test]
    public async Task A_subscriber_starting_from_an_old_position_catches_up_without_gaps()
    {
        using var core = Dispatchers.Start(bufferCapacity: 32);
        var published = new List<ExecutionEvent>();
        for (var i = 0; i < 500; i++)
        {
            var e = i % 2 == 0 ? Events.Fill($"O-{i % 5}") : Events.Order($"O-{i % 5}");
            published.Add(e);
            core.TryPublish(e);
        }

        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == 500, "all ingested");
        var fills = new SubscriptionFilter { DataTypes = new HashSet<ExecutionDataType> { ExecutionDataType.FillNotification } };
        await using var reader = new CollectingReader(core, core.Subscribe("late", fills, DeliveryGuarantee.AtLeastOnce, startPosition: 100));
        for (var i = 0; i < 100; i++)
        {
            var e = Events.Fill("O-live");
            published.Add(e);
            core.TryPublish(e);
        }

        var expected = published.Skip(100).Where(fills.Matches).Select(e => e.EventId).ToList();
        await Eventually.WaitUntilAsync(() => reader.Count >= expected.Count, "history then live");
        Assert.That(reader.Events.Select(e => e.EventId), Is.EqualTo(expected));
    }

    [Test]
    public async Task Resuming_from_the_last_batch_gives_exactly_the_missed_events_with_continuing_sequence()
    {
        using var core = Dispatchers.Start();
        var first = new CollectingReader(core, core.Subscribe("r", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce));
        for (var i = 0; i < 100; i++)
        {
            core.TryPublish(Events.Fill($"O-{i}", eventId: $"a{i}"));
        }

        await Eventually.WaitUntilAsync(() => first.Count == 100, "first session reads 100");
        var (resume, sequence) = (first.LastResumePosition, first.LastSequence);
        await first.DisposeAsync();

        for (var i = 0; i < 50; i++)
        {
            core.TryPublish(Events.Fill($"O-{i}", eventId: $"b{i}"));
        }

        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == 150, "missed events ingested");
        await using var second = new CollectingReader(core, core.Subscribe("r", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce, resume, sequence));
        core.TryPublish(Events.Fill("O-x", eventId: "c0"));

        await Eventually.WaitUntilAsync(() => second.Count == 51, "the missed 50 and the new one");
        Assert.That(second.Events.Select(e => e.EventId), Is.EqualTo(Enumerable.Range(0, 50).Select(i => $"b{i}").Append("c0")));
        Assert.That(second.Deliveries.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(101, 51).Select(i => (long)i)));
    }

    [Test]
    public async Task Positions_beyond_retention_are_announced_as_lost_never_skipped_silently()
    {
        using var core = Dispatchers.Start(logCapacity: 64);
        for (var i = 0; i < 200; i++)
        {
            core.TryPublish(Events.Fill());
        }

        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == 200, "all ingested");
        await using var reader = new CollectingReader(core, core.Subscribe("old", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce, startPosition: 0));

        await Eventually.WaitUntilAsync(() => reader.Count + reader.Lost == 200, "everything is delivered or announced lost");
        Assert.That(reader.Lost, Is.EqualTo(200 - 64));
        Assert.That(reader.Events.First().Position, Is.EqualTo(200 - 64));
    }

    [Test]
    public async Task Events_older_than_the_retention_age_are_not_served()
    {
        var time = Dispatchers.FakeTime();
        using var core = Dispatchers.Start(maxAge: TimeSpan.FromMinutes(5), time: time);
        for (var i = 0; i < 10; i++)
        {
            core.TryPublish(Events.Fill());
        }

        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == 10, "old events ingested");
        time.Advance(TimeSpan.FromMinutes(6));
        for (var i = 0; i < 5; i++)
        {
            core.TryPublish(Events.Fill());
        }

        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == 15, "new events ingested");
        await using var reader = new CollectingReader(core, core.Subscribe("aged", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce, startPosition: 0));

        await Eventually.WaitUntilAsync(() => reader.Count + reader.Lost == 15, "old events are announced, new ones delivered");
        Assert.That(reader.Count, Is.EqualTo(5));
        Assert.That(reader.Lost, Is.EqualTo(10));
        Assert.That(core.Tail, Is.EqualTo(10), "the dispatcher trims expired events from the log");
    }

    [Test]
    public async Task A_backlogged_subscriber_gets_urgent_events_first_without_breaking_order_per_order_id()
    {
        using var core = Dispatchers.Start();
        await using var reader = new CollectingReader(core, core.Subscribe("backlog", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce), startStalled: true);

        core.TryPublish(Events.Order("A", priority: 5, eventId: "A1-low"));
        core.TryPublish(Events.Fill("B", priority: 5, eventId: "B1-low"));
        core.TryPublish(Events.Fill("A", priority: 1, eventId: "A2-urgent"));
        core.TryPublish(Events.Fill("C", priority: 1, eventId: "C1-urgent"));
        core.TryPublish(Events.Venue());
        core.TryPublish(Events.Fill("D", priority: 9, latencySensitive: true, eventId: "D1-latency-sensitive"));

        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == 6, "all ingested");
        await Eventually.WaitUntilAsync(() => reader.Subscriber.Backlog == 6, "backlog built up");
        reader.Gate.Set();
        await Eventually.WaitUntilAsync(() => reader.Count == 6, "all delivered");

        var ids = reader.Events.Select(e => e.EventId).ToList();
        Assert.That(ids.Take(2), Is.EqualTo(new[] { "C1-urgent", "D1-latency-sensitive" }), "urgent events jump the queue");
        Assert.That(ids.IndexOf("A1-low"), Is.LessThan(ids.IndexOf("A2-urgent")), "but never ahead of an earlier event of their order");
        Assert.That(reader.Deliveries.Select(d => d.Sequence), Is.EqualTo(new long[] { 1, 2, 3, 4, 5, 6 }));
    }

    [Test]
    public async Task A_batch_of_many_orders_keeps_each_orders_events_in_order_and_puts_every_free_urgent_event_first()
    {
        using var core = Dispatchers.Start();
        var subscriber = core.Subscribe("many", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce);
        var random = new Random(11);
        var published = new List<ExecutionEvent>();
        for (var i = 0; i < 240; i++)
        {
            var order = $"ORD-{random.Next(60)}";
            var e = random.Next(3) == 0 ? Events.Order(order, priority: 5, eventId: $"e{i}") : Events.Fill(order, priority: 1, eventId: $"e{i}");
            published.Add(e);
            core.TryPublish(e);
        }

        await Eventually.WaitUntilAsync(() => subscriber.Backlog == published.Count, "backlog built up");
        var batch = new DeliveryBatch(256);
        Assert.That(subscriber.TryReadBatch(batch), Is.True);
        var read = batch.Deliveries.ToArray().Select(d => d.Event).ToList();
        Assert.That(read, Has.Count.EqualTo(published.Count), "one batch holds them all");

        // What the order must be: an urgent event goes first unless an earlier event of its order was deferred.
        var deferred = new HashSet<string>(StringComparer.Ordinal);
        var first = new List<string>();
        var rest = new List<string>();
        foreach (var e in published)
        {
            if (e.IsUrgent && !deferred.Contains(e.OrderId!))
            {
                first.Add(e.EventId);
            }
            else
            {
                deferred.Add(e.OrderId!);
                rest.Add(e.EventId);
            }
        }

        Assert.That(rest, Is.Not.Empty, "some events were deferred");
        Assert.That(read.Select(e => e.EventId), Is.EqualTo(first.Concat(rest)));
        foreach (var order in read.GroupBy(e => e.OrderId))
        {
            Assert.That(order.Select(e => int.Parse(e.EventId[1..], CultureInfo.InvariantCulture)), Is.Ordered, order.Key!);
        }
    }

    [Test]
    public async Task Unsubscribing_completes_a_pending_wait_and_stops_delivery()
    {
        using var core = Dispatchers.Start();
        var subscriber = core.Subscribe("bye", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce);
        var wait = subscriber.WaitToReadAsync().AsTask();

        core.Unsubscribe(subscriber);

        Assert.That(await wait.WaitAsync(TimeSpan.FromSeconds(10)), Is.False);
        core.TryPublish(Events.Fill());
        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == 1, "ingested");
        Assert.That(subscriber.TryReadBatch(new DeliveryBatch()), Is.False);
        Assert.That(core.GetStats().Subscribers, Is.Zero);
    }

    [Test]
    public void Duplicate_subscriber_ids_and_the_subscriber_limit_are_refused()
    {
        using var core = new FanOutDispatcher(new DistributionOptions { MaxSubscribers = 2 }, TimeProvider.System);
        core.Start();
        core.Subscribe("a", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce);

        var duplicate = Assert.Throws<SubscriptionRejectedException>(() => core.Subscribe("a", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce));
        core.Subscribe("b", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce);
        var limit = Assert.Throws<SubscriptionRejectedException>(() => core.Subscribe("c", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce));

        Assert.That(duplicate!.Reason, Is.EqualTo(SubscriptionRejection.DuplicateId));
        Assert.That(limit!.Reason, Is.EqualTo(SubscriptionRejection.LimitReached));
        Assert.That(limit.Message, Does.Contain("Distribution:MaxSubscribers"));
    }

    [Test]
    public async Task Subscribing_and_unsubscribing_while_events_flow_loses_nothing_for_steady_subscribers()
    {
        using var core = Dispatchers.Start(bufferCapacity: 256);
        await using var steady = new CollectingReader(core, core.Subscribe("steady", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce));
        using var stop = new CancellationTokenSource();
        var churn = Task.Run(async () =>
        {
            var i = 0;
            while (!stop.IsCancellationRequested)
            {
                await using var transient = new CollectingReader(core, core.Subscribe($"t{i++}", SubscriptionFilter.All, DeliveryGuarantee.AtMostOnce));
                await Task.Yield();
            }
        });

        const int n = 30_000;
        for (var i = 0; i < n; i++)
        {
            await core.PublishAsync(Events.Fill($"O-{i % 13}"), CancellationToken.None);
        }

        await Eventually.WaitUntilAsync(() => steady.Count == n, "steady subscriber gets everything");
        await stop.CancelAsync();
        await churn;
        Assert.That(steady.Deliveries.Select(d => d.Sequence).Last(), Is.EqualTo(n));
    }

    [Test]
    public async Task Stopping_drains_accepted_events_then_closes_subscribers()
    {
        var core = Dispatchers.Start();
        var reader = new CollectingReader(core, core.Subscribe("drain", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce));
        for (var i = 0; i < 1_000; i++)
        {
            core.TryPublish(Events.Fill());
        }

        await core.StopAsync(TimeSpan.FromSeconds(10));

        Assert.That(core.GetStats().Ingested, Is.EqualTo(1_000));
        Assert.That(core.TryPublish(Events.Fill()), Is.False, "intake is closed");
        await Eventually.WaitUntilAsync(() => reader.Subscriber.IsClosed, "subscriber closed");
        await reader.DisposeAsync();
        core.Dispose();
    }

    private static void AssertPerOrderSequenceIncreases(IEnumerable<ExecutionEvent> events, string subscriber)
    {
        var last = new Dictionary<string, int>();
        foreach (var e in events)
        {
            var parts = e.EventId.Split('#');
            var seq = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
            if (last.TryGetValue(parts[0], out var previous))
            {
                Assert.That(seq, Is.GreaterThan(previous), $"{subscriber}: order {parts[0]} out of order");
            }

            last[parts[0]] = seq;
        }
    }
}

/// <summary>Where a new subscriber's catch-up work happens.</summary>
public sealed class SubscriberStartTests
{
    [Test]
    public async Task A_subscriber_starting_far_behind_catches_up_on_its_own_reader_and_then_goes_live()
    {
        using var core = Dispatchers.Start(bufferCapacity: 64, logCapacity: 1 << 16);
        for (var i = 0; i < 5_000; i++)
        {
            core.TryPublish(Events.Fill($"O-{i % 3}", eventId: $"old-{i}"));
        }

        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == 5_000, "history ingested");
        var subscriber = core.Subscribe("far-behind", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce, startPosition: 0);

        Assert.That(subscriber.Mode, Is.EqualTo(Subscriber.CatchingUp), "the reader, not the dispatcher, scans 5,000 positions");
        await using var reader = new CollectingReader(core, subscriber);
        core.TryPublish(Events.Fill("O-live", eventId: "live-0"));
        await Eventually.WaitUntilAsync(() => reader.Count == 5_001, "history then live");
        Assert.That(reader.Events.Select(e => e.EventId), Is.EqualTo(Enumerable.Range(0, 5_000).Select(i => $"old-{i}").Append("live-0")));
        await Eventually.WaitUntilAsync(() => !subscriber.IsCatchingUp, "then it is live");
    }

    [Test]
    public void A_subscriber_starting_near_the_head_is_handed_over_by_the_dispatcher()
    {
        using var core = Dispatchers.Start(bufferCapacity: 64);

        var subscriber = core.Subscribe("at-head", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce);

        Assert.That(subscriber.Mode, Is.Not.EqualTo(Subscriber.CatchingUp));
    }
}
