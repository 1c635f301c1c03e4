using ExecutionDistribution.Subscriptions;

namespace ExecutionDistribution.Streaming;

/// <summary>
/// The heartbeat loop every stream shares (a WebSocket or multiplexed connection, a gRPC
/// <c>StreamExecution</c> call): one timer per stream, and on each tick a heartbeat if nothing was
/// written for an interval, so waiting for the next event never arms a timer of its own.
/// </summary>
internal static class HeartbeatLoop
{
    /// <summary>
    /// Runs until <paramref name="stopping"/>, or until a write fails because the stream ended
    /// (<paramref name="ended"/>, beside cancellation and disposal).
    /// </summary>
    public static async Task RunAsync(
        TimeProvider time, TimeSpan interval, Func<long> lastWrite, Func<Task> writeHeartbeat, Func<Exception, bool> ended, CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
            {
                if (time.GetElapsedTime(lastWrite()) >= interval)
                {
                    await writeHeartbeat().ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException || ended(ex))
        {
            // The stream ended.
        }
    }
}
