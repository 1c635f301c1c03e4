namespace ExecutionDistribution;

/// <summary>The checks every module's options validator makes, each message naming its key.</summary>
internal static class OptionRules
{
    /// <summary>Adds a failure unless <paramref name="value"/> is in [min, max].</summary>
    public static void Range(List<string> failures, string section, string key, long value, long min, long max)
    {
        if (value < min || value > max)
        {
            failures.Add($"{section}:{key} must be between {min} and {max} (was {value}).");
        }
    }

    /// <summary>Adds a failure unless <paramref name="value"/> is in [min, max].</summary>
    public static void Range(List<string> failures, string section, string key, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            failures.Add($"{section}:{key} must be between {min:c} and {max:c} (was {value:c}).");
        }
    }
}
