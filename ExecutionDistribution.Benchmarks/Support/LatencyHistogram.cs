using System.Numerics;

namespace ExecutionDistribution.Benchmarks.Support;

/// <summary>
/// An HDR-style histogram of nanosecond values: exact below 128 ns, then 64 linear sub-buckets per
/// power of two (under 1.6% relative error) up to about 18 minutes. Recording is a shift and an
/// increment, allocation-free; one instance per recording thread, merged at the end.
/// </summary>
public sealed class LatencyHistogram
{
    private const int SubBuckets = 64;
    private const int Linear = 128;
    private const int MaxShift = 34;
    private readonly long[] _counts = new long[Linear + (MaxShift * SubBuckets)];

    /// <summary>Values recorded.</summary>
    public long Count { get; private set; }

    /// <summary>Largest value recorded.</summary>
    public long Max { get; private set; }

    /// <summary>Records one value in nanoseconds (negative values count as 0; huge ones are clamped).</summary>
    public void Record(long nanoseconds)
    {
        var v = Math.Max(0, nanoseconds);
        _counts[IndexOf(v)]++;
        Count++;
        if (v > Max)
        {
            Max = v;
        }
    }

    /// <summary>Adds another histogram's counts.</summary>
    public void Add(LatencyHistogram other)
    {
        for (var i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
        Max = Math.Max(Max, other.Max);
    }

    /// <summary>One histogram holding the counts of all of <paramref name="histograms"/>.</summary>
    public static LatencyHistogram Merge(IEnumerable<LatencyHistogram> histograms)
    {
        var all = new LatencyHistogram();
        foreach (var h in histograms)
        {
            all.Add(h);
        }

        return all;
    }

    /// <summary>Clears all counts.</summary>
    public void Reset()
    {
        Array.Clear(_counts);
        Count = 0;
        Max = 0;
    }

    /// <summary>The value at a percentile (0-100), as the middle of its bucket; 0 when empty.</summary>
    public long Percentile(double percentile)
    {
        if (Count == 0)
        {
            return 0;
        }

        var rank = (long)Math.Ceiling(percentile / 100.0 * Count);
        rank = Math.Clamp(rank, 1, Count);
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Math.Min(ValueAt(i), Max);
            }
        }

        return Max;
    }

    internal static int IndexOf(long v)
    {
        if (v < Linear)
        {
            return (int)v;
        }

        var msb = 63 - BitOperations.LeadingZeroCount((ulong)v);
        var shift = msb - 6; // (v >> shift) lands in [64, 127]
        if (shift > MaxShift)
        {
            return Linear + (MaxShift * SubBuckets) - 1;
        }

        return Linear + ((shift - 1) * SubBuckets) + (int)((v >> shift) - SubBuckets);
    }

    internal static long ValueAt(int index)
    {
        if (index < Linear)
        {
            return index;
        }

        var shift = ((index - Linear) / SubBuckets) + 1;
        var sub = ((index - Linear) % SubBuckets) + SubBuckets;
        return ((long)sub << shift) + ((1L << shift) / 2);
    }
}
