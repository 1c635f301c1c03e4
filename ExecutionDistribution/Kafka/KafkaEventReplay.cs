using Confluent.Kafka;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Distribution;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Kafka;

/// <summary>
/// Re-reads from Kafka the events of positions older than the retained log. The core's
/// <see cref="SourceIndex"/> says which record each position was (topic, partition, offset); the cursor
/// walks the positions in order, reads each record with a consumer assigned to its partition (no
/// group membership, nothing committed), parses it as ingest did, and hands out those the stream's
/// filter takes. Positions that did not come from Kafka, or records Kafka no longer has, end the
/// replay with a reason (<see cref="ReplayException"/>): a resume is exact or refused.
/// </summary>
internal sealed class KafkaEventReplay(FanOutDispatcher core, KafkaConnection connection, IOptions<KafkaOptions> options, TimeProvider time) : IEventReplay
{
    private FanOutDispatcher Core => core;

    private TimeProvider Time => time;

    /// <summary>Positions a fill looks at before it returns, matching or not, so a sparse filter still reports progress.</summary>
    private const int MaxScanPerFill = 8_192;

    public string? CannotReplay(long from)
    {
        if (core.Sources is not { } sources)
        {
            return "points before the oldest retained event, and the service keeps no Kafka source index (Distribution:SourceIndexCapacity is 0); events were missed";
        }

        if (from < sources.Oldest)
        {
            return $"points before the oldest position whose Kafka source is remembered ({sources.Oldest}; Distribution:SourceIndexCapacity); events were missed";
        }

        // Every position up to the retained log must be a Kafka record: one that came over REST is gone.
        var until = Math.Min(core.Tail, sources.Head);
        for (var p = from; p < until; p++)
        {
            switch (sources.TryGet(p, out _))
            {
                case SourceLookup.NotFromKafka:
                    return $"points before the oldest retained event ({core.Tail}), and the event at position {p} did not come from Kafka, so it cannot be re-read; events were missed";
                case SourceLookup.Gone:
                    return $"points before the oldest position whose Kafka source is remembered ({sources.Oldest}); events were missed";
            }
        }

        return null;
    }

    public IReplayCursor Open(SubscriptionFilter filter, long from, long sequence) =>
        new Cursor(this, filter, from, sequence);

    private ConsumerConfig ReaderConfig() => new()
    {
        BootstrapServers = connection.BootstrapServers,
        GroupId = $"{options.Value.ConsumerGroup}-replay-{Guid.NewGuid():N}", // never joined (Assign only), never committed
        EnableAutoCommit = false,
        EnableAutoOffsetStore = false,
        AutoOffsetReset = AutoOffsetReset.Error, // a record Kafka no longer has is an error, not a silent jump
        MaxPartitionFetchBytes = Math.Max(1_048_576, options.Value.MaxRecordBytes * 4),
        FetchMaxBytes = Math.Max(52_428_800, options.Value.MaxRecordBytes * 8),
    };

    private sealed class Cursor(KafkaEventReplay owner, SubscriptionFilter filter, long from, long sequence) : IReplayCursor
    {
        private static readonly TimeSpan RecordTimeout = TimeSpan.FromSeconds(30);
        private readonly Dictionary<(string Topic, int Partition), PartitionReader> _readers = [];

        public long Position { get; private set; } = from;

        public long Sequence { get; private set; } = sequence;

        public bool Fill(DeliveryBatch batch, CancellationToken cancellationToken)
        {
            batch.Reset();
            var core = owner.Core;
            var sources = core.Sources ?? throw new ReplayException("the Kafka source index is turned off");
            var items = batch.Items;
            var n = 0;
            var scanned = 0;
            var more = true;
            while (n < items.Length && scanned++ < MaxScanPerFill)
            {
                cancellationToken.ThrowIfCancellationRequested();

                // The retained log takes over a margin above its tail, so it is not overtaken before the subscriber attaches.
                var margin = Math.Max(1, core.Log.Capacity / 4);
                if (Position >= Math.Min(core.Head, core.Tail + margin))
                {
                    more = false;
                    break;
                }

                switch (sources.TryGet(Position, out var source))
                {
                    case SourceLookup.NotFromKafka:
                        throw new ReplayException($"the event at position {Position} did not come from Kafka and is no longer retained, so it cannot be re-read; events were missed");
                    case SourceLookup.Gone:
                        throw new ReplayException($"the Kafka source of position {Position} is no longer remembered (Distribution:SourceIndexCapacity); events were missed");
                }

                var e = Read(source, cancellationToken);
                e.Position = Position;
                Position++;
                if (filter.Matches(e))
                {
                    items[n++] = new Delivery(e, ++Sequence);
                }
            }

            batch.SetCount(n);
            batch.ResumePosition = Position;
            batch.LastSequence = Sequence;
            return more;
        }

        private ExecutionEvent Read(SourcePosition source, CancellationToken cancellationToken)
        {
            if (!_readers.TryGetValue((source.Topic, source.Partition), out var reader))
            {
                reader = new PartitionReader(new ConsumerBuilder<byte[]?, byte[]?>(owner.ReaderConfig()).Build(), source.Topic, source.Partition);
                _readers.Add((source.Topic, source.Partition), reader);
            }

            var value = reader.ReadAt(source.Offset, RecordTimeout, cancellationToken);
            var parsed = ExecutionEventParser.Parse(value);
            if (!parsed.IsValid)
            {
                // Ingest gave it a position, so it was valid then: the topic no longer holds what was read.
                throw new ReplayException($"the record at {source.Topic}/{source.Partition}@{source.Offset} is no longer the event that was distributed; events were missed");
            }

            var e = parsed.Event!;
            e.Source = source;
            e.IngestTimestamp = owner.Time.GetTimestamp();
            return e;
        }

        public void Dispose()
        {
            foreach (var reader in _readers.Values)
            {
                reader.Dispose();
            }

            _readers.Clear();
        }
    }

    /// <summary>One partition's records, read forward; a position that goes back (a record read twice after a rebalance) re-assigns.</summary>
    private sealed class PartitionReader(IConsumer<byte[]?, byte[]?> consumer, string topic, int partition) : IDisposable
    {
        private long _next = -1;

        public byte[] ReadAt(long offset, TimeSpan timeout, CancellationToken cancellationToken)
        {
            if (_next != offset)
            {
                // First read, a step back, or records skipped (dead-lettered ones have no position): start at the offset.
                consumer.Assign(new TopicPartitionOffset(topic, partition, offset));
                _next = offset;
            }

            var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                ConsumeResult<byte[]?, byte[]?>? record;
                try
                {
                    record = consumer.Consume(TimeSpan.FromMilliseconds(200));
                }
                catch (ConsumeException ex)
                {
                    throw new ReplayException($"Kafka cannot return {topic}/{partition}@{offset}: {ex.Error.Reason}; events were missed", ex);
                }

                if (record is null || record.IsPartitionEOF)
                {
                    if (Environment.TickCount64 > deadline)
                    {
                        throw new ReplayException($"Kafka did not return {topic}/{partition}@{offset} within {timeout.TotalSeconds:0} s; resume again later");
                    }

                    continue;
                }

                _next = record.Offset.Value + 1;
                if (record.Offset.Value < offset)
                {
                    continue;
                }

                if (record.Offset.Value > offset || record.Message.Value is not { Length: > 0 } value)
                {
                    throw new ReplayException($"Kafka no longer has the record {topic}/{partition}@{offset} (retention or compaction); events were missed");
                }

                return value;
            }
        }

        public void Dispose()
        {
            try
            {
                consumer.Close();
            }
            catch (KafkaException)
            {
                // Never joined a group: nothing to leave.
            }

            consumer.Dispose();
        }
    }
}
