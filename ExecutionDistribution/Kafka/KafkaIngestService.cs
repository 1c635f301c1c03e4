using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Kafka;

/// <summary>
/// Consumes the input topics on a dedicated thread (Kafka's Consume blocks), parses each record once,
/// hands valid events to the dispatch core and invalid ones to the dead-letter topic, and stores for
/// commit only offsets below which every record is safe (<see cref="SafePointTracker"/>). A crash at
/// any instant therefore re-reads from the last safe point: events may repeat (with their event_id),
/// never go missing. A full ingest queue blocks this thread: back-pressure to Kafka.
/// </summary>
internal sealed partial class KafkaIngestService : IHostedService, IHealthCheck, IDisposable
{
    /// <summary>Problems quoted in a dead-letter reason; the rest are counted.</summary>
    private const int MaxProblemsInReason = 10;

    /// <summary>How long a client error keeps the service unhealthy without a newer success.</summary>
    private static readonly TimeSpan ErrorsStayRelevantFor = TimeSpan.FromSeconds(30);

    /// <summary>Records handed to the core between two dispatcher wake-ups.</summary>
    private const int MaxRecordsPerWake = 256;

    private readonly KafkaOptions _options;
    private readonly KafkaConnection _connection;
    private readonly IExecutionIngest _ingest;
    private readonly TimeProvider _time;
    private readonly ILogger<KafkaIngestService> _logger;
    private readonly SafePointTracker _tracker = new();

    // The tracker's owner is the parse stage while it runs; the consume thread takes this to store,
    // commit and forget in a rebalance (after draining the stage, so no record is being tracked).
    private readonly Lock _trackerGate = new();
    private readonly IDurableHold[] _holds;
    private readonly OutputReleases? _releases;
    private readonly ParallelOptions _parallel;

    /// <summary>Batches between the consume thread and the parse thread (each up to <see cref="MaxRecordsPerWake"/> records): the pipeline's bound.</summary>
    private const int PipelineDepth = 4;

    /// <summary>Batches smaller than this are parsed on the parse thread alone (fan-out costs more).</summary>
    private const int ParallelParseThreshold = 32;
    private readonly CancellationTokenSource _stopping = new();
    private Thread? _thread;
    private IProducer<byte[]?, byte[]?>? _deadLetters;
    private long _consumed;
    private long _deadLettered;
    private long _lastErrorTimestamp;
    private long _lastSuccessTimestamp;
    private int _assignedOnce; // 1 once the group first gave this instance partitions
    private string _lastError = string.Empty;
    private int _disposed;
    private IngestPipeline? _pipeline;

    // A gateway reads every partition by assignment: no group, no commits, no dead letters (the processors' work).
    private readonly bool _gateway;
    private long _leftToProcessors;
    private readonly bool _gatewayFromBeginning;
    private readonly string? _instanceId; // static membership of the group (Cluster:InstanceId)

    public KafkaIngestService(
        IOptions<KafkaOptions> options,
        KafkaConnection connection,
        IExecutionIngest ingest,
        TimeProvider time,
        ILogger<KafkaIngestService> logger,
        IEnumerable<IDurableHold>? holds = null,
        OutputReleases? releases = null,
        IOptions<Hosting.ClusterOptions>? cluster = null)
    {
        _gateway = cluster?.Value.Role == Hosting.ClusterRole.Gateway;
        _gatewayFromBeginning = cluster?.Value.GatewayStart == Hosting.GatewayStart.Beginning;
        _instanceId = _gateway || string.IsNullOrEmpty(cluster?.Value.InstanceId) ? null : cluster.Value.InstanceId;
        _holds = holds?.ToArray() ?? [];
        _releases = releases;
        _options = options.Value;
        _parallel = new ParallelOptions { MaxDegreeOfParallelism = _options.ParseThreads };
        _connection = connection;
        _ingest = ingest;
        _time = time;
        _logger = logger;
    }

    /// <summary>Records consumed so far.</summary>
    public long Consumed => Interlocked.Read(ref _consumed);

    /// <summary>Records consumed and not yet safe to commit (an estimate read without the tracker's lock).</summary>
    internal int InFlight => _tracker.InFlightCount;

    /// <summary>Records sent to the dead-letter topic so far.</summary>
    public long DeadLettered => Interlocked.Read(ref _deadLettered);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _deadLetters = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig
        {
            BootstrapServers = _connection.BootstrapServers,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 5,
            MessageMaxBytes = Math.Max(1_000_000, _options.MaxRecordBytes * 4),
        }).SetErrorHandler((_, e) => KafkaLog.ClientError(_logger, e.Reason)).Build();
        DeclareAtStart();
        _thread = new Thread(RunUntilStopped) { IsBackground = true, Name = "execdist-kafka-ingest" };
        _thread.Start();
        KafkaLog.IngestStarted(_logger, string.Join(", ", _options.InputTopics), _options.ConsumerGroup, _connection.BootstrapServers);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping.Cancel();
        return Task.Run(() =>
        {
            _thread?.Join(TimeSpan.FromSeconds(15));
            _deadLetters?.Flush(TimeSpan.FromSeconds(5));
        }, CancellationToken.None);
    }

    public void Dispose()
    {
        // Registered as a singleton and as a hosted service: the container may dispose it twice.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _stopping.Cancel();
        _thread?.Join(TimeSpan.FromSeconds(5));
        _deadLetters?.Dispose();
        _stopping.Dispose();
    }

    /// <summary>
    /// Unhealthy until the consumer group has first assigned this instance its partitions (nothing is
    /// consumed before), and while the brokers are unreachable: a client error newer than the last
    /// success (a record consumed or partitions assigned) and recent (librdkafka repeats its errors while
    /// an outage lasts).
    /// </summary>
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object> { ["consumed"] = Consumed, ["dead_lettered"] = DeadLettered, ["in_flight"] = _tracker.InFlightCount, ["role"] = _gateway ? "gateway" : "group" };
        if (_gateway)
        {
            data["invalid_left_to_processors"] = Interlocked.Read(ref _leftToProcessors);
        }

        var lastError = Interlocked.Read(ref _lastErrorTimestamp);
        var failing = lastError > Interlocked.Read(ref _lastSuccessTimestamp) && _time.GetElapsedTime(lastError) < ErrorsStayRelevantFor;
        return Task.FromResult(
            failing ? HealthCheckResult.Unhealthy($"Kafka unreachable: {Volatile.Read(ref _lastError)}", data: data)
            : Volatile.Read(ref _assignedOnce) == 0 ? HealthCheckResult.Unhealthy($"waiting for the consumer group to assign partitions of {string.Join(", ", _options.InputTopics)}", data: data)
            : HealthCheckResult.Healthy(data: data));
    }

    // Nothing may take the host down from this thread: a failure of the consumer (a bad setting, a
    // fatal client error) is logged, reported unhealthy, and the consumer is built again after a backoff.
    // Records not yet safe are re-read from the last committed offsets.
    private void RunUntilStopped()
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                Run();
                return;
            }
            catch (Exception ex) when (!_stopping.IsCancellationRequested)
            {
                OnError(new Error(ErrorCode.Local_Fail, ex.Message));
                KafkaLog.ConsumerFailed(_logger, ex, (int)backoff.TotalMilliseconds);
                _tracker.Forget(_tracker.Partitions);
                _stopping.Token.WaitHandle.WaitOne(backoff);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            }
        }
    }

    private void Run()
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = _connection.BootstrapServers,
            GroupId = _gateway ? $"{_options.ConsumerGroup}-gateway-{Guid.NewGuid():N}" : _options.ConsumerGroup, // a gateway's is never joined
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = !_gateway,
            EnableAutoOffsetStore = false, // only safe offsets are stored, then committed
            AutoCommitIntervalMs = (int)_options.CommitInterval.TotalMilliseconds,
            GroupInstanceId = _instanceId,
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
            SessionTimeoutMs = (int)_options.SessionTimeout.TotalMilliseconds,
            HeartbeatIntervalMs = Math.Max(100, (int)_options.SessionTimeout.TotalMilliseconds / 3),
            MaxPartitionFetchBytes = Math.Max(1_048_576, _options.MaxRecordBytes * 4),
            FetchMaxBytes = Math.Max(52_428_800, _options.MaxRecordBytes * 8),
            FetchWaitMaxMs = (int)_options.FetchWaitMax.TotalMilliseconds,
        };

        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config)
            .SetErrorHandler((_, e) => OnError(e))
            .SetPartitionsAssignedHandler((c, partitions) =>
            {
                DeclareStarts(c, partitions);
                Interlocked.Exchange(ref _lastSuccessTimestamp, _time.GetTimestamp());
                Volatile.Write(ref _assignedOnce, 1);
                KafkaLog.PartitionsAssigned(_logger, string.Join(", ", partitions.Select(p => $"{p.Topic}/{p.Partition.Value}")));
            })
            .SetPartitionsRevokedHandler((c, partitions) =>
            {
                // Before giving partitions up: let the parse stage hand over and track everything consumed
                // (it then stands still: this thread is the only producer of batches), store and commit
                // what is safe; the rest is re-read by the new owner.
                _pipeline?.Drain(_stopping.Token);
                lock (_trackerGate)
                {
                    StoreSafeOffsets(c);
                    CommitStored(c);
                    _tracker.Forget(partitions.Select(p => p.TopicPartition));
                }

                KafkaLog.PartitionsRevoked(_logger, string.Join(", ", partitions.Select(p => $"{p.Topic}/{p.Partition.Value}")));
            })
            .SetPartitionsLostHandler((_, partitions) =>
            {
                _pipeline?.Drain(_stopping.Token);
                lock (_trackerGate)
                {
                    _tracker.Forget(partitions.Select(p => p.TopicPartition));
                }
            })
            .Build();
        if (_gateway)
        {
            AssignAll(consumer);
        }
        else
        {
            consumer.Subscribe(_options.InputTopics);
        }

        // Two stages overlap: this thread consumes batches; the parse thread parses each (in parallel on
        // Kafka:ParseThreads threads when large enough), hands its events to the core strictly in
        // consumption order (per-partition order holds), tracks them and stores safe offsets. At most
        // PipelineDepth batches are between the two: when the parse stage is behind, consuming waits.
        using var pipeline = new IngestPipeline(this, consumer);
        var backoff = 100;
        try
        {
            while (!_stopping.IsCancellationRequested)
            {
                pipeline.ThrowIfFaulted();
                var batch = pipeline.TakeFree(_stopping.Token);
                try
                {
                    // Take what librdkafka has already fetched, up to a batch: one hand-off and one
                    // dispatcher wake-up for all of it (a wake-up per record would cost more than the record).
                    var record = consumer.Consume(TimeSpan.FromMilliseconds(100));
                    while (record is not null)
                    {
                        if (!record.IsPartitionEOF)
                        {
                            batch.Records[batch.Count++] = record;
                        }

                        record = batch.Count < MaxRecordsPerWake ? consumer.Consume(TimeSpan.Zero) : null;
                    }

                    backoff = 100;
                }
                catch (ConsumeException ex)
                {
                    // The partition goes on: the consumer keeps its position and retries with backoff.
                    OnError(ex.Error);
                    KafkaLog.ConsumeFailed(_logger, ex.Error.Reason, backoff);
                    _stopping.Token.WaitHandle.WaitOne(backoff);
                    backoff = Math.Min(backoff * 2, 5_000);
                }

                pipeline.Submit(batch);
                MeasureLag(consumer);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            Debug.WriteLine("ingest stopping while waiting for the parse stage");
        }
        finally
        {
            // Orderly stop: let the parse stage finish what was consumed, give in-flight outputs a
            // moment, then commit what is safe and leave the group.
            pipeline.Complete();
            var deadline = _time.GetTimestamp() + (long)(_time.TimestampFrequency * 5);
            while (_tracker.InFlightCount > 0 && _time.GetTimestamp() < deadline)
            {
                StoreSafeOffsets(consumer);
                Thread.Sleep(10);
            }

            StoreSafeOffsets(consumer);
            CommitStored(consumer);
            consumer.Close();
        }
    }

    private void ParseBatch(ConsumedBatch batch)
    {
        if (batch.Count >= ParallelParseThreshold && _options.ParseThreads > 1)
        {
            Parallel.For(0, batch.Count, _parallel, i => batch.Parsed[i] = Parse(batch.Records[i]));
        }
        else
        {
            for (var i = 0; i < batch.Count; i++)
            {
                batch.Parsed[i] = Parse(batch.Records[i]);
            }
        }
    }

    // Any thread: the record's event, or why it goes to the dead-letter topic.
    private Parsed Parse(ConsumeResult<byte[]?, byte[]?> record)
    {
        var value = record.Message.Value;
        if (value is null || value.Length == 0)
        {
            return new Parsed(null, "empty value: a record must carry one execution event as JSON");
        }

        if (value.Length > _options.MaxRecordBytes)
        {
            return new Parsed(null, $"value of {value.Length} bytes exceeds Kafka:MaxRecordBytes ({_options.MaxRecordBytes})");
        }

        var parsed = ExecutionEventParser.Parse(value);
        return parsed.IsValid ? new Parsed(parsed.Event, null) : new Parsed(null, Describe(parsed.Problems));
    }

    private void Handle(ConsumeResult<byte[]?, byte[]?> record, Parsed parsed)
    {
        Interlocked.Increment(ref _consumed);
        if (parsed.Reason is { } reason)
        {
            if (_gateway)
            {
                Interlocked.Increment(ref _leftToProcessors); // the processors dead-letter it
                return;
            }

            DeadLetter(record, reason);
            return;
        }

        var e = parsed.Event!;
        e.Source = new SourcePosition(record.Topic, record.Partition.Value, record.Offset.Value);
        KafkaTracing.Ingest(record, e);
        if (!_gateway)
        {
            e.PendingOutputs = _options.OutputEnabled ? 1 : 0;
            _tracker.Track(record.TopicPartition, record.Offset.Value, e);
        }

        if (!_ingest.TryPublishWithoutWake(e))
        {
            // Full: back-pressure. Wake the dispatcher for what is queued, then wait for room.
            _ingest.WakeDispatcher();
            _ingest.PublishAsync(e, _stopping.Token).AsTask().GetAwaiter().GetResult();
        }
    }

    private void DeadLetter(ConsumeResult<byte[]?, byte[]?> record, string reason)
    {
        Interlocked.Increment(ref _deadLettered);
        KafkaLog.DeadLettered(_logger, record.Topic, record.Partition.Value, record.Offset.Value, reason);
        var ack = new DeadLetterAck();
        _tracker.Track(record.TopicPartition, record.Offset.Value, ack);
        // The record's own headers first, as they were (a replay from the dead-letter topic gives them
        // back), then why and where from: the last header of a name is this dead letter's.
        var headers = new Headers();
        foreach (var header in record.Message.Headers ?? [])
        {
            headers.Add(header.Key, header.GetValueBytes());
        }

        headers.Add("dlq.reason", Encoding.UTF8.GetBytes(reason));
        headers.Add("dlq.source.topic", Encoding.UTF8.GetBytes(record.Topic));
        headers.Add("dlq.source.partition", Encoding.UTF8.GetBytes(record.Partition.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        headers.Add("dlq.source.offset", Encoding.UTF8.GetBytes(record.Offset.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        headers.Add("dlq.time", Encoding.UTF8.GetBytes(Timestamps.UtcNow(_time).ToString(Timestamps.WireFormat, System.Globalization.CultureInfo.InvariantCulture)));
        var message = new Message<byte[]?, byte[]?> { Key = record.Message.Key, Value = record.Message.Value, Headers = headers };
        ProduceDeadLetter(message, ack, attempt: 0);
    }

    private void ProduceDeadLetter(Message<byte[]?, byte[]?> message, DeadLetterAck ack, int attempt)
    {
        try
        {
            _deadLetters!.Produce(_options.DeadLetterTopic, message, report =>
            {
                if (report.Error.IsError)
                {
                    // Never dropped: retry until Kafka takes it; the input offset stays uncommitted meanwhile.
                    KafkaLog.PublishFailed(_logger, _options.DeadLetterTopic, report.Error.Reason);
                    _ = RetryLaterAsync(() => ProduceDeadLetter(message, ack, attempt + 1), attempt);
                }
                else
                {
                    ack.Acknowledge();
                }
            });
        }
        catch (ProduceException<byte[]?, byte[]?> ex)
        {
            KafkaLog.PublishFailed(_logger, _options.DeadLetterTopic, ex.Error.Reason);
            _ = RetryLaterAsync(() => ProduceDeadLetter(message, ack, attempt + 1), attempt);
        }
    }

    private async Task RetryLaterAsync(Action retry, int attempt)
    {
        await Task.Delay(Math.Min(100 << Math.Min(attempt, 6), 5_000), CancellationToken.None).ConfigureAwait(false);
        retry();
    }

    // The lowest position some part still needs from Kafka (durable subscriptions, the order store).
    private long HeldFrom()
    {
        if (_holds.Length == 0 || _ingest is not FanOutDispatcher core)
        {
            return long.MaxValue;
        }

        var floor = long.MaxValue;
        foreach (var hold in _holds)
        {
            floor = Math.Min(floor, hold.SafeBefore(core.LogEpoch, core.Tail));
        }

        return floor;
    }

    // The parse stage every 100 ms, the consume thread in a rebalance (after a drain) and when stopping.
    private void StoreSafeOffsets(IConsumer<byte[]?, byte[]?> consumer)
    {
        lock (_trackerGate)
        {
            StoreSafeOffsetsLocked(consumer);
        }
    }

    private void StoreSafeOffsetsLocked(IConsumer<byte[]?, byte[]?> consumer)
    {
        if (_gateway)
        {
            return; // nothing is committed
        }

        if (_releases?.TakeAll() is { Count: > 0 } released)
        {
            _tracker.ReleaseOutputs(released);
        }

        foreach (var offset in _tracker.TakeSafeOffsets(HeldFrom()))
        {
            try
            {
                consumer.StoreOffset(offset);
            }
            catch (KafkaException ex)
            {
                // The partition was revoked meanwhile; its new owner re-reads from the last commit.
                KafkaLog.CommitFailed(_logger, ex.Error.Reason);
            }
        }
    }

    private void CommitStored(IConsumer<byte[]?, byte[]?> consumer)
    {
        if (_gateway)
        {
            return;
        }

        try
        {
            consumer.Commit();
        }
        catch (KafkaException ex) when (ex.Error.Code == ErrorCode.Local_NoOffset)
        {
            Debug.WriteLine("nothing to commit");
        }
        catch (KafkaException ex)
        {
            KafkaLog.CommitFailed(_logger, ex.Error.Reason);
        }
    }

    private void OnError(Error error)
    {
        Volatile.Write(ref _lastError, error.Reason);
        Interlocked.Exchange(ref _lastErrorTimestamp, _time.GetTimestamp());
        KafkaLog.ClientError(_logger, error.Reason);
    }

    private static string Describe(IReadOnlyList<ValidationProblem> problems)
    {
        var quoted = string.Join("; ", problems.Take(MaxProblemsInReason).Select(p => p.ToString()));
        return problems.Count > MaxProblemsInReason ? $"invalid event: {quoted}; and {problems.Count - MaxProblemsInReason} more" : $"invalid event: {quoted}";
    }

    /// <summary>A record parsed: its event, or the reason it is dead-lettered.</summary>
    private readonly record struct Parsed(ExecutionEvent? Event, string? Reason);
}
