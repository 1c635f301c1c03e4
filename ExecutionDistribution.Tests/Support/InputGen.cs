using System.Globalization;
using System.Text.Json;
using CsCheck;

namespace ExecutionDistribution.Tests.Support;

/// <summary>
/// Generators of hostile input for the property tests of the input surfaces: JSON values as text
/// (including what JSON allows and .NET strings cannot hold: escaped lone surrogates, NUL, numbers
/// past double's range), JSON objects of a surface's fields, and path segments. Cases are drawn from
/// a fixed seed, so a run is the same every time; <c>EXECDIST_FUZZ_CASES</c> sets how many.
/// </summary>
internal static class InputGen
{
    /// <summary>Cases per property: <c>EXECDIST_FUZZ_CASES</c>, else <paramref name="ciDefault"/>.</summary>
    public static int Cases(int ciDefault) =>
        int.TryParse(Environment.GetEnvironmentVariable("EXECDIST_FUZZ_CASES"), CultureInfo.InvariantCulture, out var n) && n > 0 ? n : ciDefault;

    /// <summary>The cases of <paramref name="gen"/> for a seed: the same sequence on every run.</summary>
    public static IEnumerable<T> Draw<T>(Gen<T> gen, int count, ulong seed)
    {
        var pcg = new PCG(1, seed);
        for (var i = 0; i < count; i++)
        {
            yield return gen.Generate(pcg, null!, out _);
        }
    }

    /// <summary>JSON text of a string.</summary>
    public static string Json(string s) => JsonSerializer.Serialize(s);

    /// <summary>Strings that mean something to the service, as JSON.</summary>
    public static readonly Gen<string> Meaningful = Gen.OneOf(
        "FILL_NOTIFICATION", "fill_notification", "ORDER_UPDATE", "at_least_once", "at_most_once", "execution/fills/#", "execution/#", "#", "*",
        "AAPL.fill.*", "a//b", "7d", "0s", "NYSE", "portfolio_management", "2025-06-21", "2025-06-21T10:00:00.000000Z", "O-1", "F-1", "P-1", "true", "1").Select(Json);

    /// <summary>JSON text that is legal but awkward: escapes no .NET string holds, control characters, huge numbers, long and non-ASCII text.</summary>
    public static readonly Gen<string> Awkward = Gen.OneOf(
        "null", "true", "false", "0", "-1", "1.5", "-0", "1e309", "-1e309", "123456789012345678901234567890", "0.0000000000000000000001",
        "\"\"", "\" \"", "\"\\ud800\"", "\"x\\udfffy\"", "\"\\u0000\"", "\"a\\r\\nX-Injected: 1\"", "\"\\t\"", "\"caf\\u00e9\"", "\"漢字\"",
        "\"a/b\"", "\"%00\"", "\"../..\"", $"\"{new string('x', 300)}\"", $"\"{new string('y', 20_000)}\"");

    /// <summary>Any JSON scalar, meaningful or awkward or random text.</summary>
    public static readonly Gen<string> Scalar = Gen.Frequency(
        (3, Meaningful), (4, Awkward), (2, Gen.String.Select(Json)), (1, Gen.Long.Select(v => v.ToString(CultureInfo.InvariantCulture))));

    /// <summary>An element of a generated array: a scalar, often null (lists of strings that hold a null are a classic).</summary>
    private static readonly Gen<string> Element = Gen.Frequency((4, Scalar), (1, Gen.Const("null")));

    /// <summary>Any JSON value: mostly scalars, often a small array, sometimes an object.</summary>
    public static readonly Gen<string> Value = Gen.Frequency(
        (6, Scalar),
        (4, Element.Array[0, 4].Select(items => "[" + string.Join(",", items) + "]")),
        (1, Gen.Select(Gen.String.Select(Json), Scalar, (k, v) => "{" + k + ":" + v + "}")));

    /// <summary>
    /// A JSON document of named fields, valid as a whole, and a generator of the same document with
    /// exactly one field (at any depth) left out or replaced by any value, now and then with an
    /// unknown field beside: a case that differs from a valid document in one place reaches the check
    /// of that place, past body binding and the checks before it.
    /// </summary>
    public sealed record Document(string Valid, Gen<(string Json, string Path)> MutatedAt)
    {
        /// <summary>The document with one field made hostile.</summary>
        public Gen<string> Mutated => MutatedAt.Select(m => m.Json);

        /// <summary>A field: its valid JSON, or a nested document (mutated inside when it is the field chosen).</summary>
        public static (string Name, string Valid, Gen<(string Json, string Path)>? Nested) Field(string name, string valid) => (name, valid, null);

        /// <summary>A field that holds a nested document.</summary>
        public static (string Name, string Valid, Gen<(string Json, string Path)>? Nested) Field(string name, Document nested) => (name, nested.Valid, nested.MutatedAt);

        /// <summary>The document of these fields; <see cref="MutatedAt"/> also says which field (a dot path) was made hostile.</summary>
        public static Document Of(params (string Name, string Valid, Gen<(string Json, string Path)>? Nested)[] fields)
        {
            string Render(IEnumerable<string> parts) => "{" + string.Join(",", parts) + "}";
            var valid = Render(fields.Select(f => $"{Json(f.Name)}:{f.Valid}"));
            var mutated = Gen.Int[0, fields.Length - 1].SelectMany(chosen =>
            {
                var (name, _, nested) = fields[chosen];
                var replacement = nested is null
                    ? Gen.Frequency((1, Gen.Const(((string?)null, name))), (5, Value.Select(v => ((string?)v, name))))
                    : Gen.Frequency((1, Gen.Const(((string?)null, name))), (3, Value.Select(v => ((string?)v, name))), (4, nested.Select(v => ((string?)v.Json, $"{name}.{v.Path}"))));
                var extra = Gen.Frequency((9, Gen.Const((string?)null)), (1, Value.Select(v => (string?)$"\"unknown_field\":{v}")));
                return Gen.Select(replacement, extra, (chosenValue, e) =>
                {
                    var (r, path) = chosenValue;
                    var parts = new List<string>();
                    for (var i = 0; i < fields.Length; i++)
                    {
                        if (i != chosen)
                        {
                            parts.Add($"{Json(fields[i].Name)}:{fields[i].Valid}");
                        }
                        else if (r is not null)
                        {
                            parts.Add($"{Json(name)}:{r}");
                        }
                    }

                    if (e is not null)
                    {
                        parts.Add(e);
                    }

                    return (Render(parts), path);
                });
            });
            return new Document(valid, mutated);
        }
    }

    /// <summary>An execution event (the spec's fill example) with one field at any depth made hostile.</summary>
    public static Document Execution(string id) => Document.Of(
        Document.Field("event_id", InputGen.Json(id)),
        Document.Field("timestamp", "\"2025-06-21T10:00:00.000Z\""),
        Document.Field("data_type", "\"FILL_NOTIFICATION\""),
        Document.Field("routing", Document.Of(
            Document.Field("topic", "\"execution/fills/processed\""),
            Document.Field("routing_key", "\"AAPL.fill.complete\""),
            Document.Field("target_workflows", "[\"portfolio_management\"]"),
            Document.Field("priority", "1"),
            Document.Field("delivery_guarantee", "\"at_least_once\""))),
        Document.Field("data", Document.Of(
            Document.Field("order_id", "\"O-1\""),
            Document.Field("fill_id", InputGen.Json($"F-{id}")),
            Document.Field("instrument_id", "\"AAPL\""),
            Document.Field("side", "\"BUY\""),
            Document.Field("quantity", "100"),
            Document.Field("price", "150.25"),
            Document.Field("venue", "\"NYSE\""),
            Document.Field("execution_time", "\"2025-06-21T10:00:00.000Z\""),
            Document.Field("commission", "1.5"))),
        Document.Field("metadata", Document.Of(
            Document.Field("source_service", "\"oms\""),
            Document.Field("execution_venue", "\"NYSE\""),
            Document.Field("latency_sensitive", "true"),
            Document.Field("audit_required", "true"),
            Document.Field("compliance_flags", "[\"MiFID_II\"]"))));

    /// <summary>A path segment as it goes on the wire: escaped text, or raw percent-escapes (NUL, invalid UTF-8, a slash).</summary>
    public static readonly Gen<string> Segment = Gen.Frequency(
        (5, Gen.String[1, 40].Select(Uri.EscapeDataString)),
        (3, Gen.OneOf("O-1", "F-1", "P-1", "sub-1", "execution%2Ffills", "%00", "%C3%28", "%ED%A0%80", "%2F", "..", "%20", "a%0D%0Ab", new string('z', 3000))));
}
