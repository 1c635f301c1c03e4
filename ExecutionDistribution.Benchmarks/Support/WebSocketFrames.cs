using System.Net.WebSockets;

namespace ExecutionDistribution.Benchmarks.Support;

/// <summary>Handles one whole WebSocket message.</summary>
public delegate void FrameHandler(ReadOnlySpan<byte> frame);

/// <summary>The load clients' receive loop: whole messages (up to 4 MB) to a handler until close or cancellation.</summary>
public static class WebSocketFrames
{
    /// <summary>Reads messages into one buffer and hands each to <paramref name="onFrame"/>; true when the server closed the connection.</summary>
    public static async Task<bool> ReadAsync(ClientWebSocket socket, FrameHandler onFrame, CancellationToken stop)
    {
        var buffer = new byte[1 << 22];
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    result = await socket.ReceiveAsync(buffer.AsMemory(length), stop).ConfigureAwait(false);
                    length += result.Count;
                }
                while (!result.EndOfMessage && length < buffer.Length);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return true;
                }

                onFrame(buffer.AsSpan(0, length));
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
            return !stop.IsCancellationRequested;
        }

        return false;
    }
}
