using Microsoft.Extensions.Options;

namespace ExecutionDistribution.WebSockets;

/// <summary>Settings of the WebSocket stream (section <c>WebSocket</c>).</summary>
public sealed class WebSocketOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "WebSocket";

    /// <summary>Most WebSocket streams open at once; more are closed with 1008.</summary>
    public int MaxStreams { get; set; } = 10_000;

    /// <summary>Most streams one client (remote address) may hold open.</summary>
    public int MaxStreamsPerClient { get; set; } = 2_000;

    /// <summary>Most events in one frame (a stream that is behind gets full frames).</summary>
    public int MaxEventsPerFrame { get; set; } = 64;

    /// <summary>An idle stream gets a heartbeat frame (with its resume token) this often.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>WebSocket protocol pings (answered by the client's stack) this often.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Events buffered per stream before its overflow policy applies.</summary>
    public int BufferCapacity { get; set; } = 8_192;

    /// <summary>Subscriptions one multiplexed connection may carry (<c>?multiplex=true</c>, then <c>subscribe</c> messages).</summary>
    public int MaxSubscriptionsPerConnection { get; set; } = 64;

    /// <summary>Largest message a client may send (a <c>subscribe</c> with many order ids); a larger one closes the connection with 1008.</summary>
    public int MaxClientMessageBytes { get; set; } = 65_536;

    /// <summary>
    /// Under load, what arrives while a stream lingers travels in one frame (up to
    /// <see cref="MaxEventsPerFrame"/>). A connection of one subscription (sent by the core's delivery
    /// loop) rests this long after a frame that followed the previous one within it; a multiplexed
    /// connection whose previous frame went out less than this long ago waits the rest before the
    /// next. After a quiet spell the first event goes at once. 0 turns it off.
    /// </summary>
    public TimeSpan SendLinger { get; set; } = TimeSpan.FromMilliseconds(2);
}

/// <summary>Validates the WebSocket settings at start, naming the bad key.</summary>
internal sealed class WebSocketOptionsValidator : IValidateOptions<WebSocketOptions>
{
    public ValidateOptionsResult Validate(string? name, WebSocketOptions o)
    {
        var failures = new List<string>();
        var p = WebSocketOptions.SectionName;
        OptionRules.Range(failures, p, nameof(o.MaxStreams), o.MaxStreams, 1, 1_000_000);
        OptionRules.Range(failures, p, nameof(o.MaxStreamsPerClient), o.MaxStreamsPerClient, 1, 1_000_000);
        OptionRules.Range(failures, p, nameof(o.MaxEventsPerFrame), o.MaxEventsPerFrame, 1, 4_096);
        OptionRules.Range(failures, p, nameof(o.HeartbeatInterval), o.HeartbeatInterval, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1));
        OptionRules.Range(failures, p, nameof(o.KeepAliveInterval), o.KeepAliveInterval, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1));
        OptionRules.Range(failures, p, nameof(o.BufferCapacity), o.BufferCapacity, 2, 16_777_216);
        OptionRules.Range(failures, p, nameof(o.MaxSubscriptionsPerConnection), o.MaxSubscriptionsPerConnection, 1, 10_000);
        OptionRules.Range(failures, p, nameof(o.MaxClientMessageBytes), o.MaxClientMessageBytes, 1_024, 16_777_216);
        OptionRules.Range(failures, p, nameof(o.SendLinger), o.SendLinger, TimeSpan.Zero, TimeSpan.FromSeconds(1));
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
