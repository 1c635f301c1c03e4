using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Core;

/// <summary>
/// The core's ingest queue (a lock-free ring): bounded, back-pressure for producers that wait, a refusal
/// for those that do not, and a stop that dispatches every event it accepted and accepts none after.
/// </summary>
[Category("Unit")]
public sealed class IngestQueueTests
{
    [Test]
    public async Task A_full_queue_refuses_a_try_and_holds_a_waiting_publish_until_the_dispatcher_takes_events()
    {
        // Not started: nothing takes from the queue (4 slots) until Start.
        using var core = new FanOutDispatcher(new DistributionOptions { IngestQueueCapacity = 4 }, TimeProvider.System);
        var reader = new CollectingReader(core, core.Subscribe("all", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce, startPosition: 0));
        for (var i = 0; i < 4; i++)
        {
            Assert.That(core.TryPublish(Events.Fill("O-q", eventId: $"q-{i}")), Is.True, $"event {i} fits");
        }

        Assert.That(core.TryPublish(Events.Fill("O-q", eventId: "q-refused")), Is.False, "a fifth does not fit");
        Assert.That(core.GetStats().RejectedFull, Is.EqualTo(1));
        Assert.That(core.GetStats().IngestQueueDepth, Is.EqualTo(4));

        var waiting = core.PublishAsync(Events.Fill("O-q", eventId: "q-4"), CancellationToken.None).AsTask();
        var gaveUp = core.PublishAsync(Events.Fill("O-q", eventId: "q-cancelled"), new CancellationTokenSource(TimeSpan.FromMilliseconds(50)).Token).AsTask();
        Assert.That(async () => await gaveUp, Throws.InstanceOf<OperationCanceledException>(), "a wait can be given up");
        Assert.That(waiting.IsCompleted, Is.False, "waits while the queue is full");

        core.Start();
        await waiting.WaitAsync(Eventually.DefaultTimeout);
        await Eventually.WaitUntilAsync(() => reader.Count >= 5, "the five accepted events");
        Assert.That(reader.Events.Select(e => e.EventId), Is.EqualTo(new[] { "q-0", "q-1", "q-2", "q-3", "q-4" }));
        await reader.DisposeAsync();
    }

    [Test]
    public async Task Stopping_under_concurrent_producers_dispatches_every_accepted_event_and_accepts_none_after()
    {
        using var core = Dispatchers.Start(ingestCapacity: 1_024, logCapacity: 1 << 20);
        var stop = false;
        var accepted = new long[4];
        var producers = Enumerable.Range(0, accepted.Length).Select(p => Task.Run(async () =>
        {
            for (var i = 0; !Volatile.Read(ref stop); i++)
            {
                var e = Events.Fill($"O-{p}", eventId: $"s-{p}-{i}");
                if (i % 2 == 0)
                {
                    if (core.TryPublish(e))
                    {
                        accepted[p]++;
                    }
                }
                else
                {
                    try
                    {
                        await core.PublishAsync(e, CancellationToken.None);
                        accepted[p]++;
                    }
                    catch (InvalidOperationException)
                    {
                        // Stopping: not accepted.
                    }
                }
            }
        })).ToArray();

        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested > 20_000, "traffic under way");
        await core.StopAsync(TimeSpan.FromSeconds(30));
        Volatile.Write(ref stop, true);
        await Task.WhenAll(producers);

        Assert.That(core.GetStats().Ingested, Is.EqualTo(accepted.Sum()), "every accepted event was dispatched, and only those");
        Assert.That(core.TryPublish(Events.Fill("O-late")), Is.False);
        Assert.That(async () => await core.PublishAsync(Events.Fill("O-late"), CancellationToken.None), Throws.InvalidOperationException);
    }

    [Test]
    public void A_publish_waiting_for_room_when_the_core_stops_is_refused_not_lost()
    {
        var core = new FanOutDispatcher(new DistributionOptions { IngestQueueCapacity = 2 }, TimeProvider.System);
        Assert.That(core.TryPublish(Events.Fill()) && core.TryPublish(Events.Fill()), Is.True);
        var waiting = core.PublishAsync(Events.Fill(), CancellationToken.None).AsTask();
        Assert.That(waiting.IsCompleted, Is.False);

        core.Dispose();

        Assert.That(async () => await waiting.WaitAsync(Eventually.DefaultTimeout), Throws.InvalidOperationException);
    }
}
