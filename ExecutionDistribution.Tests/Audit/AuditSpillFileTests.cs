using ExecutionDistribution.Audit;

namespace ExecutionDistribution.Tests.Audit;

/// <summary>The audit file's rows read back as they were written, whatever their delivery times and texts.</summary>
[Category("Unit")]
public sealed class AuditSpillFileTests
{
    [Test]
    public void Rows_read_back_field_for_field_with_their_delivery_times_to_the_microsecond()
    {
        var path = Path.Combine(Path.GetTempPath(), $"audit-spill-{Guid.NewGuid():N}", "audit.jsonl");
        try
        {
            var file = new AuditSpillFile(path);
            var created = new DateTime(2026, 11, 25, 14, 3, 7, DateTimeKind.Utc).AddTicks(1_234_560);
            double?[] times = [null, 0, 0.001, 0.01, 0.1, 1, 12.345, 12.34, 12.3, 1234567.891, 999_999_999.999, -0.5, 1e-7, 0.1 + 0.2, double.Epsilon, 3e20];
            var rows = times.Select((t, i) => new AuditRecord(
                Guid.NewGuid(), $"evt-{i} \"quoted\" é", "execution.fills", "fills.NASDAQ.AAPL", DeliveryStatuses.Delivered, t, i % 3, created.AddTicks(i * 10),
                i % 2 == 0 ? $"ORD-{i}" : null, i % 2 == 1 ? $"sub-{i}" : null)).ToList();

            file.Append(rows);
            file.Append(rows.Take(2).ToList());

            var read = file.Read(chunk: 1_000).SelectMany(c => c).ToList();
            Assert.That(read, Is.EqualTo(rows.Concat(rows.Take(2))), "every field, the delivery time exactly (null, fixed-point, and the general form beyond microseconds)");
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }
}
