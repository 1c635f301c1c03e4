using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using ExecutionDistribution.Hosting;

namespace ExecutionDistribution.Streaming;

/// <summary>How a connection reaches its client.</summary>
internal enum StreamTransport
{
    Grpc, // ExecutionStream's server-streaming calls
    WebSocket, // /api/v1/execution/stream
}

/// <summary>
/// The streams' instruments (meter <c>ExecDist.Streaming</c>): deliveries by transport, the latency
/// of messages written (one in eight, sampled), and the connections and subscriptions open. Per
/// message a connection adds to a plain counter (observed at each collection): OpenTelemetry's
/// own counter with a transport tag, and a histogram value for every message, cost 4-6% of the CPU
/// per delivery at 100,000 one-delivery messages a second (W3, W4). Its state is the process's: one
/// service runs per process.
/// </summary>
internal static class StreamMetrics
{
    private static readonly Meter Meter = new($"{Telemetry.MeterPrefix}Streaming");

    /// <summary>The streams' spans (when tracing is on): a subscription subscribing, or resuming from a token.</summary>
    public static readonly System.Diagnostics.ActivitySource Activities = new($"{Telemetry.MeterPrefix}Streaming");

    private static readonly long[] Delivered = new long[2 * 8]; // per transport, a cache line apart

    private static readonly Histogram<double> Latency = Meter.CreateHistogram("execdist.delivery.duration", "s",
        "From the ingest of a message's oldest event to the message written to its client (one message in eight)", tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });

    private static readonly KeyValuePair<string, object?>[] Tags =
        [new("transport", "grpc"), new("transport", "websocket")];

    private static readonly ConcurrentDictionary<Connection, StreamTransport> Open = new();

    // One message in LatencySample per writing thread is timed: a uniform sample keeps the percentiles,
    // and the histogram's update (a lock per bucket set, shared by the delivery loops) stays off most messages.
    private const int LatencySample = 8;

    [ThreadStatic]
    private static int _messages;

    static StreamMetrics()
    {
        Meter.CreateObservableCounter("execdist.deliveries", () => (IEnumerable<Measurement<long>>)
            [new(Volatile.Read(ref Delivered[0]), Tags[0]), new(Volatile.Read(ref Delivered[8]), Tags[1])], "{delivery}",
            "Events written to clients' streams (a multiplexed event counts once per subscription it is for)");
        Meter.CreateObservableUpDownCounter("execdist.connections", () => Count(static _ => 1), "{connection}",
            "Open streaming connections (gRPC calls, WebSockets)");
        Meter.CreateObservableUpDownCounter("execdist.stream.subscriptions", () => Count(static c => c.Subscriptions.Members.Length), "{subscription}",
            "Subscriptions streaming on open connections");
    }

    /// <summary>A connection opened.</summary>
    public static void Opened(Connection connection, StreamTransport transport) => Open[connection] = transport;

    /// <summary>A connection is over.</summary>
    public static void Closed(Connection connection) => Open.TryRemove(connection, out _);

    /// <summary>A message of what <paramref name="members"/> held was written (their batches; on a multiplexed connection what each has outgoing).</summary>
    public static void Written(StreamTransport transport, StreamMember[] members, bool multiplexed, TimeProvider time)
    {
        var (deliveries, ingestTimestamp) = Measure(members, multiplexed);
        Interlocked.Add(ref Delivered[8 * (int)transport], deliveries);
        if (ingestTimestamp != 0 && (++_messages & (LatencySample - 1)) == 0 && Latency.Enabled)
        {
            Latency.Record(time.GetElapsedTime(ingestTimestamp).TotalSeconds);
        }
    }

    // The deliveries the message carried, and the ingest time of its oldest event (each member's first).
    private static (int Deliveries, long OldestIngest) Measure(StreamMember[] members, bool multiplexed)
    {
        if (!multiplexed)
        {
            var batch = members[0].Batch.Deliveries;
            return (batch.Length, batch.Length > 0 ? batch[0].Event.IngestTimestamp : 0);
        }

        var (count, oldest) = (0, long.MaxValue);
        foreach (var m in members)
        {
            if (m.HasBatch && m.Outgoing is { Length: > 0 } outgoing)
            {
                count += outgoing.Length;
                oldest = Math.Min(oldest, outgoing[0].Event.IngestTimestamp);
            }
        }

        return (count, oldest == long.MaxValue ? 0 : oldest);
    }

    private static IEnumerable<Measurement<long>> Count(Func<Connection, int> measure)
    {
        Span<long> totals = stackalloc long[Tags.Length];
        foreach (var (connection, transport) in Open)
        {
            totals[(int)transport] += measure(connection);
        }

        return [new(totals[0], Tags[0]), new(totals[1], Tags[1])];
    }
}
