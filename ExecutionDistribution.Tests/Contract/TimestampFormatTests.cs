using System.Globalization;
using System.Text;
using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Tests.Contract;

/// <summary>The fixed-format UTF-8 timestamp writer gives exactly the text of the contract's custom format string.</summary>
[Category("Unit")]
public sealed class TimestampFormatTests
{
    [Test]
    public void Utf8_timestamps_read_as_the_wire_format_for_edge_and_random_instants()
    {
        var random = new Random(42);
        var instants = new List<DateTime>
        {
            DateTime.MinValue,
            new DateTime(DateTime.MaxValue.Ticks - (DateTime.MaxValue.Ticks % 10), DateTimeKind.Utc),
            new(2024, 1, 15, 14, 30, 45, DateTimeKind.Utc),
            new DateTime(2024, 2, 29, 23, 59, 59, DateTimeKind.Utc).AddTicks(9_999_990),
            new DateTime(1999, 12, 31, 0, 0, 0, DateTimeKind.Utc).AddTicks(10),
        };
        instants.AddRange(Enumerable.Range(0, 10_000).Select(_ => Timestamps.ToUtcMicroseconds(new DateTime(random.NextInt64(DateTime.MinValue.Ticks, DateTime.MaxValue.Ticks), DateTimeKind.Utc))));

        var text = new byte[Timestamps.WireLength];
        foreach (var instant in instants)
        {
            Timestamps.FormatUtf8(instant, text);
            Assert.That(Encoding.ASCII.GetString(text), Is.EqualTo(instant.ToString(Timestamps.WireFormat, CultureInfo.InvariantCulture)), instant.Ticks.ToString(CultureInfo.InvariantCulture));
        }
    }
}
