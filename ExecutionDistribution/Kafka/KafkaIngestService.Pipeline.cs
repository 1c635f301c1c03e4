using System.Diagnostics;
using Confluent.Kafka;

namespace ExecutionDistribution.Kafka;

/// <summary>The parse stage between the consume thread and the dispatch core.</summary>
internal sealed partial class KafkaIngestService
{
    /// <summary>Up to <see cref="MaxRecordsPerWake"/> consumed records and, once parsed, their events.</summary>
    private sealed class ConsumedBatch
    {
        public ConsumeResult<byte[]?, byte[]?>[] Records { get; } = new ConsumeResult<byte[]?, byte[]?>[MaxRecordsPerWake];

        public Parsed[] Parsed { get; } = new Parsed[MaxRecordsPerWake];

        public int Count { get; set; }

        public void Clear()
        {
            Array.Clear(Records, 0, Count);
            Array.Clear(Parsed, 0, Count);
            Count = 0;
        }
    }

    /// <summary>
    /// The parse stage of one consumer: a thread that takes consumed batches in order, parses them,
    /// hands their events to the core, tracks them and stores the safe offsets (every 100 ms, also
    /// when idle). From the consume thread's side: <see cref="TakeFree"/>, <see cref="Submit"/>,
    /// <see cref="Drain"/> (rebalance) and <see cref="Complete"/> (stop). While the stage runs, only it
    /// touches the tracker; the consume thread does after a drain or once the stage has ended.
    /// </summary>
    private sealed class IngestPipeline : IDisposable
    {
        private readonly KafkaIngestService _owner;
        private readonly IConsumer<byte[]?, byte[]?> _consumer;
        private readonly System.Collections.Concurrent.BlockingCollection<ConsumedBatch> _free = new(PipelineDepth);
        private readonly System.Collections.Concurrent.BlockingCollection<ConsumedBatch> _full = new(PipelineDepth);
        private readonly Thread _thread;
        private readonly long _storeEvery;
        private int _inFlight;
        private Exception? _fault;

        public IngestPipeline(KafkaIngestService owner, IConsumer<byte[]?, byte[]?> consumer)
        {
            _owner = owner;
            _consumer = consumer;
            _storeEvery = (long)(owner._time.TimestampFrequency * Math.Min(owner._options.CommitInterval.TotalSeconds, 0.1));
            for (var i = 0; i < PipelineDepth; i++)
            {
                _free.Add(new ConsumedBatch());
            }

            _thread = new Thread(Run) { IsBackground = true, Name = "execdist-kafka-parse" };
            _thread.Start();
            owner._pipeline = this;
        }

        public void ThrowIfFaulted()
        {
            if (Volatile.Read(ref _fault) is { } fault)
            {
                throw new InvalidOperationException("the Kafka parse stage failed", fault);
            }
        }

        public ConsumedBatch TakeFree(CancellationToken stopping)
        {
            ConsumedBatch? batch;
            while (!_free.TryTake(out batch, 100, stopping))
            {
                ThrowIfFaulted();
            }

            return batch;
        }

        public void Submit(ConsumedBatch batch)
        {
            if (batch.Count == 0)
            {
                _free.Add(batch);
                return;
            }

            Interlocked.Increment(ref _inFlight);
            _full.Add(batch);
        }

        /// <summary>Consume thread: waits until every submitted batch has been handed over and tracked.</summary>
        public void Drain(CancellationToken stopping)
        {
            var spinner = default(SpinWait);
            while (Volatile.Read(ref _inFlight) > 0 && Volatile.Read(ref _fault) is null && !stopping.IsCancellationRequested)
            {
                spinner.SpinOnce(sleep1Threshold: 20);
            }
        }

        /// <summary>Consume thread, stopping: the stage finishes what was submitted, then ends.</summary>
        public void Complete()
        {
            _full.CompleteAdding();
            _thread.Join(TimeSpan.FromSeconds(15));
            _owner._pipeline = null;
        }

        public void Dispose()
        {
            if (!_full.IsAddingCompleted)
            {
                Complete();
            }

            _free.Dispose();
            _full.Dispose();
        }

        private void Run()
        {
            var nextStore = _owner._time.GetTimestamp() + _storeEvery;
            try
            {
                while (!_full.IsCompleted)
                {
                    if (_full.TryTake(out var batch, 100))
                    {
                        Handle(batch);
                    }

                    if (_owner._time.GetTimestamp() >= nextStore)
                    {
                        _owner.StoreSafeOffsets(_consumer);
                        nextStore = _owner._time.GetTimestamp() + _storeEvery;
                    }
                }
            }
            catch (OperationCanceledException) when (_owner._stopping.IsCancellationRequested)
            {
                Debug.WriteLine("parse stage stopping while waiting for room in the ingest queue");
            }
            catch (Exception ex)
            {
                // The consume thread rethrows it: the consumer is built again and re-reads from the last commit.
                Volatile.Write(ref _fault, ex);
            }
        }

        private void Handle(ConsumedBatch batch)
        {
            _owner.ParseBatch(batch);
            for (var i = 0; i < batch.Count; i++)
            {
                _owner.Handle(batch.Records[i], batch.Parsed[i]);
            }

            _owner._ingest.WakeDispatcher();
            Interlocked.Exchange(ref _owner._lastSuccessTimestamp, _owner._time.GetTimestamp());
            batch.Clear();
            _free.Add(batch);
            Interlocked.Decrement(ref _inFlight);
        }
    }
}
