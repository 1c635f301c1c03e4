using Microsoft.Extensions.Options;

namespace ExecutionDistribution.WebSockets;

/// <summary>Settings of the WebSocket stream (section <c>WebSocket</c>).</summary>
public sealed class WebSocketOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "WebSocket";

    /// <summary>Most WebSocket streams open at once; more are closed with 1008.</summary>
    public int MaxStreams { get; set; } = 10_000;

    /// <summary>Most events in one frame (a stream that is behind gets full frames).</summary>
    public int MaxEventsPerFrame { get; set; } = 64;

    /// <summary>An idle stream gets a heartbeat frame (with its resume token) this often.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>WebSocket protocol pings (answered by the client's stack) this often.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Events buffered per stream before its overflow policy applies.</summary>
    public int BufferCapacity { get; set; } = 8_192;
}

/// <summary>Validates the WebSocket settings at start, naming the bad key.</summary>
internal sealed class WebSocketOptionsValidator : IValidateOptions<WebSocketOptions>
{
    public ValidateOptionsResult Validate(string? name, WebSocketOptions o)
    {
        var failures = new List<string>();
        var p = WebSocketOptions.SectionName;
        if (o.MaxStreams is < 1 or > 1_000_000)
        {
            failures.Add($"{p}:{nameof(o.MaxStreams)} must be between 1 and 1000000 (was {o.MaxStreams}).");
        }

        if (o.MaxEventsPerFrame is < 1 or > 4_096)
        {
            failures.Add($"{p}:{nameof(o.MaxEventsPerFrame)} must be between 1 and 4096 (was {o.MaxEventsPerFrame}).");
        }

        if (o.HeartbeatInterval < TimeSpan.FromMilliseconds(100))
        {
            failures.Add($"{p}:{nameof(o.HeartbeatInterval)} must be at least 00:00:00.100 (was {o.HeartbeatInterval}).");
        }

        if (o.KeepAliveInterval < TimeSpan.FromSeconds(1))
        {
            failures.Add($"{p}:{nameof(o.KeepAliveInterval)} must be at least 00:00:01 (was {o.KeepAliveInterval}).");
        }

        if (o.BufferCapacity is < 2 or > 16_777_216)
        {
            failures.Add($"{p}:{nameof(o.BufferCapacity)} must be between 2 and 16777216 (was {o.BufferCapacity}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
