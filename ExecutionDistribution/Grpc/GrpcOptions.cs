using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Grpc;

/// <summary>Settings of the gRPC stream (section <c>Grpc</c>).</summary>
public sealed class GrpcStreamOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Grpc";

    /// <summary>Most gRPC streams open at once; more get ResourceExhausted.</summary>
    public int MaxStreams { get; set; } = 10_000;

    /// <summary>Events per message when the request does not say.</summary>
    public int DefaultEventsPerMessage { get; set; } = 64;

    /// <summary>An idle stream gets a heartbeat message (with its resume token) this often.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Events buffered per stream before its overflow policy applies.</summary>
    public int BufferCapacity { get; set; } = 8_192;
}

/// <summary>Validates the gRPC settings at start, naming the bad key.</summary>
internal sealed class GrpcOptionsValidator : IValidateOptions<GrpcStreamOptions>
{
    public ValidateOptionsResult Validate(string? name, GrpcStreamOptions o)
    {
        var failures = new List<string>();
        var p = GrpcStreamOptions.SectionName;
        if (o.MaxStreams is < 1 or > 1_000_000)
        {
            failures.Add($"{p}:{nameof(o.MaxStreams)} must be between 1 and 1000000 (was {o.MaxStreams}).");
        }

        if (o.DefaultEventsPerMessage is < 1 or > 1_024)
        {
            failures.Add($"{p}:{nameof(o.DefaultEventsPerMessage)} must be between 1 and 1024 (was {o.DefaultEventsPerMessage}).");
        }

        if (o.HeartbeatInterval < TimeSpan.FromMilliseconds(100))
        {
            failures.Add($"{p}:{nameof(o.HeartbeatInterval)} must be at least 00:00:00.100 (was {o.HeartbeatInterval}).");
        }

        if (o.BufferCapacity is < 2 or > 16_777_216)
        {
            failures.Add($"{p}:{nameof(o.BufferCapacity)} must be between 2 and 16777216 (was {o.BufferCapacity}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
