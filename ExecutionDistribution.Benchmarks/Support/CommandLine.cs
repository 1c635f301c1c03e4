using System.Globalization;

namespace ExecutionDistribution.Benchmarks.Support;

/// <summary>The runner's options: <c>--name value</c> pairs and <c>--flag</c>s, and the servers it uses.</summary>
public static class CommandLine
{
    /// <summary>The value after <paramref name="name"/>, or null.</summary>
    public static string? Option(this string[] args, string name) =>
        Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;

    /// <summary>The integer after <paramref name="name"/>, or <paramref name="fallback"/>.</summary>
    public static int Int(this string[] args, string name, int fallback) =>
        args.Option(name) is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;

    /// <summary>PostgreSQL: <c>--postgres</c>, else EXECDIST_TEST_POSTGRES, else a local server on the default port.</summary>
    public static string Postgres(this string[] args) =>
        args.Option("--postgres") ?? Environment.GetEnvironmentVariable("EXECDIST_TEST_POSTGRES") ?? "Host=127.0.0.1;Port=5432;Username=postgres";

    /// <summary>Redis: <c>--redis</c>, else EXECDIST_TEST_REDIS, else 127.0.0.1:6379.</summary>
    public static string Redis(this string[] args) =>
        args.Option("--redis") ?? Environment.GetEnvironmentVariable("EXECDIST_TEST_REDIS") ?? "127.0.0.1:6379";
}
