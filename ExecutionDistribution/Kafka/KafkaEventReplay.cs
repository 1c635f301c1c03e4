using Confluent.Kafka;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
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

    private int MaxRecordBytes => options.Value.MaxRecordBytes;

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

    // Readers shared by the open cursors; closed when the last cursor closes.
    private readonly Lock _partitionsGate = new();
    private readonly Dictionary<(string Topic, int Partition), SharedPartition> _partitions = [];
    private int _cursors;

    private void Acquire()
    {
        lock (_partitionsGate)
        {
            _cursors++;
        }
    }

    private void Release()
    {
        SharedPartition[] idle = [];
        lock (_partitionsGate)
        {
            if (--_cursors == 0)
            {
                idle = [.. _partitions.Values];
                _partitions.Clear();
            }
        }

        foreach (var p in idle)
        {
            p.Dispose();
        }
    }

    private SharedPartition Partition(string topic, int partition)
    {
        lock (_partitionsGate)
        {
            if (!_partitions.TryGetValue((topic, partition), out var shared))
            {
                shared = new SharedPartition(this, topic, partition);
                _partitions.Add((topic, partition), shared);
            }

            return shared;
        }
    }

    // This run's Kafka records by source, for its first positions: after a restart they are mostly the
    // records the earlier run had distributed and not committed, which its streams re-read. Served
    // from the retained log, they cost no Kafka read (100 subscribers resuming at once would otherwise
    // open a consumer each). Extended on demand up to the head; bounded.
    private const int MaxRereadEntries = 1_048_576;
    private readonly Lock _rereadGate = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Topic, int Partition, long Offset), long> _reread = new();
    private long _rereadScanned;

    // Per partition, the highest frontier of an earlier run a cursor re-reads: only this run's records below
    // it (its re-reads of what that run had) go into the map, so the map stays the size of that stretch.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Topic, int Partition), long> _rereadBelow = new();

    private void WatchRereads(Dictionary<(string Topic, int Partition), long> frontier)
    {
        foreach (var (partition, offset) in frontier)
        {
            _rereadBelow.AddOrUpdate(partition, offset, (_, known) => Math.Max(known, offset));
        }
    }

    /// <summary>
    /// The record at <paramref name="source"/> as this run read it, when this run has it retained (after a
    /// restart, the records the earlier run had not committed are read again here). Lookups take no
    /// lock; one caller at a time extends the map to the head.
    /// </summary>
    private bool TryFindInThisRun(SourcePosition source, out ExecutionEvent e)
    {
        e = null!;
        var sources = core.Sources!;
        if (Volatile.Read(ref _rereadScanned) < sources.Head && _reread.Count < MaxRereadEntries && _rereadGate.TryEnter())
        {
            try
            {
                var head = sources.Head;
                var scanned = _rereadScanned;
                for (; scanned < head && _reread.Count < MaxRereadEntries; scanned++)
                {
                    if (sources.TryGet(scanned, out var s) == SourceLookup.Recorded
                        && _rereadBelow.TryGetValue((s.Topic, s.Partition), out var below) && s.Offset < below)
                    {
                        _reread[(s.Topic, s.Partition, s.Offset)] = scanned;
                    }
                }

                Volatile.Write(ref _rereadScanned, scanned);
            }
            finally
            {
                _rereadGate.Exit();
            }
        }

        return _reread.TryGetValue((source.Topic, source.Partition, source.Offset), out var position) && core.TryGetRetained(position, out e);
    }

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
        QueuedMaxMessagesKbytes = 8_192, // what one reader prefetches
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
        private long _kafkaWaitUntil;
        private readonly SubscriptionFilter _filter;
        private int _disposed;
        private bool _missingRun;

        // A record that cannot be re-read, found after others were read into the same batch: thrown on the next call.
        private ReplayException? _failure;
        private SourceIndex? _earlier;
        private Guid _earlierRun;
        private Dictionary<(string Topic, int Partition), long>? _floor;
        private long _position;
        private long _sequence;

        public Cursor(KafkaEventReplay owner, SubscriptionFilter filter, ResumeToken token)
        {
            _owner = owner;
            _filter = filter;

            // Counted: the last cursor to close closes the shared readers.
            owner.Acquire();
            _position = token.Position;
            _sequence = token.Sequence;
            var core = owner.Core;
            var run = token.Epoch == core.LogEpoch ? token.EarlierRun : token.Epoch;
            if (run == Guid.Empty)
            {
                return;
            }

            // Its index may have been deleted since the token was checked: then the first fill says so.
            _earlierRun = run;
            if (core.OpenEarlierSources(run) is not { } earlier)
            {
                _missingRun = true;
                return;
            }

            _floor = earlier.Frontier();
            if (token.Epoch == core.LogEpoch)
            {
                earlier.Dispose(); // only its frontier is needed: the stream is past that run's positions
            }
            else
            {
                _earlier = earlier;
                owner.WatchRereads(_floor);
            }
        }

        public ResumeToken Token => _earlier is { } earlier
            ? new ResumeToken(earlier.Epoch, _position, _sequence)
            : new ResumeToken(_owner.Core.LogEpoch, _position, _sequence, _floor is null ? Guid.Empty : _earlierRun);

        public ReplayProgress Fill(DeliveryBatch batch, CancellationToken cancellationToken)
        {
            if (_missingRun)
            {
                throw new ReplayException("the source index of the run that issued the token is no longer kept (Distribution:SourceIndexRuns); its events cannot be replayed exactly");
            }

            if (_failure is { } failure)
            {
                throw failure;
            }

            batch.Reset();
            var items = batch.Items;
            var n = 0;
            var scanned = 0;
            var more = ReplayProgress.More;
            try
            {
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

                        if (ReadEarlier(earlier, _position) is not { } previous)
                        {
                            more = ReplayProgress.Waiting; // this run or Kafka is about to return it: come back in a moment
                            break;
                        }

                        Take(previous, items, ref n);
                        continue;
                    }

                    if (ReachedLog())
                    {
                        more = ReplayProgress.Done;
                        break;
                    }

                    var core = _owner.Core;
                    if (_position >= core.Head)
                    {
                        // Waiting for this run's ingest to pass the earlier run's frontier.
                        more = ReplayProgress.Waiting;
                        break;
                    }

                    ExecutionEvent e;
                    if (core.TryGetRetained(_position, out var retained))
                    {
                        e = retained;
                    }
                    else if (Read(core.Sources!, _position) is { } read)
                    {
                        // Its position in this run's log, as the event had when it was distributed (a connection
                        // carrying several subscriptions orders what it sends by position).
                        if (read.Position < 0)
                        {
                            read.Position = _position;
                        }

                        e = read;
                    }
                    else
                    {
                        more = ReplayProgress.Waiting; // Kafka has not returned it yet
                        break;
                    }

                    if (_floor is not null && e.Source is { } s && _floor.TryGetValue((s.Topic, s.Partition), out var floor) && s.Offset < floor)
                    {
                        _position++; // the earlier run distributed this record: delivered then
                        continue;
                    }

                    Take(e, items, ref n);
                }
            }
            catch (ReplayException ex) when (n > 0)
            {
                // Hand out what was read before it; the next call ends the replay with it.
                _failure = ex;
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

        // An earlier run's position: the same record in this run's retained log when this run has re-read
        // it, otherwise from Kafka (never waiting for this run's ingest, which may still be rejoining its group).
        // Null: Kafka is fetching it.
        private ExecutionEvent? ReadEarlier(SourceIndex earlier, long position)
        {
            if (earlier.TryGet(position, out var source) == SourceLookup.Recorded && _owner.TryFindInThisRun(source, out var e))
            {
                _kafkaWaitUntil = 0;
                return e;
            }

            return Read(earlier, position);
        }

        // The event of a position from Kafka, or null while the reader has not returned it yet (for at most RecordTimeout).
        private ExecutionEvent? Read(SourceIndex index, long position)
        {
            switch (index.TryGet(position, out var source))
            {
                case SourceLookup.NotFromKafka:
                    throw new ReplayException($"the event at position {position} did not come from Kafka and is no longer retained, so it cannot be re-read; events were missed");
                case SourceLookup.Gone:
                    throw new ReplayException($"the Kafka source of position {position} is no longer remembered (Distribution:SourceIndexCapacity); events were missed");
            }

            if (_owner.Partition(source.Topic, source.Partition).TryReadAt(source.Offset) is { } e)
            {
                _kafkaWaitUntil = 0;
                return e;
            }

            if (_kafkaWaitUntil == 0)
            {
                _kafkaWaitUntil = Environment.TickCount64 + (long)RecordTimeout.TotalMilliseconds;
            }
            else if (Environment.TickCount64 > _kafkaWaitUntil)
            {
                throw new ReplayException($"Kafka did not return {source.Topic}/{source.Partition}@{source.Offset} within {RecordTimeout.TotalSeconds:0} s; resume again later");
            }

            return null;
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1)
            {
                return;
            }

            _earlier?.Dispose();
            _earlier = null;
            _owner.Release();
        }
    }

    /// <summary>
    /// One partition's records for every cursor: one consumer, read forward, parsed once, the newest
    /// <see cref="CacheLimit"/> kept, so many streams re-reading the same stretch (subscribers resuming
    /// after a restart) cost one read of it. A cursor asking behind what was read, or far ahead, moves
    /// the consumer there. Cursors take turns (a lock per partition; they run on threads of their own).
    /// </summary>
    private sealed class SharedPartition(KafkaEventReplay owner, string topic, int partition) : IDisposable
    {
        private const int CacheLimit = 65_536;
        private const long ReadThroughGap = 4_096;
        private readonly Lock _gate = new();
        private readonly Dictionary<long, ExecutionEvent> _cache = [];
        private readonly Queue<long> _cached = new();
        private IConsumer<byte[]?, byte[]?>? _consumer;
        private long _next = -1;

        /// <summary>The event at <paramref name="offset"/>, or null when the consumer has not fetched it yet (call again). Never blocks on Kafka.</summary>
        public ExecutionEvent? TryReadAt(long offset)
        {
            lock (_gate)
            {
                if (_cache.TryGetValue(offset, out var hit))
                {
                    return hit;
                }

                _consumer ??= new ConsumerBuilder<byte[]?, byte[]?>(owner.ReaderConfig()).Build();
                if (_next < 0 || offset < _next || offset - _next > ReadThroughGap)
                {
                    // First read, a step back, or far ahead: start at the offset (records between are read through and kept).
                    _consumer.Assign(new TopicPartitionOffset(topic, partition, offset));
                    _next = offset;
                }

                // What the consumer has fetched in the background, without waiting for more.
                while (true)
                {
                    ConsumeResult<byte[]?, byte[]?>? record;
                    try
                    {
                        record = _consumer.Consume(TimeSpan.Zero);
                    }
                    catch (ConsumeException ex)
                    {
                        _next = -1;
                        throw new ReplayException($"Kafka cannot return {topic}/{partition}@{offset}: {ex.Error.Reason}; events were missed", ex);
                    }

                    if (record is null)
                    {
                        return null;
                    }

                    if (record.IsPartitionEOF)
                    {
                        continue;
                    }

                    var at = record.Offset.Value;
                    _next = at + 1;
                    var e = Parse(record);
                    if (e is not null && !_cache.ContainsKey(at))
                    {
                        _cache[at] = e;
                        _cached.Enqueue(at);
                        if (_cached.Count > CacheLimit)
                        {
                            _cache.Remove(_cached.Dequeue());
                        }
                    }

                    if (at < offset)
                    {
                        continue;
                    }

                    if (at > offset)
                    {
                        throw new ReplayException($"Kafka no longer has the record {topic}/{partition}@{offset} (retention or compaction); events were missed");
                    }

                    // Ingest gave it a position, so it was valid then: if not now, the topic no longer holds what was distributed.
                    return e ?? throw new ReplayException($"the record at {topic}/{partition}@{offset} is no longer the event that was distributed; events were missed");
                }
            }
        }

        // The event as ingest made it, or null for a record ingest dead-lettered (it has no position).
        private ExecutionEvent? Parse(ConsumeResult<byte[]?, byte[]?> record)
        {
            if (record.Message.Value is not { Length: > 0 } value || value.Length > owner.MaxRecordBytes)
            {
                return null;
            }

            var parsed = ExecutionEventParser.Parse(value);
            if (!parsed.IsValid)
            {
                return null;
            }

            var e = parsed.Event!;
            e.Source = new SourcePosition(topic, partition, record.Offset.Value);
            e.IngestTimestamp = owner.Time.GetTimestamp();
            e.IsReread = true;
            return e;
        }

        public void Dispose()
        {
            lock (_gate)
            {
                if (_consumer is null)
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
                _consumer = null;
                _cache.Clear();
                _cached.Clear();
            }
        }
    }
}
