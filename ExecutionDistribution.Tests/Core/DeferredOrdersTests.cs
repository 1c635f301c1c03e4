using ExecutionDistribution.Core;

namespace ExecutionDistribution.Tests.Core;

/// <summary>The reader's set of orders deferred within one batch: its filter may say maybe, never a wrong yes or no.</summary>
[Category("Unit")]
public sealed class DeferredOrdersTests
{
    [Test]
    public void Orders_that_share_a_hash_or_a_filter_bit_are_told_apart_by_their_ids()
    {
        var set = new DeferredOrders();
        set.Add(42, "ORD-A");

        Assert.That(set.Contains(42, "ORD-A"), Is.True);
        Assert.That(set.Contains(42, "ORD-B"), Is.False, "same hash, another order");
        Assert.That(set.Contains(42 + 1024, "ORD-A"), Is.False, "same filter bit, another hash");
        Assert.That(set.Contains(43, "ORD-A"), Is.False, "another filter bit");

        set.Add(42, "ORD-B");
        set.Add(42, "ORD-A");
        Assert.That(set.Count, Is.EqualTo(2), "an order already present is not added twice");
        Assert.That(set.Contains(42, "ORD-B"), Is.True);
    }

    [Test]
    public void A_set_grown_past_its_first_arrays_and_cleared_answers_like_a_hash_set()
    {
        var set = new DeferredOrders();
        var reference = new HashSet<string>(StringComparer.Ordinal);
        var random = new Random(7);
        for (var round = 0; round < 20; round++)
        {
            set.Clear();
            reference.Clear();
            for (var i = 0; i < 300; i++)
            {
                var id = $"ORD-{random.Next(400)}";

                // A narrow hash range forces filter collisions and equal hashes for different ids.
                var hash = StringComparer.Ordinal.GetHashCode(id) & 0x3ff & ~0x7;
                Assert.That(set.Contains(hash, id), Is.EqualTo(reference.Contains(id)), id);
                set.Add(hash, id);
                reference.Add(id);
            }

            Assert.That(set.Count, Is.EqualTo(reference.Count));
        }

        set.Clear();
        Assert.That(set.Count, Is.Zero);
        Assert.That(set.Contains(StringComparer.Ordinal.GetHashCode("ORD-1") & 0x3ff & ~0x7, "ORD-1"), Is.False, "cleared");
    }
}
