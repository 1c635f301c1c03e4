using System.Collections.Concurrent;
using ExecutionDistribution.Subscriptions;

namespace ExecutionDistribution.Streaming;

/// <summary>
/// Counts a transport's open streams, in all and per client (its remote address), so one client
/// cannot take every stream the service allows. One instance per transport.
/// </summary>
internal sealed class StreamLimiter(int maxStreams, int maxStreamsPerClient, string settingPrefix)
{
    private readonly ConcurrentDictionary<string, int> _perClient = new(StringComparer.Ordinal);
    private int _total;

    /// <summary>Streams open now.</summary>
    public int Open => Volatile.Read(ref _total);

    /// <summary>Takes a stream for <paramref name="client"/>; false with the reason when a limit is reached.</summary>
    public bool TryAcquire(string client, out string reason)
    {
        reason = string.Empty;
        if (Interlocked.Increment(ref _total) > maxStreams)
        {
            Interlocked.Decrement(ref _total);
            reason = $"too many streams: the service allows {maxStreams} ({settingPrefix}:MaxStreams)";
            return false;
        }

        var mine = _perClient.AddOrUpdate(client, 1, (_, n) => n + 1);
        if (mine > maxStreamsPerClient)
        {
            Release(client);
            reason = $"too many streams from {client}: each client may open {maxStreamsPerClient} ({settingPrefix}:MaxStreamsPerClient)";
            return false;
        }

        return true;
    }

    /// <summary>Gives a stream back.</summary>
    public void Release(string client)
    {
        Interlocked.Decrement(ref _total);
        while (_perClient.TryGetValue(client, out var n))
        {
            if (n <= 1 ? _perClient.TryRemove(new KeyValuePair<string, int>(client, n)) : _perClient.TryUpdate(client, n - 1, n))
            {
                return;
            }
        }
    }
}
