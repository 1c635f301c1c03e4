using ExecutionDistribution.Orders;

namespace ExecutionDistribution.Tests.Orders;

/// <summary>The in-process status cache only moves forward and stays within its capacity.</summary>
[Category("Unit")]
public sealed class NearCacheTests
{
    [Test]
    public void An_older_version_never_replaces_a_newer_one()
    {
        var cache = new NearCache(100);
        cache.Offer("O-1", [3], 3);
        cache.Offer("O-1", [2], 2);
        Assert.That(cache.Get("O-1"), Is.EqualTo(new byte[] { 3 }));
        cache.Offer("O-1", [4], 4);
        Assert.That(cache.Get("O-1"), Is.EqualTo(new byte[] { 4 }));
    }

    [Test]
    public async Task Concurrent_offers_end_with_the_highest_version()
    {
        var cache = new NearCache(100);
        await Task.WhenAll(Enumerable.Range(1, 8).Select(t => Task.Run(() =>
        {
            for (var v = t; v <= 4_000; v += 8)
            {
                cache.Offer("O-1", BitConverter.GetBytes(v), v);
            }
        })));
        Assert.That(BitConverter.ToInt32(cache.Get("O-1")!), Is.EqualTo(4_000));
    }

    [Test]
    public void It_holds_at_most_its_capacity()
    {
        var cache = new NearCache(1_000);
        for (var i = 0; i < 10_000; i++)
        {
            cache.Offer($"O-{i}", [1], 1);
        }

        Assert.That(cache.Count, Is.LessThanOrEqualTo(1_000));
        Assert.That(cache.Get("O-9999"), Is.Not.Null, "the latest order is held");
    }
}
