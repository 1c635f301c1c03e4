using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Orders;

namespace ExecutionDistribution.Streaming.WebSockets;

/// <summary>
/// The WebSocket protocol's frames of events (docs/streaming.md), written into a buffer of their own
/// that each frame reuses, with each event's envelope bytes copied in as they are (serialized once by
/// the core). One writer at a time.
/// </summary>
internal sealed class EventFrames : IAsyncDisposable
{
    private readonly ArrayBufferWriter<byte> _frame = new(16 * 1024);
    private readonly Utf8JsonWriter _writer;

    public EventFrames() => _writer = new Utf8JsonWriter(_frame, new JsonWriterOptions { SkipValidation = true });

    /// <summary>
    /// One subscription's frame: <c>{"type":"events","subscription_id":id,"resume_token":...,"dropped":n,
    /// "lost_positions":n,"events":[{"sequence":n,"event":{...}}]}</c>. Valid until the next frame.
    /// </summary>
    public ReadOnlyMemory<byte> Events(string subscriptionId, DeliveryBatch batch, string resumeToken)
    {
        var w = Start();
        w.WriteString("subscription_id"u8, subscriptionId);
        w.WriteString("resume_token"u8, resumeToken);
        if (batch.Dropped > 0)
        {
            w.WriteNumber("dropped"u8, batch.Dropped);
        }

        if (batch.LostPositions > 0)
        {
            w.WriteNumber("lost_positions"u8, batch.LostPositions);
        }

        w.WriteStartArray("events"u8);
        foreach (var delivery in batch.Deliveries)
        {
            w.WriteStartObject();
            w.WriteNumber("sequence"u8, delivery.Sequence);
            WriteEvent(w, delivery.Event);
        }

        return End();
    }

    /// <summary>
    /// A multiplexed connection's frame of what <paramref name="reader"/> collected from <paramref name="members"/>:
    /// <c>{"type":"events","resume_tokens":{id:token},"dropped":{id:n},"lost_positions":{id:n},
    /// "events":[{"deliveries":[{"subscription_id":id,"sequence":n},...],"event":{...}}]}</c>, events in
    /// log order, each once with every subscription that takes it. Valid until the next frame.
    /// </summary>
    public ReadOnlyMemory<byte> Multiplexed(StreamMember[] members, MultiplexedReader reader)
    {
        var tags = reader.Collect(members);
        var w = Start();
        w.WriteStartObject("resume_tokens"u8);
        foreach (var member in members)
        {
            if (member.HasBatch)
            {
                w.WriteString(member.IdJson, member.ResumeToken);
            }
        }

        w.WriteEndObject();
        WriteCounts(w, members, "dropped"u8, static m => m.Dropped);
        WriteCounts(w, members, "lost_positions"u8, static m => m.Lost);
        w.WriteStartArray("events"u8);
        for (var i = 0; i < tags.Length;)
        {
            var e = tags[i].Event;
            w.WriteStartObject();
            w.WriteStartArray("deliveries"u8);
            for (; i < tags.Length && tags[i].Position == e.Position; i++)
            {
                w.WriteStartObject();
                w.WriteString("subscription_id"u8, members[tags[i].Member].IdJson);
                w.WriteNumber("sequence"u8, tags[i].Sequence);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            WriteEvent(w, e);
        }

        reader.Clear();
        return End();
    }

    /// <summary>A multiplexed connection's frame of one subscription's events re-read from Kafka. Valid until the next frame.</summary>
    public ReadOnlyMemory<byte> Replay(string subscriptionId, DeliveryBatch batch, string resumeToken)
    {
        var w = Start();
        w.WriteStartObject("resume_tokens"u8);
        w.WriteString(subscriptionId, resumeToken);
        w.WriteEndObject();
        w.WriteStartArray("events"u8);
        foreach (var delivery in batch.Deliveries)
        {
            w.WriteStartObject();
            w.WriteStartArray("deliveries"u8);
            w.WriteStartObject();
            w.WriteString("subscription_id"u8, subscriptionId);
            w.WriteNumber("sequence"u8, delivery.Sequence);
            w.WriteEndObject();
            w.WriteEndArray();
            WriteEvent(w, delivery.Event);
        }

        return End();
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _writer.DisposeAsync();

    private Utf8JsonWriter Start()
    {
        _frame.ResetWrittenCount();
        _writer.Reset(_frame);
        _writer.WriteStartObject();
        _writer.WriteString("type"u8, "events"u8);
        return _writer;
    }

    // "event": the envelope's bytes, then the end of the event's object.
    private static void WriteEvent(Utf8JsonWriter w, ExecutionEvent e)
    {
        w.WritePropertyName("event"u8);
        w.WriteRawValue(e.EnvelopeJson.Span, skipInputValidation: true);
        w.WriteEndObject();
    }

    private ReadOnlyMemory<byte> End()
    {
        _writer.WriteEndArray();
        _writer.WriteEndObject();
        _writer.Flush();
        return _frame.WrittenMemory;
    }

    private static void WriteCounts(Utf8JsonWriter w, StreamMember[] members, ReadOnlySpan<byte> name, Func<StreamMember, long> count)
    {
        var open = false;
        foreach (var member in members)
        {
            var n = member.HasBatch ? count(member) : 0;
            if (n == 0)
            {
                continue;
            }

            if (!open)
            {
                w.WriteStartObject(name);
                open = true;
            }

            w.WriteNumber(member.IdJson, n);
        }

        if (open)
        {
            w.WriteEndObject();
        }
    }
}

/// <summary>The protocol's frames that carry no events (docs/streaming.md), as UTF-8 JSON.</summary>
internal static class ControlFrames
{
    /// <summary>subscribed, heartbeat (one subscription) or pong.</summary>
    public static byte[] Control(string type, string subscriptionId, string resumeToken, DateTime time, string? requestId, string? narrowed = null) =>
        JsonSerializer.SerializeToUtf8Bytes(new ControlFrame(type, subscriptionId, resumeToken, time, requestId, narrowed), FrameJson.Default.ControlFrame);

    /// <summary>The reply to a refresh: when the new token expires.</summary>
    public static byte[] Refreshed(DateTime? expiresAt, string? requestId) =>
        JsonSerializer.SerializeToUtf8Bytes(new RefreshedFrame("refreshed", expiresAt, requestId), FrameJson.Default.RefreshedFrame);

    public static byte[] Error(string message, string? requestId, string? subscriptionId = null) =>
        JsonSerializer.SerializeToUtf8Bytes(new ErrorFrame("error", message, requestId, subscriptionId), FrameJson.Default.ErrorFrame);

    public static byte[] Ended(string subscriptionId, string resumeToken, string reason) =>
        JsonSerializer.SerializeToUtf8Bytes(new EndedFrame("unsubscribed", subscriptionId, resumeToken, reason), FrameJson.Default.EndedFrame);

    public static byte[] Snapshot(string subscriptionId, string resumeToken, IReadOnlyList<OrderExecutionStatus> orders) =>
        JsonSerializer.SerializeToUtf8Bytes(new SnapshotFrame("snapshot", subscriptionId, resumeToken, orders), FrameJson.Default.SnapshotFrame);

    public static byte[] Acked(string subscriptionId, string acknowledgedToken, long acknowledgedSequence, string? requestId) =>
        JsonSerializer.SerializeToUtf8Bytes(new AckFrame("acked", subscriptionId, acknowledgedToken, acknowledgedSequence, requestId), FrameJson.Default.AckFrame);

    /// <summary>The instance is stopping: every subscription's token, to resume with on another instance (then close 1012).</summary>
    public static byte[] Reconnect(IReadOnlyDictionary<string, string> resumeTokens, DateTime time) =>
        JsonSerializer.SerializeToUtf8Bytes(new MultiplexedHeartbeat("reconnect", resumeTokens, time), FrameJson.Default.MultiplexedHeartbeat);

    /// <summary>A multiplexed connection's heartbeat: every subscription's token.</summary>
    public static byte[] Heartbeat(IReadOnlyDictionary<string, string> resumeTokens, DateTime time) =>
        JsonSerializer.SerializeToUtf8Bytes(new MultiplexedHeartbeat("heartbeat", resumeTokens, time), FrameJson.Default.MultiplexedHeartbeat);
}

internal sealed record ControlFrame(string Type, string SubscriptionId, string ResumeToken, DateTime Time, string? RequestId, string? Narrowed = null);

internal sealed record AckFrame(string Type, string SubscriptionId, string ResumeToken, long AcknowledgedSequence, string? RequestId);

internal sealed record RefreshedFrame(string Type, DateTime? ExpiresAt, string? RequestId);

internal sealed record ErrorFrame(string Type, string Message, string? RequestId, string? SubscriptionId);

internal sealed record EndedFrame(string Type, string SubscriptionId, string ResumeToken, string Reason);

internal sealed record SnapshotFrame(string Type, string SubscriptionId, string ResumeToken, IReadOnlyList<OrderExecutionStatus> Orders);

internal sealed record MultiplexedHeartbeat(string Type, IReadOnlyDictionary<string, string> ResumeTokens, DateTime Time);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    Converters = [typeof(UtcMicrosecondsConverter)])]
[JsonSerializable(typeof(ControlFrame))]
[JsonSerializable(typeof(AckFrame))]
[JsonSerializable(typeof(ErrorFrame))]
[JsonSerializable(typeof(RefreshedFrame))]
[JsonSerializable(typeof(EndedFrame))]
[JsonSerializable(typeof(SnapshotFrame))]
[JsonSerializable(typeof(MultiplexedHeartbeat))]
internal sealed partial class FrameJson : JsonSerializerContext;
