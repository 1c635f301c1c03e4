using ExecutionDistribution.Core;

namespace ExecutionDistribution.Tests.Core;

/// <summary>The lock-free ring of the ingest queue and the audit: bounded, first in first out, every item taken exactly once under concurrency.</summary>
[Category("Unit")]
public sealed class BoundedRingTests
{
    [Test]
    public void A_full_ring_refuses_more_and_takes_them_again_once_emptied_in_order_over_many_laps()
    {
        var ring = new BoundedRing<long>(1_000); // 1,024 slots
        var next = 0L;
        var expected = 0L;
        for (var lap = 0; lap < 20; lap++)
        {
            while (ring.TryEnqueue(next))
            {
                next++;
            }

            Assert.That(next - expected, Is.EqualTo(1_024), "full at its capacity");
            while (ring.TryDequeue(out var item))
            {
                Assert.That(item, Is.EqualTo(expected++));
            }

            Assert.That(expected, Is.EqualTo(next), "empty again");
        }

        Assert.That(ring.Capacity, Is.EqualTo(1_024));
    }

    [Test]
    public void Concurrent_producers_and_consumers_pass_every_item_exactly_once_and_each_producer_in_its_order()
    {
        const int producers = 4;
        const int perProducer = 250_000;
        var ring = new BoundedRing<long>(4_096);
        var seen = new int[producers * perProducer];
        var lastOfProducer = new long[2, producers];
        var done = 0;
        var outOfOrder = 0;

        // A thread each (LongRunning): six spinning work items on a two-thread pool would wait for thread injection.
        var writers = Enumerable.Range(0, producers).Select(p => Task.Factory.StartNew(() =>
        {
            for (long i = 0; i < perProducer; i++)
            {
                // The ring is small: a full ring is retried, as a waiting producer would.
                while (!ring.TryEnqueue((p * (long)perProducer) + i))
                {
                    Thread.Yield();
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        var readers = Enumerable.Range(0, 2).Select(r => Task.Factory.StartNew(() =>
        {
            for (var p = 0; p < producers; p++)
            {
                lastOfProducer[r, p] = -1;
            }

            while (Volatile.Read(ref done) == 0)
            {
                while (ring.TryDequeue(out var item))
                {
                    Interlocked.Increment(ref seen[item]);
                    var p = (int)(item / perProducer);
                    if (item <= lastOfProducer[r, p])
                    {
                        Interlocked.Increment(ref outOfOrder);
                    }

                    lastOfProducer[r, p] = item;
                }

                Thread.Yield(); // empty: let a producer run
            }

            while (ring.TryDequeue(out var rest))
            {
                Interlocked.Increment(ref seen[rest]);
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();

        Assert.That(Task.WaitAll(writers, TimeSpan.FromMinutes(2)), Is.True, "producers finished");
        Volatile.Write(ref done, 1);
        Assert.That(Task.WaitAll(readers, TimeSpan.FromMinutes(2)), Is.True, "consumers finished");

        Assert.That(seen.Count(n => n != 1), Is.Zero, "every item taken exactly once");
        Assert.That(outOfOrder, Is.Zero, "a consumer sees each producer's items in the order they were added");
    }
}
