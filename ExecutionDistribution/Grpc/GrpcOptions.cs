using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Grpc;

/// <summary>Settings of the gRPC stream (section <c>Grpc</c>).</summary>
public sealed class GrpcStreamOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Grpc";

    /// <summary>Most gRPC streams open at once; more get ResourceExhausted.</summary>
    public int MaxStreams { get; set; } = 10_000;

    /// <summary>Most streams one client (remote address) may hold open.</summary>
    public int MaxStreamsPerClient { get; set; } = 2_000;

    /// <summary>Most subscriptions one <c>StreamMultiplexed</c> call may carry; more are refused with RESOURCE_EXHAUSTED.</summary>
    public int MaxSubscriptionsPerCall { get; set; } = 64;

    /// <summary>Events per message when the request does not say.</summary>
    public int DefaultEventsPerMessage { get; set; } = 64;

    /// <summary>An idle stream gets a heartbeat message (with its resume token) this often.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Events buffered per stream before its overflow policy applies.</summary>
    public int BufferCapacity { get; set; } = 8_192;

    /// <summary>
    /// Under load, what arrives within a linger travels in one message. A <c>StreamExecution</c> stream
    /// rests this long after a message that followed the previous one within it; a multiplexed call whose
    /// previous message went out less than this long ago waits the rest. 0 turns it off.
    /// </summary>
    public TimeSpan SendLinger { get; set; } = TimeSpan.FromMilliseconds(2);
}

/// <summary>Validates the gRPC settings at start, naming the bad key.</summary>
internal sealed class GrpcOptionsValidator : IValidateOptions<GrpcStreamOptions>
{
    public ValidateOptionsResult Validate(string? name, GrpcStreamOptions o)
    {
        var failures = new List<string>();
        var p = GrpcStreamOptions.SectionName;
        OptionRules.Range(failures, p, nameof(o.MaxStreams), o.MaxStreams, 1, 1_000_000);
        OptionRules.Range(failures, p, nameof(o.MaxStreamsPerClient), o.MaxStreamsPerClient, 1, 1_000_000);
        OptionRules.Range(failures, p, nameof(o.MaxSubscriptionsPerCall), o.MaxSubscriptionsPerCall, 1, 10_000);
        OptionRules.Range(failures, p, nameof(o.DefaultEventsPerMessage), o.DefaultEventsPerMessage, 1, 1_024);
        OptionRules.Range(failures, p, nameof(o.HeartbeatInterval), o.HeartbeatInterval, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1));
        OptionRules.Range(failures, p, nameof(o.BufferCapacity), o.BufferCapacity, 2, 16_777_216);
        OptionRules.Range(failures, p, nameof(o.SendLinger), o.SendLinger, TimeSpan.Zero, TimeSpan.FromSeconds(1));
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
