using System.Net.WebSockets;
using System.Text.Json;
using ExecutionDistribution.Security;
using Microsoft.AspNetCore.Http;

namespace ExecutionDistribution.Streaming.WebSockets;

/// <summary>
/// Who opens a WebSocket stream. A client that can set headers sends <c>Authorization: Bearer</c>
/// with the upgrade (checked before it, like any request); a browser, which cannot, sends
/// <c>{"type":"auth","token":"..."}</c> as its first message, within <see cref="Timeout"/>. A
/// connection that proves nothing is closed with 4401, one without the scope to read with 4403.
/// </summary>
internal static class WebSocketAuth
{
    /// <summary>Close code: no valid token.</summary>
    public const WebSocketCloseStatus Unauthenticated = (WebSocketCloseStatus)4401;

    /// <summary>Close code: the token does not grant this (or was revoked).</summary>
    public const WebSocketCloseStatus Forbidden = (WebSocketCloseStatus)4403;

    /// <summary>How long a connection may take to send its auth message.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>The caller the upgrade request proved, or null when it carried no token (it may send one first).</summary>
    public static CallerRights? FromRequest(HttpContext context) =>
        context.User.Identity?.IsAuthenticated == true ? CallerRights.Of(context.User) : null;

    /// <summary>True when the upgrade carried a token that did not prove a caller: refused before the upgrade (401).</summary>
    public static bool CarriedBadToken(HttpContext context) =>
        context.User.Identity?.IsAuthenticated != true && context.Request.Headers.Authorization.Count > 0;

    /// <summary>Reads the first message as an auth message: the caller, or the close code and reason.</summary>
    public static async Task<(CallerRights? Rights, WebSocketCloseStatus Code, string? Reason)> FirstMessageAsync(WebSocket socket, TokenValidation validation, CancellationToken aborted)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        deadline.CancelAfter(Timeout);
        var buffer = new byte[16 * 1024];
        var length = 0;
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer.AsMemory(length), deadline.Token).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return (null, WebSocketCloseStatus.NormalClosure, null);
                }

                length += result.Count;
                if (result.EndOfMessage)
                {
                    break;
                }

                if (length == buffer.Length)
                {
                    return (null, Unauthenticated, "unauthenticated: the auth message is larger than 16 KB");
                }
            }
        }
        catch (OperationCanceledException) when (!aborted.IsCancellationRequested)
        {
            return (null, Unauthenticated, $"unauthenticated: send a bearer token in the Authorization header, or {{\"type\":\"auth\",\"token\":\"...\"}} first, within {Timeout.TotalSeconds:0} s");
        }

        string? token = null;
        try
        {
            using var message = JsonDocument.Parse(buffer.AsMemory(0, length));
            if (message.RootElement.ValueKind == JsonValueKind.Object
                && message.RootElement.TryGetProperty("type"u8, out var type) && type.ValueEqualsText("auth")
                && message.RootElement.TryGetProperty("token"u8, out var value) && value.ValueKind == JsonValueKind.String)
            {
                token = value.GetString();
            }
        }
        catch (JsonException)
        {
            // Not JSON: described below.
        }

        if (string.IsNullOrEmpty(token))
        {
            return (null, Unauthenticated, "unauthenticated: the first message must be {\"type\":\"auth\",\"token\":\"...\"} (or send the token in the Authorization header)");
        }

        var (principal, problem) = await validation.ValidateAsync(token, aborted).ConfigureAwait(false);
        return principal is null ? (null, Unauthenticated, $"unauthenticated: {problem}") : (CallerRights.Of(principal), default, null);
    }

    private static bool ValueEqualsText(this JsonElement element, string text) => element.ValueKind == JsonValueKind.String && element.ValueEquals(text);

    /// <summary>Closes with <paramref name="code"/> and <paramref name="reason"/> (at most 120 bytes).</summary>
    public static async Task CloseAsync(WebSocket socket, WebSocketCloseStatus code, string reason)
    {
        try
        {
            await socket.CloseAsync(code, reason.Length > 120 ? reason[..120] : reason, CancellationToken.None).ConfigureAwait(false);
        }
        catch (WebSocketException)
        {
            // The client is already gone.
        }
    }
}
