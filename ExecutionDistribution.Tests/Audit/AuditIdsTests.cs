using System.Collections.Concurrent;
using ExecutionDistribution.Audit;

namespace ExecutionDistribution.Tests.Audit;

/// <summary>Audit row ids: UUIDv7, unique across threads, in time order.</summary>
[Category("Unit")]
public sealed class AuditIdsTests
{
    [Test]
    public void Ids_are_version_7_with_the_rfc_variant_and_carry_their_millisecond()
    {
        var at = new DateTime(2026, 11, 24, 7, 0, 0, 123, DateTimeKind.Utc);

        var id = AuditIds.Next(at);
        var text = id.ToString("N");

        Assert.That(text[12], Is.EqualTo('7'), "version");
        Assert.That(text[16], Is.AnyOf('8', '9', 'a', 'b'), "variant 10xx");
        Assert.That(Convert.ToInt64(text[..12], 16), Is.EqualTo(new DateTimeOffset(at).ToUnixTimeMilliseconds()));
    }

    [Test]
    public void Ids_made_on_many_threads_in_the_same_millisecond_are_unique_and_increase_per_thread()
    {
        var at = new DateTime(2026, 11, 24, 7, 0, 0, DateTimeKind.Utc);
        var all = new ConcurrentBag<Guid>();
        var increasing = true;
        Parallel.For(0, 8, _ =>
        {
            var previous = AuditIds.Next(at);
            all.Add(previous);
            for (var i = 0; i < 10_000; i++)
            {
                var next = AuditIds.Next(at);
                increasing &= string.CompareOrdinal(next.ToString("N"), previous.ToString("N")) > 0;
                all.Add(next);
                previous = next;
            }
        });

        Assert.That(all.Distinct().Count(), Is.EqualTo(all.Count));
        Assert.That(increasing, Is.True, "within one thread and millisecond the ids count up");
        Assert.That(string.CompareOrdinal(AuditIds.Next(at.AddMilliseconds(1)).ToString("N"), all.Select(g => g.ToString("N")).Max(StringComparer.Ordinal)), Is.GreaterThan(0), "a later millisecond sorts after");
    }
}
