using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Streaming.Grpc;

/// <summary>Settings of the gRPC stream (section <c>Grpc</c>).</summary>
public sealed class GrpcStreamOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Grpc";

    /// <summary>Most gRPC streams open at once; more get ResourceExhausted.</summary>
    [Range(1, 1000000)]
    public int MaxStreams { get; set; } = 10_000;

    /// <summary>Most streams one client (remote address) may hold open.</summary>
    [Range(1, 1000000)]
    public int MaxStreamsPerClient { get; set; } = 2_000;

    /// <summary>Most subscriptions one <c>StreamMultiplexed</c> call may carry; more are refused with RESOURCE_EXHAUSTED.</summary>
    [Range(1, 10000)]
    public int MaxSubscriptionsPerCall { get; set; } = 64;

    /// <summary>Events per message when the request does not say.</summary>
    [Range(1, 1024)]
    public int DefaultEventsPerMessage { get; set; } = 64;

    /// <summary>An idle stream gets a heartbeat message (with its resume token) this often.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Events buffered per stream before its overflow policy applies.</summary>
    [Range(2, 16777216)]
    public int BufferCapacity { get; set; } = 8_192;

    /// <summary>
    /// Under load, what arrives within a linger travels in one message. A <c>StreamExecution</c> stream
    /// rests this long after a message that followed the previous one within it; a multiplexed call whose
    /// previous message went out less than this long ago waits the rest. 0 turns it off.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:01")]
    public TimeSpan SendLinger { get; set; } = TimeSpan.FromMilliseconds(2);
}

/// <summary>Validates the gRPC settings at start (generated from the annotations).</summary>
[OptionsValidator]
internal sealed partial class GrpcOptionsValidator : IValidateOptions<GrpcStreamOptions>;
