using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Orders;
using ExecutionDistribution.Persistence;
using ExecutionDistribution.Subscriptions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace ExecutionDistribution.Caching;

/// <summary>
/// The Redis cache of the spec: <c>exec_status:{order_id}</c> (1 h), <c>fills:{order_id}</c> (24 h),
/// <c>topic_stats:{topic}</c> (5 min), <c>subscription:{id}</c> (30 min), each under the configured
/// prefix. Order keys are hashes of a version and the JSON (<c>v</c>, <c>d</c>) written by a script that
/// never replaces a newer version. Commands fail fast while Redis is unreachable, so lookups fall back
/// to the store at once. A write that fails marks its orders dirty and the cache untrusted: reads
/// bypass it until the dirty keys have been deleted from Redis (next read fills them from the store).
/// </summary>
internal sealed partial class RedisCache : IOrderCache, ISubscriptionCache, IAsyncDisposable
{
    // KEYS[1] = key; ARGV = version, json, ttl ms. Sets only over an older version (or none).
    private const string SetIfNewer = """
        local v = redis.call('HGET', KEYS[1], 'v')
        if v and tonumber(v) >= tonumber(ARGV[1]) then return 0 end
        redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return 1
        """;

    private const int MaxDirty = 100_000;

    private readonly ConnectionMultiplexer _redis;
    private readonly RedisOptions _options;
    private readonly ILogger<RedisCache> _logger;
    private readonly ConcurrentDictionary<string, byte> _dirty = new(StringComparer.Ordinal);
    private volatile bool _untrusted;
    private volatile bool _flushAll;
    private long _failures;

    public RedisCache(IOptions<RedisOptions> options, ILogger<RedisCache> logger)
    {
        _options = options.Value;
        _logger = logger;
        var config = ConfigurationOptions.Parse(_options.Configuration);
        config.AbortOnConnectFail = false; // start without Redis; it connects when Redis comes
        config.BacklogPolicy = BacklogPolicy.FailFast; // while down, fail at once and read the store
        config.ConnectTimeout = Math.Min(config.ConnectTimeout, 2_000);
        config.AsyncTimeout = Math.Min(config.AsyncTimeout, 1_000);
        config.SyncTimeout = Math.Min(config.SyncTimeout, 1_000);
        _redis = ConnectionMultiplexer.Connect(config);
    }

    public bool IsEnabled => true;

    /// <summary>True while Redis answers and the cache can be trusted.</summary>
    public bool Healthy => _redis.IsConnected && !_untrusted;

    /// <summary>Commands that failed since start.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    private IDatabase Db => _redis.GetDatabase();

    /// <summary>The key of <paramref name="name"/> under the prefix.</summary>
    public string Key(string name) => _options.KeyPrefix + name;

    public async Task WriteThroughAsync(IReadOnlyList<OrderChange> changes)
    {
        if (changes.Count == 0)
        {
            return;
        }

        try
        {
            var db = Db;
            var writes = new List<Task>(changes.Count * 2);
            foreach (var ch in changes)
            {
                writes.Add(SetAsync(db, Key($"exec_status:{ch.OrderId}"), ch.Version, ch.StatusJson, _options.ExecStatusTtl));
                writes.Add(SetAsync(db, Key($"fills:{ch.OrderId}"), ch.Version, ch.FillsJson, _options.FillsTtl));
            }

            await Task.WhenAll(writes).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Failed(ex);
            foreach (var ch in changes)
            {
                MarkDirty(ch.OrderId);
            }
        }
    }

    public Task<byte[]?> StatusAsync(string orderId) => ReadAsync(Key($"exec_status:{orderId}"));

    public Task<byte[]?> FillsAsync(string orderId) => ReadAsync(Key($"fills:{orderId}"));

    public Task PutStatusAsync(string orderId, byte[] json, int version) => PutAsync(Key($"exec_status:{orderId}"), json, version, _options.ExecStatusTtl);

    public Task PutFillsAsync(string orderId, byte[] json, int version) => PutAsync(Key($"fills:{orderId}"), json, version, _options.FillsTtl);

    /// <summary>Writes <c>topic_stats:{topic}</c>. Never throws.</summary>
    public async Task PutTopicStatsAsync(string topic, byte[] json)
    {
        try
        {
            await Db.StringSetAsync(Key($"topic_stats:{topic}"), json, _options.TopicStatsTtl).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Failed(ex);
        }
    }

    /// <summary>Reads <c>topic_stats:{topic}</c>, or null.</summary>
    public async Task<byte[]?> TopicStatsAsync(string topic)
    {
        try
        {
            var value = await Db.StringGetAsync(Key($"topic_stats:{topic}")).ConfigureAwait(false);
            return value.IsNull ? null : (byte[]?)value;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Failed(ex);
            return null;
        }
    }

    public void Changed(ManagedSubscription subscription, bool streaming)
    {
        var view = new CachedSubscription(
            subscription.SubscriptionId, subscription.TopicName, subscription.SubscriberWorkflow, subscription.Guarantee.Name(), subscription.Status, streaming,
            subscription.Acknowledged.Sequence, subscription.Acknowledged.Encode(), subscription.CreatedAt.ToString(Timestamps.WireFormat, System.Globalization.CultureInfo.InvariantCulture));
        _ = FireAndForget(Db.StringSetAsync(Key($"subscription:{subscription.SubscriptionId}"), JsonSerializer.SerializeToUtf8Bytes(view, CacheJson.Default.CachedSubscription), _options.SubscriptionTtl));
    }

    public void Removed(string subscriptionId) => _ = FireAndForget(Db.KeyDeleteAsync(Key($"subscription:{subscriptionId}")));

    /// <summary>
    /// Heals an untrusted cache: deletes the keys of dirty orders (or, after too many, every order key
    /// under the prefix), then trusts the cache again. Returns true when the cache is trusted.
    /// </summary>
    public async Task<bool> HealAsync()
    {
        if (!_untrusted)
        {
            return true;
        }

        if (!_redis.IsConnected)
        {
            return false;
        }

        try
        {
            if (_flushAll)
            {
                foreach (var server in _redis.GetServers())
                {
                    foreach (var pattern in new[] { "exec_status:*", "fills:*" })
                    {
                        await foreach (var key in server.KeysAsync(pattern: Key(pattern), pageSize: 1_000).ConfigureAwait(false))
                        {
                            await Db.KeyDeleteAsync(key).ConfigureAwait(false);
                        }
                    }
                }

                _flushAll = false;
            }

            foreach (var orderId in _dirty.Keys)
            {
                await Db.KeyDeleteAsync([Key($"exec_status:{orderId}"), Key($"fills:{orderId}")]).ConfigureAwait(false);
                _dirty.TryRemove(orderId, out _);
            }

            if (_dirty.IsEmpty && !_flushAll)
            {
                _untrusted = false;
                LogHealed(_logger);
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Failed(ex);
        }

        return !_untrusted;
    }

    private async Task<byte[]?> ReadAsync(string key)
    {
        if (_untrusted)
        {
            return null;
        }

        try
        {
            var value = await Db.HashGetAsync(key, "d").ConfigureAwait(false);
            return value.IsNull ? null : (byte[]?)value;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Failed(ex);
            return null;
        }
    }

    private async Task PutAsync(string key, byte[] json, int version, TimeSpan ttl)
    {
        if (_untrusted)
        {
            return;
        }

        try
        {
            await SetAsync(Db, key, version, json, ttl).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Failed(ex); // a fill from the store: nothing newer was lost, nothing to heal
        }
    }

    private static Task<RedisResult> SetAsync(IDatabase db, string key, int version, byte[] json, TimeSpan ttl) =>
        db.ScriptEvaluateAsync(SetIfNewer, [key], [version, json, (long)ttl.TotalMilliseconds]);

    private void MarkDirty(string orderId)
    {
        _untrusted = true;
        if (_dirty.Count < MaxDirty)
        {
            _dirty.TryAdd(orderId, 0);
        }
        else
        {
            _flushAll = true;
        }
    }

    private async Task FireAndForget(Task write)
    {
        try
        {
            await write.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Failed(ex);
        }
    }

    private void Failed(Exception ex)
    {
        if (Interlocked.Increment(ref _failures) % 1_000 == 1)
        {
            LogFailed(_logger, ex.Message);
        }
    }

    public async ValueTask DisposeAsync() => await _redis.DisposeAsync().ConfigureAwait(false);

    [LoggerMessage(EventId = 7000, Level = LogLevel.Warning, Message = "Redis command failed; lookups read the store: {Reason}")]
    private static partial void LogFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Redis cache healed: the keys of orders written while it was unreachable are cleared")]
    private static partial void LogHealed(ILogger logger);
}

/// <summary>A subscription as its <c>subscription:{id}</c> key holds it.</summary>
internal sealed record CachedSubscription(
    string SubscriptionId, string TopicName, string SubscriberWorkflow, string DeliveryGuarantee, string Status, bool Streaming,
    long AcknowledgedSequence, string AcknowledgedToken, string CreatedAt);

/// <summary>The cache's own JSON, by the source generator.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(CachedSubscription))]
internal sealed partial class CacheJson : JsonSerializerContext;
