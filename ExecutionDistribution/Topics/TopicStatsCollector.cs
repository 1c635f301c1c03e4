using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using ExecutionDistribution.Caching;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Hosting;

namespace ExecutionDistribution.Topics;

/// <summary>What the service has distributed on one topic (the spec's TopicStats).</summary>
/// <param name="Topic">The topic.</param>
/// <param name="Events">Events distributed on it since the service started.</param>
/// <param name="EventsByDataType">Of them, by data type.</param>
/// <param name="LastEventAt">Timestamp of the latest event, UTC.</param>
/// <param name="UpdatedAt">When these figures were taken, UTC.</param>
public sealed record TopicStats(string Topic, long Events, IReadOnlyDictionary<string, long> EventsByDataType, DateTime? LastEventAt, DateTime UpdatedAt);

/// <summary>
/// Counts events per topic as a core subscriber (at_most_once, off the dispatch path) and, with Redis
/// configured, writes <c>topic_stats:{topic}</c> (5 min lifetime) every <see cref="Interval"/> for the
/// topics that moved. <c>GET /api/v1/topic-stats/{topic}</c> reads through Redis, then memory.
/// </summary>
internal sealed class TopicStatsCollector(FanOutDispatcher core, TimeProvider time, RedisCache? cache = null) : BackgroundService
{
    /// <summary>How often moved topics are written to Redis.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, Counter> _topics = new(StringComparer.Ordinal);

    /// <summary>The current figures of a topic, or null when no event was seen on it.</summary>
    public TopicStats? Get(string topic) => _topics.TryGetValue(topic, out var c) ? c.Snapshot(topic, Timestamps.UtcNow(time)) : null;

    /// <summary>The figures as the API and Redis hold them.</summary>
    public static byte[] Json(TopicStats stats) => JsonSerializer.SerializeToUtf8Bytes(stats, StatsOptions);

    private static readonly JsonSerializerOptions StatsOptions = ApiJson.For(TopicStatsJson.Default);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var subscriber = core.Subscribe("topic-stats", SubscriptionFilter.All, DeliveryGuarantee.AtMostOnce);
        using var stop = stoppingToken.Register(() => core.Unsubscribe(subscriber));
        var publishing = cache is null ? Task.CompletedTask : PublishAsync(stoppingToken);
        var batch = new DeliveryBatch(256);
        while (await subscriber.WaitToReadAsync().ConfigureAwait(false))
        {
            while (subscriber.TryReadBatch(batch))
            {
                foreach (var d in batch.Deliveries)
                {
                    var e = d.Event;
                    _topics.GetOrAdd(e.Routing.Topic, _ => new Counter()).Add(e);
                }
            }
        }

        await publishing.ConfigureAwait(false);
    }

    private async Task PublishAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                foreach (var (topic, counter) in _topics)
                {
                    if (counter.TakeMoved())
                    {
                        await cache!.PutTopicStatsAsync(topic, Json(counter.Snapshot(topic, Timestamps.UtcNow(time)))).ConfigureAwait(false);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>One topic's counters: written by the collector only, read by anyone.</summary>
    private sealed class Counter
    {
        private readonly long[] _byType = new long[WireNames.DataTypes.Length];
        private long _events;
        private long _lastEventTicks;
        private int _moved;

        public void Add(ExecutionEvent e)
        {
            Interlocked.Increment(ref _byType[(int)e.DataType]);
            Interlocked.Increment(ref _events);
            if (e.Timestamp.Ticks > Volatile.Read(ref _lastEventTicks))
            {
                Volatile.Write(ref _lastEventTicks, e.Timestamp.Ticks);
            }

            Volatile.Write(ref _moved, 1);
        }

        public bool TakeMoved() => Interlocked.Exchange(ref _moved, 0) == 1;

        public TopicStats Snapshot(string topic, DateTime now)
        {
            var byType = new Dictionary<string, long>(StringComparer.Ordinal);
            for (var i = 0; i < _byType.Length; i++)
            {
                if (Volatile.Read(ref _byType[i]) is var n and > 0)
                {
                    byType[WireNames.DataTypes[i]] = n;
                }
            }

            var last = Volatile.Read(ref _lastEventTicks);
            return new TopicStats(topic, Volatile.Read(ref _events), byType, last == 0 ? null : new DateTime(last, DateTimeKind.Utc), now);
        }
    }
}

/// <summary>Topic stats in the API's JSON, by the source generator.</summary>
[JsonSerializable(typeof(TopicStats))]
internal sealed partial class TopicStatsJson : JsonSerializerContext;
