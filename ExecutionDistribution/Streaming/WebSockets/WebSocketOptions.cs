using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Streaming.WebSockets;

/// <summary>Settings of the WebSocket stream (section <c>WebSocket</c>).</summary>
public sealed class WebSocketOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "WebSocket";

    /// <summary>Most WebSocket streams open at once; more are closed with 1008.</summary>
    [Range(1, 1000000)]
    public int MaxStreams { get; set; } = 10_000;

    /// <summary>Most streams one client (remote address) may hold open.</summary>
    [Range(1, 1000000)]
    public int MaxStreamsPerClient { get; set; } = 2_000;

    /// <summary>Most events in one frame (a stream that is behind gets full frames).</summary>
    [Range(1, 4096)]
    public int MaxEventsPerFrame { get; set; } = 64;

    /// <summary>An idle stream gets a heartbeat frame (with its resume token) this often.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>WebSocket protocol pings (answered by the client's stack) this often.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Events buffered per stream before its overflow policy applies.</summary>
    [Range(2, 16777216)]
    public int BufferCapacity { get; set; } = 8_192;

    /// <summary>Subscriptions one multiplexed connection may carry (<c>?multiplex=true</c>, then <c>subscribe</c> messages).</summary>
    [Range(1, 10000)]
    public int MaxSubscriptionsPerConnection { get; set; } = 64;

    /// <summary>Largest message a client may send (a <c>subscribe</c> with many order ids); a larger one closes the connection with 1008.</summary>
    [Range(1024, 16777216)]
    public int MaxClientMessageBytes { get; set; } = 65_536;

    /// <summary>
    /// Under load, what arrives while a stream lingers travels in one frame (up to
    /// <see cref="MaxEventsPerFrame"/>). A connection of one subscription (sent by the core's delivery
    /// loop) rests this long after a frame that followed the previous one within it; a multiplexed
    /// connection whose previous frame went out less than this long ago waits the rest before the
    /// next. After a quiet spell the first event goes at once. 0 turns it off.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:01")]
    public TimeSpan SendLinger { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// Origins of browser pages allowed to open streams besides the service's own (for example
    /// <c>https://desk.example.com</c>; <c>*</c>: any). Requests without an <c>Origin</c> header
    /// (clients that are not browsers) are always allowed; other origins get 403.
    /// </summary>
    public string[] AllowedOrigins { get; set; } = [];
}

/// <summary>Validates the WebSocket settings at start (generated from the annotations).</summary>
[OptionsValidator]
internal sealed partial class WebSocketOptionsValidator : IValidateOptions<WebSocketOptions>;
