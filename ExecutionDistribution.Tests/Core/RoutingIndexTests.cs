using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Core;

[Category("Unit")]
public sealed class RoutingIndexTests
{
    private static TopicPattern Key(string p) => TopicPattern.TryParse(p, '.', out var t, out _) ? t! : throw new ArgumentException(p);

    private static TopicPattern Topic(string p) => TopicPattern.TryParse(p, '/', out var t, out _) ? t! : throw new ArgumentException(p);

    [Test]
    public async Task Index_delivers_exactly_what_each_filter_matches_for_random_filters()
    {
        var stream = new SyntheticExecutionStream(seed: 21, liveOrders: 500);
        var events = Enumerable.Range(0, 5_000).Select(_ => stream.Next()).ToArray();
        var rng = new Random(1234);
        var filters = Enumerable.Range(0, 120).Select(_ => RandomFilter(rng, stream, events)).ToList();
        filters.Add(SubscriptionFilter.All);
        filters.Add(new SubscriptionFilter { RoutingKeys = [Key("#")], MinPriority = 1 });

        using var core = Dispatchers.Start(bufferCapacity: 8_192);
        var readers = filters.Select((f, i) => new CollectingReader(core, core.Subscribe($"s{i}", f, DeliveryGuarantee.AtLeastOnce))).ToList();
        foreach (var e in events)
        {
            Assert.That(core.TryPublish(e), Is.True);
        }

        for (var i = 0; i < filters.Count; i++)
        {
            var expected = events.Where(filters[i].Matches).Select(e => e.EventId).ToList();
            var reader = readers[i];
            await Eventually.WaitUntilAsync(() => reader.Count >= expected.Count, $"subscriber {i} receives {expected.Count} events");
            // Same events, none twice; order may differ only where urgent events were moved ahead in a
            // backlogged batch, which never reorders the events of one order.
            Assert.That(reader.Events.Select(e => e.EventId).ToList(), Is.EquivalentTo(expected), $"filter {i}");
            Assert.That(reader.Count, Is.EqualTo(expected.Count), $"filter {i}: no duplicates");
            AssertOrderPreservedPerOrderId(reader.Events, events, $"filter {i}");
        }

        foreach (var r in readers)
        {
            await r.DisposeAsync();
        }
    }

    [Test]
    public void An_index_updated_through_subscribes_and_unsubscribes_routes_like_one_built_from_the_subscribers_left()
    {
        var stream = new SyntheticExecutionStream(seed: 33, liveOrders: 500);
        var events = Enumerable.Range(0, 5_000).Select(_ => stream.Next()).ToArray();
        var rng = new Random(4321);
        var filters = Enumerable.Range(0, 400).Select(_ => RandomFilter(rng, stream, events)).ToList();
        filters.Add(SubscriptionFilter.All);
        filters.Add(new SubscriptionFilter { TargetWorkflows = new HashSet<string> { "portfolio_management", "risk_management" } });
        filters.Add(new SubscriptionFilter { OrderIds = events.Take(2_000).Select(e => e.OrderId).OfType<string>().ToHashSet() });

        // Not started: the core only makes the subscribers; both indexes here are driven by the test.
        using var core = new FanOutDispatcher(new DistributionOptions(), TimeProvider.System);
        var all = filters.Select((f, i) => core.Subscribe($"s{i}", f, DeliveryGuarantee.AtMostOnce, bufferCapacity: 2)).ToArray();
        var updated = new RoutingIndex();
        var filed = new List<Subscriber>();
        var position = 0L;

        void AssertSameRoutes(string when, int every)
        {
            var rebuilt = new RoutingIndex(filed);
            Assert.That(updated.Count, Is.EqualTo(filed.Count), when);
            var offset = rng.Next(every);
            foreach (var e in events.Where((_, i) => i % every == offset).ToList())
            {
                // A fresh position per route: de-duplication stamps the subscriber with it.
                e.Position = ++position;
                var fromUpdated = new CollectingSink([]);
                updated.Route(e, ref fromUpdated);
                e.Position = ++position;
                var fromRebuilt = new CollectingSink([]);
                rebuilt.Route(e, ref fromRebuilt);
                Assert.That(fromUpdated.Ids.Order(), Is.EqualTo(fromRebuilt.Ids.Order()), $"{when}: event {e.EventId}");
            }
        }

        // Subscribe and unsubscribe at random, re-subscribing some that left. A few events after every
        // change (so cached pattern results are there to go stale), a larger sample now and then.
        for (var step = 1; step <= 1_500; step++)
        {
            var s = all[rng.Next(all.Length)];
            if (filed.Remove(s))
            {
                updated.Remove(s);
            }
            else
            {
                filed.Add(s);
                updated.Add(s);
            }

            AssertSameRoutes($"after {step} changes", every: step % 250 == 0 ? 25 : 1_000);
        }

        // Everyone leaves (the watched-orders filter is redrawn on the way), then some come back.
        foreach (var s in filed.ToList())
        {
            filed.Remove(s);
            updated.Remove(s);
        }

        AssertSameRoutes("all unsubscribed", every: 25);
        Assert.That(events.Any(e =>
        {
            var sink = new CollectingSink([]);
            updated.Route(e, ref sink);
            return sink.Ids.Count > 0;
        }), Is.False, "an empty index routes nothing");

        foreach (var s in all.Where((_, i) => i % 3 == 0))
        {
            filed.Add(s);
            updated.Add(s);
        }

        AssertSameRoutes("a third subscribed again", every: 25);
    }

    [Test]
    public async Task Subscribers_coming_and_going_by_the_hundred_each_get_exactly_what_they_match_while_attached()
    {
        var stream = new SyntheticExecutionStream(seed: 44, liveOrders: 500);
        var rng = new Random(99);
        var batches = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 1_000).Select(_ => stream.Next()).ToArray()).ToArray();
        var all = batches.SelectMany(b => b).ToArray();
        using var core = Dispatchers.Start(bufferCapacity: 4_096);
        var next = 0;
        List<(CollectingReader Reader, SubscriptionFilter Filter)> Subscribe(int count) =>
            [.. Enumerable.Range(0, count).Select(_ => RandomFilter(rng, stream, all)).Select(f =>
                (new CollectingReader(core, core.Subscribe($"churn-{next++}", f, DeliveryGuarantee.AtLeastOnce)), f))];

        async Task PublishAndWait(ExecutionEvent[] batch, IEnumerable<(CollectingReader Reader, SubscriptionFilter Filter)> attached, params ExecutionEvent[][] seen)
        {
            foreach (var e in batch)
            {
                Assert.That(core.TryPublish(e), Is.True);
            }

            foreach (var (reader, filter) in attached)
            {
                var expected = seen.SelectMany(b => b).Where(filter.Matches).Select(e => e.EventId).ToList();
                await Eventually.WaitUntilAsync(() => reader.Count >= expected.Count, $"{reader.Subscriber.Id} receives {expected.Count} events");
                Assert.That(reader.Events.Select(e => e.EventId), Is.EquivalentTo(expected), reader.Subscriber.Id);
            }
        }

        // 300 subscribe (the dispatcher builds its index again on the way), then the first batch.
        var first = Subscribe(300);
        await PublishAndWait(batches[0], first, batches[0]);

        // Two of three leave; the rest get the second batch too, and those that left nothing more.
        var leaving = first.Where((_, i) => i % 3 != 0).ToList();
        foreach (var (reader, _) in leaving)
        {
            await reader.DisposeAsync();
        }

        var staying = first.Except(leaving).ToList();
        await Eventually.WaitUntilAsync(() => core.IndexedSubscribers == staying.Count, "the dispatcher let the 200 go");
        await PublishAndWait(batches[1], staying, batches[0], batches[1]);
        Assert.That(core.GetStats().Subscribers, Is.EqualTo(staying.Count));

        // 150 newcomers, published to at once, get exactly what comes after them.
        var newcomers = Subscribe(150);
        await PublishAndWait(batches[2], newcomers, batches[2]);
        await PublishAndWait([], staying, batches[0], batches[1], batches[2]);

        foreach (var (reader, _) in staying.Concat(newcomers))
        {
            await reader.DisposeAsync();
        }
    }

    private readonly struct CollectingSink(List<string> ids) : IRouteSink
    {
        public List<string> Ids { get; } = ids;

        public void Deliver(Subscriber subscriber, long position) => Ids.Add(subscriber.Id);
    }

    [Test]
    public async Task Subscriber_reached_through_two_target_workflows_gets_the_event_once()
    {
        using var core = Dispatchers.Start();
        await using var reader = new CollectingReader(core, core.Subscribe("wf", new SubscriptionFilter
        {
            TargetWorkflows = new HashSet<string> { "portfolio_management", "risk_management" },
        }, DeliveryGuarantee.AtLeastOnce));

        core.TryPublish(Events.Fill(workflows: ["portfolio_management", "risk_management"]));
        core.TryPublish(Events.Fill(workflows: ["reporting_analytics"]));
        core.TryPublish(Events.Fill(workflows: ["risk_management"]));

        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == 3, "all ingested");
        await Eventually.WaitUntilAsync(() => reader.Count == 2, "two deliveries");
        Assert.That(reader.Deliveries.Select(d => d.Sequence), Is.EqualTo(new long[] { 1, 2 }));
    }

    [Test]
    public async Task Dimensions_combine_with_and_values_within_a_dimension_with_or()
    {
        using var core = Dispatchers.Start();
        await using var reader = new CollectingReader(core, core.Subscribe("combo", new SubscriptionFilter
        {
            Instruments = new HashSet<string> { "AAPL", "MSFT" },
            Venues = new HashSet<string> { "NYSE" },
            DataTypes = new HashSet<ExecutionDataType> { ExecutionDataType.FillNotification },
            MinPriority = 2,
        }, DeliveryGuarantee.AtLeastOnce));

        core.TryPublish(Events.Fill(instrument: "AAPL", venue: "NYSE", eventId: "match-1"));
        core.TryPublish(Events.Fill(instrument: "MSFT", venue: "NYSE", eventId: "match-2"));
        core.TryPublish(Events.Fill(instrument: "AAPL", venue: "ARCA"));
        core.TryPublish(Events.Fill(instrument: "TSLA", venue: "NYSE"));
        core.TryPublish(Events.Fill(instrument: "AAPL", venue: "NYSE", priority: 5));
        core.TryPublish(Events.Order(instrument: "AAPL"));

        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == 6, "all ingested");
        await Eventually.WaitUntilAsync(() => reader.Count == 2, "two matches");
        Assert.That(reader.Events.Select(e => e.EventId), Is.EqualTo(new[] { "match-1", "match-2" }));
    }

    private static void AssertOrderPreservedPerOrderId(List<ExecutionEvent> received, ExecutionEvent[] published, string what)
    {
        var ingestIndex = published.Select((e, i) => (e.EventId, i)).ToDictionary(x => x.EventId, x => x.i);
        var last = new Dictionary<string, int>();
        foreach (var e in received.Where(e => e.OrderId is not null))
        {
            var index = ingestIndex[e.EventId];
            Assert.That(index, Is.GreaterThan(last.GetValueOrDefault(e.OrderId!, -1)), $"{what}: order {e.OrderId} out of order");
            last[e.OrderId!] = index;
        }
    }

    private static SubscriptionFilter RandomFilter(Random rng, SyntheticExecutionStream stream, ExecutionEvent[] events)
    {
        var sample = events[rng.Next(events.Length)];
        return rng.Next(9) switch
        {
            0 => new SubscriptionFilter { OrderIds = events.Skip(rng.Next(4_000)).Take(20).Select(e => e.OrderId).OfType<string>().ToHashSet() },
            1 => new SubscriptionFilter { RoutingKeys = [Key($"{stream.InstrumentSymbols[rng.Next(40)]}.#")] },
            2 => new SubscriptionFilter { RoutingKeys = [Key("*.fill.*"), Key($"{sample.Routing.RoutingKey.Split('.')[0]}.*.complete")], MinPriority = 1 },
            3 => new SubscriptionFilter { Instruments = new HashSet<string> { stream.InstrumentSymbols[rng.Next(20)] }, Venues = new HashSet<string> { "NYSE", "ARCA" } },
            4 => new SubscriptionFilter { Topics = [Topic(rng.Next(2) == 0 ? "execution/fills/#" : "execution/*/updates")] },
            5 => new SubscriptionFilter { Venues = new HashSet<string> { SyntheticExecutionStream.Venues[rng.Next(10)] } },
            6 => new SubscriptionFilter { TargetWorkflows = new HashSet<string> { SyntheticExecutionStream.Workflows[rng.Next(10)] }, MinPriority = rng.Next(1, 6) },
            7 => new SubscriptionFilter
            {
                DataTypes = new HashSet<ExecutionDataType> { (ExecutionDataType)rng.Next(6), (ExecutionDataType)rng.Next(6) },
                RoutingKeys = [Key("#.complete")],
            },
            _ => new SubscriptionFilter
            {
                OrderIds = new HashSet<string> { sample.OrderId ?? "none" },
                RoutingKeys = [Key("*.fill.#")],
                Instruments = new HashSet<string> { sample.InstrumentId ?? "none" },
            },
        };
    }
}
