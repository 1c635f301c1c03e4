using System.Globalization;

namespace ExecutionDistribution.Benchmarks.Support;

/// <summary>
/// CPU time and peak memory of a process, from Linux's /proc (the service or a peer server under
/// measure). Elsewhere, or once the process is gone, the readings are NaN.
/// </summary>
public static class ProcessMeter
{
    // Clock ticks per second of /proc/<pid>/stat times: USER_HZ, 100 on Linux for every architecture we run on.
    private const double TicksPerSecond = 100;

    /// <summary>User plus system CPU seconds the process has used so far.</summary>
    public static double CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");

            // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var user = long.Parse(fields[11], CultureInfo.InvariantCulture); // field 14, utime
            var system = long.Parse(fields[12], CultureInfo.InvariantCulture); // field 15, stime
            return (user + system) / TicksPerSecond;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return double.NaN;
        }
    }

    /// <summary>Peak resident memory (VmHWM) in MiB.</summary>
    public static double PeakResidentMiB(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    var kb = long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                    return kb / 1024.0;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
        }

        return double.NaN;
    }
}
