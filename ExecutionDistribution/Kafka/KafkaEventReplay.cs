using Confluent.Kafka;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Kafka;

/// <summary>
/// Re-reads from Kafka what a resume token has not passed and the retained log no longer holds (or
/// never held: the token is older than this instance). A token names, per partition, the next offset
/// its stream had not passed; a cursor assigns a consumer of its own to those partitions at those
/// offsets (no group membership, nothing committed), parses each record as ingest does, hands out
/// those the stream's filter takes, in offset order per partition, and stops each partition where the
/// retained log's frontier is. Offsets Kafka no longer has, and tokens of another cluster, end the
/// re-read with a reason (<see cref="ReplayException"/>): a resume is exact or refused, never a silent gap.
/// </summary>
internal sealed class KafkaEventReplay(FanOutDispatcher core, KafkaConnection connection, IOptions<KafkaOptions> options, TimeProvider time) : IEventReplay
{
    /// <summary>Records a fill looks at before it returns, matching or not, so a sparse filter still reports progress.</summary>
    private const int MaxScanPerFill = 8_192;

    private FanOutDispatcher Core => core;

    private TimeProvider Time => time;

    private readonly Dictionary<uint, string> _topics = options.Value.InputTopics.ToDictionary(SourceFrontier.TopicHash, t => t);

    public string? CannotReplay(ResumeToken token)
    {
        if (token.Epoch != core.TokenEpoch)
        {
            return "was issued by another cluster (another Kafka cluster, or another run of a service without Kafka); its offsets mean nothing here";
        }

        if (Unknown(token) is { } unknown)
        {
            return unknown;
        }

        // Whether Kafka still holds each offset is found by reading it (a consumer that may not jump):
        // answered by the re-read itself, so a Kafka briefly down makes the stream wait, not fail.
        return null;
    }

    public string? PastEnd(ResumeToken token)
    {
        using var probe = new ConsumerBuilder<byte[]?, byte[]?>(ReaderConfig()).Build();
        foreach (var o in token.Offsets)
        {
            if (!_topics.TryGetValue(o.Topic, out var topic))
            {
                continue;
            }

            try
            {
                var end = probe.QueryWatermarkOffsets(new TopicPartition(topic, o.Partition), TimeSpan.FromSeconds(10)).High.Value;
                if (o.Offset > end)
                {
                    return $"names {topic}/{o.Partition} at offset {o.Offset}, past its end ({end}): the topic was recreated, or the token is of another cluster";
                }
            }
            catch (KafkaException)
            {
                // Kafka cannot say now: the stream waits for the offsets like any token ahead of this instance.
            }
        }

        return null;
    }

    public IReplayCursor Open(SubscriptionFilter filter, ResumeToken token) => new Cursor(this, filter, token);

    // Every partition a token names must be of an input topic, or this run's own (events published to
    // the core directly, which cannot be re-read: the log must still hold all of them after the token).
    private string? Unknown(ResumeToken token)
    {
        var local = SourceFrontier.TopicHash(core.Sources.LocalTopic);
        foreach (var o in token.Offsets)
        {
            if (!_topics.ContainsKey(o.Topic) && o.Topic != local)
            {
                return "names a topic this service does not read (a token of another cluster, another run, or another configuration)";
            }
        }

        // A token that does not name this run's own partition has none of its events.
        var passedLocal = Math.Max(0, token.OffsetOf(local, 0));
        if (passedLocal < core.Sources.LocalFrontier(core.Tail))
        {
            return "needs events that did not come from Kafka (published to this instance directly) and are no longer retained, so they cannot be re-read; events were missed";
        }

        return null;
    }

    private ConsumerConfig ReaderConfig() => new()
    {
        BootstrapServers = connection.BootstrapServers,
        GroupId = $"{options.Value.ConsumerGroup}-replay-{Guid.NewGuid():N}", // never joined (Assign only), never committed
        EnableAutoCommit = false,
        EnableAutoOffsetStore = false,
        EnablePartitionEof = true,
        AutoOffsetReset = AutoOffsetReset.Error, // a record Kafka no longer has is an error, not a silent jump
        MaxPartitionFetchBytes = Math.Max(1_048_576, options.Value.MaxRecordBytes * 4),
        FetchMaxBytes = Math.Max(52_428_800, options.Value.MaxRecordBytes * 8),
        QueuedMaxMessagesKbytes = 8_192, // what one reader prefetches
        ReconnectBackoffMaxMs = 1_000, // a stream waits on it: back within a second of the brokers
    };

    // The event as ingest made it, or null for a record ingest dead-lettered.
    private ExecutionEvent? Parse(ConsumeResult<byte[]?, byte[]?> record)
    {
        if (record.Message.Value is not { Length: > 0 } value || value.Length > options.Value.MaxRecordBytes)
        {
            return null;
        }

        var parsed = ExecutionEventParser.Parse(value);
        if (!parsed.IsValid)
        {
            return null;
        }

        var e = parsed.Event!;
        e.Source = new SourcePosition(record.Topic, record.Partition.Value, record.Offset.Value);
        e.IngestTimestamp = time.GetTimestamp();
        e.IsReread = true;
        if (e.PortfolioId is null && e.OrderId is { } order)
        {
            e.PortfolioId = core.Portfolios.Find(order); // as the dispatcher filled it in when ingested
        }

        return e;
    }

    /// <summary>
    /// One stream's re-read: per partition, from the token's offset up to the retained log's frontier a
    /// margin above its tail (so the log is not overtaken before the stream attaches); when the log has
    /// moved past that meanwhile, the targets move with it.
    /// </summary>
    private sealed class Cursor : IReplayCursor
    {
        private static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(30);

        private readonly KafkaEventReplay _owner;
        private readonly SubscriptionFilter _filter;
        private readonly Guid _epoch;
        private readonly Dictionary<(uint Topic, int Partition), long> _next = [];
        private readonly Dictionary<(uint Topic, int Partition), long> _target = [];
        private readonly HashSet<(uint Topic, int Partition)> _assigned = [];
        private IConsumer<byte[]?, byte[]?>? _consumer;
        private long _sequence;
        private long _stalledSince;
        private ReplayException? _failure;
        private int _disposed;

        public Cursor(KafkaEventReplay owner, SubscriptionFilter filter, ResumeToken token)
        {
            _owner = owner;
            _filter = filter;
            _epoch = token.Epoch;
            _sequence = token.Sequence;
            foreach (var o in token.Offsets)
            {
                _next[(o.Topic, o.Partition)] = o.Offset;
            }

            // Events published to this instance directly that the log no longer holds are found missing
            // once Kafka is read up to the log (Fill): what came before them is sent first, whenever the
            // cursor is opened after the stream was admitted.
        }

        public ResumeToken Token =>
            new(_epoch, [.. _next.OrderBy(p => p.Key.Topic).ThenBy(p => p.Key.Partition).Select(p => new SourceOffset(p.Key.Topic, p.Key.Partition, p.Value))], _sequence);

        public ReplayProgress Fill(DeliveryBatch batch, CancellationToken cancellationToken)
        {
            if (_failure is { } failure)
            {
                throw failure;
            }

            batch.Reset();
            if (Remaining() == 0)
            {
                // Every partition is where the log's frontier was: the log takes over if it still holds that point.
                if (_owner.Core.Locate(Token).Check == ResumeCheck.Available)
                {
                    Finish(batch, 0);
                    return ReplayProgress.Done;
                }

                Retarget();
                if (Remaining() == 0)
                {
                    // Kafka is read up to the log: events published to this instance directly that the log
                    // no longer holds are what is missing, and they cannot be re-read.
                    if (_owner.Unknown(Token) is { } lost)
                    {
                        throw new ReplayException(lost);
                    }

                    Finish(batch, 0);
                    return ReplayProgress.Waiting;
                }
            }

            var items = batch.Items;
            var n = 0;
            var scanned = 0;
            var progress = ReplayProgress.More;
            try
            {
                while (n < items.Length && scanned++ < MaxScanPerFill && Remaining() > 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var record = _consumer!.Consume(TimeSpan.Zero);
                    if (record is null)
                    {
                        progress = CheckReached() ? ReplayProgress.More : Stalled();
                        break;
                    }

                    var key = (SourceFrontier.TopicHash(record.Topic), record.Partition.Value);
                    if (record.IsPartitionEOF || !_target.TryGetValue(key, out var target))
                    {
                        CheckReached();
                        continue;
                    }

                    _stalledSince = 0;
                    var offset = record.Offset.Value;
                    if (offset < _next[key])
                    {
                        continue;
                    }

                    if (offset >= target)
                    {
                        Reached(key, target);
                        continue;
                    }

                    _next[key] = offset + 1;
                    if (offset + 1 >= target)
                    {
                        Reached(key, target);
                    }

                    if (_owner.Parse(record) is { } e && _filter.Matches(e))
                    {
                        items[n++] = new Delivery(e, ++_sequence);
                    }
                }
            }
            catch (ConsumeException ex) when (ex.Error.Code is ErrorCode.OffsetOutOfRange or ErrorCode.Local_AutoOffsetReset or ErrorCode.Local_Fatal || ex.Error.IsFatal)
            {
                var failed = new ReplayException($"{Unreachable(ex.ConsumerRecord?.TopicPartition)}; events were missed", ex);
                if (n == 0)
                {
                    throw failed;
                }

                _failure = failed; // hand out what was read before it; the next call ends the re-read
            }
            catch (ConsumeException)
            {
                progress = Stalled(); // Kafka unreachable for now: wait, within the stall timeout
            }

            Finish(batch, n);
            return progress;
        }

        // Why Kafka will not return a partition from the token's offset: retention removed the records
        // (how many were lost), or the offset is past its end (a recreated topic, or another cluster's token).
        private string Unreachable(TopicPartition? failed)
        {
            foreach (var key in _assigned)
            {
                var partition = new TopicPartition(_owner._topics[key.Topic], key.Partition);
                if (failed is not null && failed != partition)
                {
                    continue;
                }

                try
                {
                    var marks = _consumer!.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10));
                    if (_next[key] < marks.Low.Value)
                    {
                        return $"needs {partition.Topic}/{key.Partition} from offset {_next[key]}, but Kafka holds it only from offset {marks.Low.Value} (retention): " +
                            $"{marks.Low.Value - _next[key]} records were lost";
                    }

                    if (_next[key] > marks.High.Value)
                    {
                        return $"names {partition.Topic}/{key.Partition} at offset {_next[key]}, past its end ({marks.High.Value}): the topic was recreated, or the token is of another cluster";
                    }
                }
                catch (KafkaException)
                {
                    // Described below without the watermarks.
                }
            }

            return $"needs offsets Kafka no longer holds (retention), or past a partition's end, at {string.Join(", ", _assigned.Select(k => $"{_owner._topics[k.Topic]}/{k.Partition}@{_next[k]}"))}";
        }

        private void Finish(DeliveryBatch batch, int n)
        {
            batch.SetCount(n);
            batch.LastSequence = _sequence;
            batch.Token = Token;
        }

        private int Remaining()
        {
            if (_consumer is null)
            {
                Retarget();
            }

            return _assigned.Count;
        }

        // Targets: the log's frontier a margin above its tail; partitions short of it are assigned at their next offset.
        private void Retarget()
        {
            var core = _owner.Core;
            var margin = Math.Max(1, core.Log.Capacity / 4);
            var at = Math.Min(core.Head, core.Tail + margin);
            var vector = core.Sources.NewVector();
            if (!core.Sources.Frontier(Math.Max(at, core.Sources.Oldest), vector, out var count))
            {
                return;
            }

            for (var id = 0; id < count; id++)
            {
                var source = core.Sources.KeyOf(id);
                (uint Topic, int Partition) key = (SourceFrontier.TopicHash(source.Topic), source.Partition);
                if (_owner._topics.ContainsKey(key.Topic))
                {
                    _target[key] = vector[id];
                    _next.TryAdd(key, 0); // a partition the token does not name is new to it: all of it
                }
            }

            _consumer ??= new ConsumerBuilder<byte[]?, byte[]?>(_owner.ReaderConfig()).Build();
            _assigned.Clear();
            var assign = new List<TopicPartitionOffset>();
            foreach (var (key, next) in _next)
            {
                if (_target.TryGetValue(key, out var target) && next < target)
                {
                    _assigned.Add(key);
                    assign.Add(new TopicPartitionOffset(_owner._topics[key.Topic], key.Partition, next));
                }
            }

            _consumer.Assign(assign);
        }

        private void Reached((uint Topic, int Partition) key, long target)
        {
            _next[key] = Math.Max(_next[key], target);
            if (_assigned.Remove(key))
            {
                _consumer!.IncrementalUnassign([new TopicPartition(_owner._topics[key.Topic], key.Partition)]);
            }
        }

        // Partitions whose position passed the target without a record at or after it (offsets taken by transaction markers or compaction).
        private bool CheckReached()
        {
            var any = false;
            foreach (var key in _assigned.ToArray())
            {
                var position = _consumer!.Position(new TopicPartition(_owner._topics[key.Topic], key.Partition));
                if (position.Value >= _target[key])
                {
                    Reached(key, _target[key]);
                    any = true;
                }
            }

            return any;
        }

        // Nothing fetched yet: wait, but not for ever.
        private ReplayProgress Stalled()
        {
            var now = _owner.Time.GetTimestamp();
            if (_stalledSince == 0)
            {
                _stalledSince = now;
            }
            else if (_owner.Time.GetElapsedTime(_stalledSince, now) > StallTimeout)
            {
                throw new ReplayException($"Kafka returned nothing for {StallTimeout.TotalSeconds:0} s while re-reading {string.Join(", ", _assigned.Select(k => $"{_owner._topics[k.Topic]}/{k.Partition}@{_next[k]}"))}; resume again later");
            }

            return ReplayProgress.Waiting;
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1 || _consumer is null)
            {
                return;
            }

            try
            {
                _consumer.Close();
            }
            catch (KafkaException)
            {
                // Never joined a group: nothing to leave.
            }

            _consumer.Dispose();
        }
    }
}
