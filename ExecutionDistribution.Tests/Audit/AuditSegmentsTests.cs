using ExecutionDistribution.Audit;
using Microsoft.Extensions.Time.Testing;

namespace ExecutionDistribution.Tests.Audit;

/// <summary>The local audit store: rows read back as written, in bounded segments, with retention and a stated policy at its cap.</summary>
[Category("Unit")]
public sealed class AuditSegmentsTests
{
    private static readonly DateTime Created = new DateTime(2026, 11, 25, 14, 3, 7, DateTimeKind.Utc).AddTicks(1_234_560);

    private static List<AuditRow> Rows(int n, int text = 100) =>
    [
        .. Enumerable.Range(0, n).Select(i => (i % 4) switch
        {
            0 => new AuditRow(AuditRowKind.Event, Guid.NewGuid(), Created.AddTicks(i * 10), $"evt-{i} \"quoted\" é", "execution/fills", "AAPL.fill.x", i % 8 == 0 ? $"ORD-{i}" : null,
                Status: DeliveryStatuses.Distributed, DeliveryTimeMs: i * 0.001, Epoch: Guid.NewGuid(), FirstPosition: i, LastPosition: i, Text: "{\"pad\":\"" + new string('x', text) + "\",\"n\":[1,2.50,null]}", IngestedAt: Created),
            1 => new AuditRow(AuditRowKind.Stream, Guid.NewGuid(), Created, SubscriptionId: $"sub-{i}", Status: "at_least_once", Epoch: Guid.NewGuid(), StreamId: Guid.NewGuid(), Text: "{\"order_ids\":[\"a\"]}"),
            2 => new AuditRow(AuditRowKind.Range, Guid.NewGuid(), Created, SubscriptionId: $"sub-{i}", Status: DeliveryStatuses.Redelivered, RetryCount: 1, Epoch: Guid.NewGuid(),
                FirstPosition: i, LastPosition: i + 63, StreamId: Guid.NewGuid(), FirstSequence: 7, LastSequence: 70, Count: 64),
            _ => new AuditRow(AuditRowKind.Single, Guid.NewGuid(), Created, $"evt-{i}", "t", "k", null, $"sub-{i}", DeliveryStatuses.Dropped, 0, 0.1 + 0.2),
        }),
    ];

    private static string Folder() => Path.Combine(Path.GetTempPath(), $"audit-segments-{Guid.NewGuid():N}");

    [Test]
    public void Rows_of_every_kind_read_back_field_for_field()
    {
        var folder = Folder();
        try
        {
            var store = new AuditSegments(folder, "audit", 1 << 20, 1 << 30, TimeSpan.FromDays(1), AuditFullPolicy.BackPressure, TimeProvider.System);
            var rows = Rows(16);
            Assert.That(store.TryAppend(rows), Is.True);
            Assert.That(store.TryAppend(rows.Take(2).ToList()), Is.True);

            Assert.That(store.Read(chunk: 1_000).SelectMany(c => c), Is.EqualTo(rows.Concat(rows.Take(2))));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void Appends_roll_over_into_new_segments_at_the_segment_size_and_read_back_in_order()
    {
        var folder = Folder();
        try
        {
            var store = new AuditSegments(folder, "audit", 64 * 1024, 1 << 30, TimeSpan.FromDays(1), AuditFullPolicy.BackPressure, TimeProvider.System);
            var all = new List<AuditRow>();
            for (var i = 0; i < 40; i++)
            {
                var rows = Rows(20, text: 200);
                Assert.That(store.TryAppend(rows), Is.True);
                all.AddRange(rows);
            }

            Assert.That(store.SegmentCount, Is.GreaterThan(3));
            Assert.That(new DirectoryInfo(folder).GetFiles().Max(f => f.Length), Is.LessThanOrEqualTo(64 * 1024));
            Assert.That(store.Read(chunk: 100).SelectMany(c => c), Is.EqualTo(all));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void At_the_cap_back_pressure_refuses_the_append_and_keeps_every_row_written_before()
    {
        var folder = Folder();
        try
        {
            var store = new AuditSegments(folder, "audit", 64 * 1024, 256 * 1024, TimeSpan.FromDays(1), AuditFullPolicy.BackPressure, TimeProvider.System);
            var written = 0;
            while (store.TryAppend(Rows(20, text: 200)))
            {
                written += 20;
            }

            Assert.That(store.Full, Is.True);
            Assert.That(store.Bytes, Is.LessThanOrEqualTo(256 * 1024));
            Assert.That(store.Read(chunk: 1_000).Sum(c => c.Count), Is.EqualTo(written), "nothing lost, nothing dropped");
            Assert.That(store.Dropped, Is.EqualTo((0L, 0L)));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void At_the_cap_drop_oldest_deletes_the_oldest_segments_and_counts_them()
    {
        var folder = Folder();
        try
        {
            var store = new AuditSegments(folder, "audit", 64 * 1024, 256 * 1024, TimeSpan.FromDays(1), AuditFullPolicy.DropOldest, TimeProvider.System);
            List<AuditRow> last = [];
            for (var i = 0; i < 200; i++)
            {
                last = Rows(20, text: 200);
                Assert.That(store.TryAppend(last), Is.True);
            }

            Assert.That(store.Bytes, Is.LessThanOrEqualTo(256 * 1024));
            Assert.That(store.Dropped.Segments, Is.GreaterThan(0));
            Assert.That(store.Read(chunk: 10_000).SelectMany(c => c).TakeLast(20), Is.EqualTo(last), "the newest rows stay");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void Segments_older_than_the_retention_are_deleted_but_never_the_newest()
    {
        var folder = Folder();
        try
        {
            var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
            var store = new AuditSegments(folder, "audit", 64 * 1024, 1 << 30, TimeSpan.FromDays(7), AuditFullPolicy.BackPressure, clock);
            for (var i = 0; i < 20; i++)
            {
                store.TryAppend(Rows(20, text: 200));
            }

            var before = store.SegmentCount;
            store.ApplyRetention();
            Assert.That(store.SegmentCount, Is.EqualTo(before), "none is older than the retention yet");

            clock.Advance(TimeSpan.FromDays(8));
            store.ApplyRetention();
            Assert.That((store.SegmentCount, store.Expired), Is.EqualTo((1, (long)before - 1)));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
