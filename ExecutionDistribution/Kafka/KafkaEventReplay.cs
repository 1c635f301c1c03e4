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

    public string? CannotReplay(ResumeToken token)
    {
        if (core.Sources is not { } current)
        {
            return "points before the oldest retained event, and the service keeps no Kafka source index (Distribution:SourceIndexCapacity is 0); events were missed";
        }

        var run = token.Epoch == core.LogEpoch ? token.EarlierRun : token.Epoch;
        if (run != Guid.Empty)
        {
            using var earlier = core.OpenEarlierSources(run);
            if (earlier is null)
            {
                return "is from an earlier run of the service whose Kafka source index is not kept (Distribution:SourceIndexDirectory); its events cannot be replayed exactly";
            }

            if (token.Epoch != core.LogEpoch)
            {
                if (token.Position > earlier.Head)
                {
                    return $"points past the end of its run's source index (position {earlier.Head}); it was not issued by that run";
                }

                if (CheckRange(earlier, token.Position, earlier.Head) is { } reason)
                {
                    return reason;
                }

                return CheckRange(current, 0, Math.Min(core.Tail, current.Head));
            }
        }

        return CheckRange(current, token.Position, Math.Min(core.Tail, current.Head));
    }

    public IReplayCursor Open(SubscriptionFilter filter, ResumeToken token) => new Cursor(this, filter, token);

    // Every position of [from, until) must be a Kafka record the index still knows.
    private static string? CheckRange(SourceIndex index, long from, long until)
    {
        if (from < index.Oldest)
        {
            return $"points before the oldest position whose Kafka source is remembered ({index.Oldest}; Distribution:SourceIndexCapacity); events were missed";
        }

        for (var p = from; p < until; p++)
        {
            switch (index.TryGet(p, out _))
            {
                case SourceLookup.NotFromKafka:
                    return $"needs the event at position {p}, which did not come from Kafka and is no longer retained, so it cannot be re-read; events were missed";
                case SourceLookup.Gone:
                    return $"points before the oldest position whose Kafka source is remembered ({index.Oldest}); events were missed";
            }
        }

        return null;
    }

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

    /// <summary>
    /// Walks the positions after a token: those of the earlier run that issued it (all from Kafka), then
    /// those of this run, where the records that run had already distributed (re-read after the restart,
    /// offsets below its frontier) are skipped, until the retained log takes over.
    /// </summary>
    private sealed class Cursor : IReplayCursor
    {
        private static readonly TimeSpan RecordTimeout = TimeSpan.FromSeconds(30);
        private readonly KafkaEventReplay _owner;
        private readonly SubscriptionFilter _filter;
        private readonly Dictionary<(string Topic, int Partition), PartitionReader> _readers = [];
        private SourceIndex? _earlier;
        private Guid _earlierRun;
        private Dictionary<(string Topic, int Partition), long>? _floor;
        private long _position;
        private long _sequence;

        public Cursor(KafkaEventReplay owner, SubscriptionFilter filter, ResumeToken token)
        {
            _owner = owner;
            _filter = filter;
            _position = token.Position;
            _sequence = token.Sequence;
            var core = owner.Core;
            var run = token.Epoch == core.LogEpoch ? token.EarlierRun : token.Epoch;
            if (run == Guid.Empty)
            {
                return;
            }

            var earlier = core.OpenEarlierSources(run) ?? throw new ReplayException("the source index of the run that issued the token is no longer kept");
            _earlierRun = run;
            _floor = earlier.Frontier();
            if (token.Epoch == core.LogEpoch)
            {
                earlier.Dispose(); // only its frontier is needed: the stream is past that run's positions
            }
            else
            {
                _earlier = earlier;
            }
        }

        public ResumeToken Token => _earlier is { } earlier
            ? new ResumeToken(earlier.Epoch, _position, _sequence)
            : new ResumeToken(_owner.Core.LogEpoch, _position, _sequence, _floor is null ? Guid.Empty : _earlierRun);

        public bool Fill(DeliveryBatch batch, CancellationToken cancellationToken)
        {
            batch.Reset();
            var items = batch.Items;
            var n = 0;
            var scanned = 0;
            var more = true;
            while (n < items.Length && scanned++ < MaxScanPerFill)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (_earlier is { } earlier)
                {
                    if (_position >= earlier.Head)
                    {
                        // The earlier run's positions are done: on to this run's, from its first.
                        earlier.Dispose();
                        _earlier = null;
                        _position = 0;
                        continue;
                    }

                    Take(Read(earlier, _position, cancellationToken), items, ref n);
                    continue;
                }

                if (ReachedLog())
                {
                    more = false;
                    break;
                }

                var core = _owner.Core;
                if (_position >= core.Head)
                {
                    // Waiting for this run's ingest to pass the earlier run's frontier.
                    Thread.Sleep(5);
                    break;
                }

                ExecutionEvent e;
                if (core.TryGetRetained(_position, out var retained))
                {
                    e = retained;
                }
                else
                {
                    e = Read(core.Sources!, _position, cancellationToken);
                }

                if (_floor is not null && e.Source is { } s && _floor.TryGetValue((s.Topic, s.Partition), out var floor) && s.Offset < floor)
                {
                    _position++; // the earlier run distributed this record: delivered then
                    continue;
                }

                Take(e, items, ref n);
            }

            batch.SetCount(n);
            var token = Token;
            batch.ResumePosition = token.Position;
            batch.LastSequence = token.Sequence;
            return more;
        }

        private void Take(ExecutionEvent e, Delivery[] items, ref int n)
        {
            _position++;
            if (_filter.Matches(e))
            {
                items[n++] = new Delivery(e, ++_sequence);
            }
        }

        // The retained log takes over a margin above its tail (so it is not overtaken before the subscriber
        // attaches), once no record of the earlier run is still ahead: every partition's ingest has passed
        // that run's frontier, and no position between here and the head is one of its records.
        private bool ReachedLog()
        {
            var core = _owner.Core;
            var margin = Math.Max(1, core.Log.Capacity / 4);
            if (_position < Math.Min(core.Head, core.Tail + margin))
            {
                return false;
            }

            if (_floor is null)
            {
                return true;
            }

            var sources = core.Sources!;
            var passed = sources.Frontier();
            foreach (var (partition, floor) in _floor)
            {
                if (passed.GetValueOrDefault(partition) < floor)
                {
                    return false;
                }
            }

            for (var p = _position; p < sources.Head; p++)
            {
                if (sources.TryGet(p, out var s) == SourceLookup.Recorded && _floor.TryGetValue((s.Topic, s.Partition), out var floor) && s.Offset < floor)
                {
                    return false;
                }
            }

            _floor = null;
            return true;
        }

        private ExecutionEvent Read(SourceIndex index, long position, CancellationToken cancellationToken)
        {
            switch (index.TryGet(position, out var source))
            {
                case SourceLookup.NotFromKafka:
                    throw new ReplayException($"the event at position {position} did not come from Kafka and is no longer retained, so it cannot be re-read; events were missed");
                case SourceLookup.Gone:
                    throw new ReplayException($"the Kafka source of position {position} is no longer remembered (Distribution:SourceIndexCapacity); events were missed");
            }

            if (!_readers.TryGetValue((source.Topic, source.Partition), out var reader))
            {
                reader = new PartitionReader(new ConsumerBuilder<byte[]?, byte[]?>(_owner.ReaderConfig()).Build(), source.Topic, source.Partition);
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
            e.Position = position;
            e.IngestTimestamp = _owner.Time.GetTimestamp();
            return e;
        }

        public void Dispose()
        {
            foreach (var reader in _readers.Values)
            {
                reader.Dispose();
            }

            _readers.Clear();
            _earlier?.Dispose();
            _earlier = null;
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
