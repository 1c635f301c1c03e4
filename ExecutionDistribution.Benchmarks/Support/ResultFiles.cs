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

    /// <summary>The machine a result was measured on.</summary>
    public static object Machine { get; } = new
    {
        Environment.ProcessorCount,
        os = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        dotnet = Environment.Version.ToString(),
    };

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
