using BenchmarkDotNet.Attributes;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;

namespace ExecutionDistribution.Benchmarks.Micro;

/// <summary>Parsing and serializing the standard stream's events (about 600 bytes of JSON each).</summary>
[MemoryDiagnoser]
public class ContractBenchmarks
{
    private byte[][] _json = [];
    private ExecutionEvent[] _events = [];
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        var stream = new SyntheticExecutionStream(seed: 42, liveOrders: 10_000);
        _events = [.. Enumerable.Range(0, 4_096).Select(_ => stream.Next())];
        _json = [.. _events.Select(e => e.EnvelopeJson.ToArray())];
    }

    /// <summary>Bytes to a validated, typed event (what ingest does once per record).</summary>
    [Benchmark]
    public ExecutionEvent? Parse() => ExecutionEventParser.Parse(_json[_next++ & 4_095]).Event;

    /// <summary>A typed event to its envelope JSON (done once per event and shared).</summary>
    [Benchmark]
    public int Serialize() => ExecutionEventWriter.Write(_events[_next++ & 4_095], EnvelopeShape.Envelope).Length;

    /// <summary>The other shape from the envelope's bytes (what the second shape costs now: a copy with the routing object's name changed).</summary>
    [Benchmark]
    public int Reshape() => ExecutionEventWriter.Reshape(_json[_next++ & 4_095], EnvelopeShape.Distributed)!.Length;

    /// <summary>Baseline: System.Text.Json's DOM parse of the same bytes, with no validation or typing.</summary>
    [Benchmark(Baseline = true)]
    public int JsonDocumentParse()
    {
        using var doc = System.Text.Json.JsonDocument.Parse(_json[_next++ & 4_095]);
        return doc.RootElement.GetArrayLength_Safe();
    }
}

internal static class JsonElementExtensions
{
    public static int GetArrayLength_Safe(this System.Text.Json.JsonElement e) => e.ValueKind == System.Text.Json.JsonValueKind.Object ? 1 : 0;
}
