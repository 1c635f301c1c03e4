using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace ExecutionDistribution.Hosting;

/// <summary>
/// The JSON settings of every REST answer (snake_case, UTC timestamps with microseconds). Cached
/// answers (Redis, PostgreSQL's orders.status_json) are serialized with the same settings, so a
/// cached body is byte for byte what the API would have written.
/// </summary>
internal static class ApiJson
{
    /// <summary>The settings.</summary>
    public static readonly JsonSerializerOptions Options = Apply(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    /// <summary>
    /// The settings over a module's source-generated context alone (no reflection): what a module
    /// stores or caches in the API's JSON (a type the context lacks is an error, not a slow path).
    /// </summary>
    public static JsonSerializerOptions For(IJsonTypeInfoResolver context)
    {
        var options = Apply(new JsonSerializerOptions(JsonSerializerDefaults.Web));
        options.TypeInfoResolver = context;
        return options;
    }

    /// <summary>Applies the settings to <paramref name="options"/> (the host's HTTP JSON options).</summary>
    public static JsonSerializerOptions Apply(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.Converters.Add(new Contract.UtcMicrosecondsConverter());
        return options;
    }
}
