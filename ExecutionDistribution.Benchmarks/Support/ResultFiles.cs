using System.Text.Json;
using System.Text.Json.Serialization;

namespace ExecutionDistribution.Benchmarks.Support;

/// <summary>The workloads' JSON results (docs/results): written, read back by the report, and the machine they name.</summary>
public static class ResultFiles
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The machine a result was measured on, and the versions of what ran.</summary>
    public static object Machine { get; } = new
    {
        Environment.ProcessorCount,
        os = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : null,
        dotnet = Environment.Version.ToString(),
        commit = Commit(),
        librdkafka = Confluent.Kafka.Library.VersionString,
        packages = new SortedDictionary<string, string?>(StringComparer.Ordinal)
        {
            ["Confluent.Kafka"] = VersionOf(typeof(Confluent.Kafka.ConsumerConfig)),
            ["Grpc.Net.Client"] = VersionOf(typeof(global::Grpc.Net.Client.GrpcChannel)),
            ["NATS.Net"] = VersionOf(typeof(NATS.Client.Core.NatsConnection)),
            ["Npgsql"] = VersionOf(typeof(Npgsql.NpgsqlConnection)),
            ["StackExchange.Redis"] = VersionOf(typeof(StackExchange.Redis.ConnectionMultiplexer)),
            ["Microsoft.AspNetCore.SignalR.Client"] = VersionOf(typeof(Microsoft.AspNetCore.SignalR.Client.HubConnection)),
        },
    };

    // The informational version of a type's assembly (the package version), without the source hash.
    private static string? VersionOf(Type type)
    {
        var version = type.Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion ?? type.Assembly.GetName().Version?.ToString();
        return version?.Split('+')[0].Trim();
    }

    // The git commit of the working tree measured, when git is there.
    private static string? Commit()
    {
        try
        {
            using var git = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("git", "describe --always --dirty") { RedirectStandardOutput = true, RedirectStandardError = true });
            var output = git!.StandardOutput.ReadToEnd().Trim();
            return git.WaitForExit(5_000) && git.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // no git
        }
    }

    /// <summary>Writes one result (snake_case names; NaN allowed for a reading that failed).</summary>
    public static void Write(string path, object result) => File.WriteAllText(path, JsonSerializer.Serialize(result, Json));

    /// <summary>A recorded result, or null when the file is absent.</summary>
    public static JsonElement? Read(string folder, string name)
    {
        var path = Path.Combine(folder, name);
        return File.Exists(path) ? JsonDocument.Parse(File.ReadAllText(path)).RootElement.Clone() : null;
    }

    /// <summary>Drops a run's own PostgreSQL schema.</summary>
    public static void DropSchema(string postgres, string schema)
    {
        using var connection = new Npgsql.NpgsqlConnection(postgres);
        connection.Open();
        using var drop = new Npgsql.NpgsqlCommand($"DROP SCHEMA IF EXISTS \"{schema}\" CASCADE", connection);
        drop.ExecuteNonQuery();
    }
}
