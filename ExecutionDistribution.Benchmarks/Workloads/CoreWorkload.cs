using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using ExecutionDistribution.Benchmarks.Support;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;

namespace ExecutionDistribution.Benchmarks.Workloads;

/// <summary>Settings of one W1/W2 invocation (command-line flags).</summary>
public sealed record CoreWorkloadSettings(
    string Workload,
    int Runs,
    double WarmupSeconds,
    double MeasureSeconds,
    ulong Seed,
    int DistinctEvents,
    double LatencyFraction,
    bool IncludeBaseline,
    string? JsonPath,
    int MaxPoolThreads,
    int DispatchBatch,
    bool YieldPacing,
    bool IncludeAsyncReaders,
    int DeliveryThreads,
    int SubscriberLimit,
    int BufferCapacity)
{
    /// <summary>Parses <c>--runs 3 --seconds 5 --warmup 2 --seed 42 --events 262144 --latency-fraction 0.5 --no-baseline --json file</c>.</summary>
    public static CoreWorkloadSettings Parse(string workload, string[] args)
    {
        double D(string name, double fallback) => args.Option(name) is { } v ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
        return new CoreWorkloadSettings(
            workload,
            (int)D("--runs", 3),
            D("--warmup", 2),
            D("--seconds", 5),
            (ulong)D("--seed", 42),
            (int)D("--events", 1 << 19),
            D("--latency-fraction", 0.5),
            !args.Contains("--no-baseline"),
            args.Option("--json"),
            (int)D("--max-pool-threads", 0),
            (int)D("--dispatch-batch", new DistributionOptions().DispatchBatchSize),
            args.Contains("--yield-pacing"),
            !args.Contains("--no-async-readers"),
            (int)D("--delivery-threads", new DistributionOptions().DeliveryThreads),
            (int)D("--subscribers", int.MaxValue),
            (int)D("--buffer-capacity", new DistributionOptions().SubscriberBufferCapacity));
    }
}

/// <summary>What one variant measured in one run.</summary>
public sealed record CoreResult(
    string Variant,
    double EventsPerSecond,
    double DeliveriesPerSecond,
    double DeliveriesPerEvent,
    double AllocatedBytesPerEvent,
    double CpuMicrosPerEvent,
    int Gen0,
    int Gen1,
    int Gen2,
    double LatencyOfferedRate,
    double LatencyAchievedRate,
    double P50Micros,
    double P90Micros,
    double P99Micros,
    double P999Micros,
    double MaxMicros,
    long Dropped,
    long CatchUps,
    double WakeP50Micros,
    double WakeP99Micros);

/// <summary>
/// Workloads W1 (1,000 standard subscribers) and W2 (broadcast to 1,000) of ../shared/BENCHMARKS.md:
/// events handed straight to the dispatch core, subscribers reading their in-process queues. Measures
/// the maximum events/s and deliveries/s, bytes allocated per event in steady state, then latency
/// from hand-off to subscriber read at a fraction (default half) of that maximum. Each run measures
/// the baseline design beside ours: per-subscriber System.Threading.Channels with a reader task each,
/// fed through the same routing index (the design card's first choice, ../shared/DESIGN.md).
/// </summary>
public static class CoreWorkload
{
    private static readonly double NanosPerTick = 1e9 / Stopwatch.Frequency;

    /// <summary>Runs the workload and prints per-run figures, medians and the ratio to the baseline.</summary>
    public static int Run(CoreWorkloadSettings settings)
    {
        if (settings.MaxPoolThreads > 0)
        {
            ThreadPool.GetMaxThreads(out _, out var io);
            ThreadPool.SetMinThreads(1, 1);
            ThreadPool.SetMaxThreads(settings.MaxPoolThreads, io);
        }

        Console.WriteLine($"# {settings.Workload.ToUpperInvariant()} core workload: seed {settings.Seed}, {settings.Runs} runs, {settings.MeasureSeconds}s windows, {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        var stream = new SyntheticExecutionStream(settings.Seed);
        var subscribers = settings.Workload == "w2" ? StandardSubscribers.Broadcast() : StandardSubscribers.Standard(stream, settings.Seed);
        subscribers = [.. subscribers.Take(settings.SubscriberLimit)];
        var events = new ExecutionEvent[settings.DistinctEvents];
        for (var i = 0; i < events.Length; i++)
        {
            events[i] = stream.Next();
        }

        Console.WriteLine($"# {events.Length} distinct events generated, {subscribers.Count} subscribers");
        var results = new List<CoreResult>();
        for (var run = 1; run <= settings.Runs; run++)
        {
            if (settings.IncludeBaseline)
            {
                var baseline = RunOnce(new ChannelsVariant(subscribers, settings), events, settings);
                Print(run, baseline);
                results.Add(baseline);
            }

            if (settings.IncludeAsyncReaders)
            {
                var pull = RunOnce(new RingVariant(subscribers, settings, push: false), events, settings);
                Print(run, pull);
                results.Add(pull);
            }

            var ours = RunOnce(new RingVariant(subscribers, settings, push: true), events, settings);
            Print(run, ours);
            results.Add(ours);
        }

        Console.WriteLine();
        Console.WriteLine("## Medians");
        var medians = results.GroupBy(r => r.Variant).Select(g => Median(g.Key, [.. g])).ToList();
        foreach (var m in medians)
        {
            Print(0, m);
        }

        if (settings.IncludeBaseline && medians.Count >= 2)
        {
            var b = medians[0];
            foreach (var o in medians.Skip(1))
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"ratio {o.Variant} / {b.Variant}: events/s {o.EventsPerSecond / b.EventsPerSecond:0.00}x, cpu/event {o.CpuMicrosPerEvent / Math.Max(b.CpuMicrosPerEvent, 1e-9):0.00}x, p99 {o.P99Micros / Math.Max(b.P99Micros, 1e-9):0.00}x"));
            }
        }

        if (settings.JsonPath is { } path)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            ResultFiles.Write(path, new
            {
                workload = settings.Workload,
                settings,
                machine = new { cores = Environment.ProcessorCount, os = Environment.OSVersion.ToString(), dotnet = Environment.Version.ToString() },
                runs = results,
                medians,
            });
            Console.WriteLine($"# written {path}");
        }

        return 0;
    }

    private static CoreResult RunOnce(IVariant variant, ExecutionEvent[] events, CoreWorkloadSettings settings)
    {
        using (variant)
        {
            variant.Start();

            // Phase 1: saturate with one producer thread, measure after a warm-up.
            var producer = new Producer(variant, events, settings.YieldPacing);
            producer.Start(rate: 0);
            Thread.Sleep(TimeSpan.FromSeconds(settings.WarmupSeconds));
            GC.Collect();
            var (gen0, gen1, gen2) = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
            var allocated = GC.GetTotalAllocatedBytes(precise: true);
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var (ingested, delivered) = (variant.Ingested, variant.Delivered);
            var clock = Stopwatch.StartNew();
            Thread.Sleep(TimeSpan.FromSeconds(settings.MeasureSeconds));
            var seconds = clock.Elapsed.TotalSeconds;
            var (ingestedEnd, deliveredEnd) = (variant.Ingested, variant.Delivered);
            var allocatedEnd = GC.GetTotalAllocatedBytes(precise: true);
            var cpuEnd = Process.GetCurrentProcess().TotalProcessorTime;
            var gens = (GC.CollectionCount(0) - gen0, GC.CollectionCount(1) - gen1, GC.CollectionCount(2) - gen2);
            producer.Stop();
            variant.WaitIdle(TimeSpan.FromSeconds(30));

            var eventsPerSecond = (ingestedEnd - ingested) / seconds;
            var deliveriesPerSecond = (deliveredEnd - delivered) / seconds;
            var bytesPerEvent = (allocatedEnd - allocated) / (double)Math.Max(1, ingestedEnd - ingested);

            // CPU of the whole process (producer, dispatcher, readers) per event: steadier than events/s on a shared machine.
            var cpuPerEvent = (cpuEnd - cpu).TotalMicroseconds / Math.Max(1, ingestedEnd - ingested);

            // Phase 2: latency at a fixed offered rate, a fraction of the measured maximum.
            var rate = eventsPerSecond * settings.LatencyFraction;
            var paced = new Producer(variant, events, settings.YieldPacing);
            paced.Start(rate);
            Thread.Sleep(TimeSpan.FromSeconds(Math.Min(1, settings.WarmupSeconds)));
            var windowStart = Stopwatch.GetTimestamp();
            var pacedIngested = variant.Ingested;
            variant.RecordFrom(windowStart);
            var probe = WakeProbe.Start();
            Thread.Sleep(TimeSpan.FromSeconds(settings.MeasureSeconds));
            var wakes = probe.Stop();
            var achieved = (variant.Ingested - pacedIngested) / Stopwatch.GetElapsedTime(windowStart).TotalSeconds;
            variant.RecordFrom(long.MaxValue);
            paced.Stop();
            Console.WriteLine($"#   paced generator: largest burst {paced.MaxBurst} events, {paced.LargeBursts} bursts of 1,024 or more");
            variant.WaitIdle(TimeSpan.FromSeconds(30));
            var histogram = variant.Latencies();

            return new CoreResult(
                variant.Name,
                eventsPerSecond,
                deliveriesPerSecond,
                deliveriesPerSecond / Math.Max(1, eventsPerSecond),
                bytesPerEvent,
                cpuPerEvent,
                gens.Item1,
                gens.Item2,
                gens.Item3,
                rate,
                achieved,
                histogram.Percentile(50) / 1_000.0,
                histogram.Percentile(90) / 1_000.0,
                histogram.Percentile(99) / 1_000.0,
                histogram.Percentile(99.9) / 1_000.0,
                histogram.Max / 1_000.0,
                variant.Dropped,
                variant.CatchUps,
                wakes.Percentile(50) / 1_000.0,
                wakes.Percentile(99) / 1_000.0);
        }
    }

    private static CoreResult Median(string variant, CoreResult[] runs)
    {
        double M(Func<CoreResult, double> f)
        {
            var values = runs.Select(f).Order().ToArray();
            return values.Length % 2 == 1 ? values[values.Length / 2] : (values[(values.Length / 2) - 1] + values[values.Length / 2]) / 2;
        }

        return new CoreResult(variant + " (median)", M(r => r.EventsPerSecond), M(r => r.DeliveriesPerSecond), M(r => r.DeliveriesPerEvent),
            M(r => r.AllocatedBytesPerEvent), M(r => r.CpuMicrosPerEvent), (int)M(r => r.Gen0), (int)M(r => r.Gen1), (int)M(r => r.Gen2), M(r => r.LatencyOfferedRate),
            M(r => r.LatencyAchievedRate), M(r => r.P50Micros), M(r => r.P90Micros), M(r => r.P99Micros), M(r => r.P999Micros), M(r => r.MaxMicros),
            (long)M(r => r.Dropped), (long)M(r => r.CatchUps), M(r => r.WakeP50Micros), M(r => r.WakeP99Micros));
    }

    private static void Print(int run, CoreResult r) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{(run > 0 ? $"run {run} " : string.Empty)}{r.Variant,-22} events/s {r.EventsPerSecond,12:N0}  deliveries/s {r.DeliveriesPerSecond,13:N0}  ({r.DeliveriesPerEvent:0.00}/event)  " +
        $"alloc {r.AllocatedBytesPerEvent,7:0.0} B/event  cpu {r.CpuMicrosPerEvent,5:0.00} us/event  gc {r.Gen0}/{r.Gen1}/{r.Gen2}  | at {r.LatencyAchievedRate,10:N0}/s: p50 {r.P50Micros,8:0.0} us  p90 {r.P90Micros,8:0.0} us  p99 {r.P99Micros,8:0.0} us  " +
        $"p99.9 {r.P999Micros,8:0.0} us  max {r.MaxMicros,9:0.0} us  | wake-up lateness p50 {r.WakeP50Micros:0} us p99 {r.WakeP99Micros:0} us  | dropped {r.Dropped} catch-ups {r.CatchUps}"));

    /// <summary>One design under test.</summary>
    private interface IVariant : IDisposable
    {
        string Name { get; }

        long Ingested { get; }

        long Delivered { get; }

        long Dropped { get; }

        long CatchUps { get; }

        void Start();

        bool TryPublish(ExecutionEvent e);

        void RecordFrom(long timestamp);

        void WaitIdle(TimeSpan timeout);

        LatencyHistogram Latencies();

        /// <summary>The deepest subscriber backlog (events queued but not read), or a large value while any catches up.</summary>
        long MaxBacklog();
    }

    /// <summary>
    /// The machine's own wake-up latency during the latency window, measured beside ours: a thread that
    /// sleeps for a millisecond in a loop records how late each wake-up comes. Every hop of an
    /// event-driven pipeline (producer to dispatcher, dispatcher to reader) is such a wake-up, so its
    /// p99 is a floor under the p99 from hand-off to read for any design whose threads park when idle.
    /// </summary>
    private sealed class WakeProbe
    {
        private readonly LatencyHistogram _lateness = new();
        private volatile bool _stop;
        private Thread? _thread;

        public static WakeProbe Start()
        {
            var probe = new WakeProbe();
            probe._thread = new Thread(probe.Run) { IsBackground = true, Name = "wake-probe" };
            probe._thread.Start();
            return probe;
        }

        public LatencyHistogram Stop()
        {
            _stop = true;
            _thread!.Join();
            return _lateness;
        }

        private void Run()
        {
            var nominal = (long)(1_000_000 / NanosPerTick);
            while (!_stop)
            {
                var before = Stopwatch.GetTimestamp();
                Thread.Sleep(1);
                var late = Stopwatch.GetTimestamp() - before - nominal;
                _lateness.Record((long)(Math.Max(0, late) * NanosPerTick));
            }
        }
    }

    /// <summary>Publishes the pre-generated events cyclically, at full speed (rate 0) or paced.</summary>
    private sealed class Producer(IVariant variant, ExecutionEvent[] events, bool yieldPacing)
    {
        private const long MaxBacklogBeforeWaiting = 4_096;

        private volatile bool _stop;
        private Thread? _thread;

        /// <summary>The largest number of events released at once (a measure of the generator's own burstiness).</summary>
        public long MaxBurst { get; private set; }

        /// <summary>Bursts of 1,024 events or more.</summary>
        public long LargeBursts { get; private set; }

        public void Start(double rate)
        {
            _thread = new Thread(() => Run(rate)) { IsBackground = true, Name = "producer" };
            _thread.Start();
        }

        public void Stop()
        {
            _stop = true;
            _thread!.Join();
        }

        private void Run(double rate)
        {
            var started = Stopwatch.GetTimestamp();
            long published = 0;
            var i = 0;
            while (!_stop)
            {
                var owed = rate <= 0 ? published + 64 : (long)(Stopwatch.GetElapsedTime(started).TotalSeconds * rate);
                if (published >= owed)
                {
                    // Paced: publish what is owed in bursts about a millisecond apart, sleeping between them,
                    // so the load generator does not occupy one of the machine's two cores.
                    if (yieldPacing)
                    {
                        Thread.Yield();
                    }
                    else
                    {
                        Thread.Sleep(1);
                    }

                    continue;
                }

                // Saturation is measured as the highest rate every subscriber sustains: every 1,024 events the
                // producer checks the deepest subscriber backlog and waits while it exceeds half a buffer
                // (otherwise readers fall behind without bound and the figure is an ingest rate, not delivery).
                if (rate <= 0 && (published & 1_023) == 0)
                {
                    while (!_stop && variant.MaxBacklog() > MaxBacklogBeforeWaiting)
                    {
                        Thread.Sleep(1);
                    }
                }

                if (rate > 0)
                {
                    var burst = owed - published;
                    MaxBurst = Math.Max(MaxBurst, burst);
                    LargeBursts += burst >= 1_024 ? 1 : 0;
                }

                while (published < owed && !_stop)
                {
                    var e = events[i];
                    // The set of events is cycled: each goes in again unstamped, as a fresh event would.
                    e.Position = -1;
                    e.IngestTimestamp = 0;
                    if (!variant.TryPublish(e))
                    {
                        // Full: the core is saturated. Sleep rather than spin, so the producer does not
                        // take a core from the dispatcher and readers (the queue holds ~16 ms of events).
                        Thread.Sleep(1);
                        continue;
                    }

                    published++;
                    i = i + 1 == events.Length ? 0 : i + 1;
                }
            }
        }
    }

    /// <summary>
    /// Ours: the <see cref="FanOutDispatcher"/> with SPSC rings, either read on the core's delivery
    /// loops (how client connections consume) or with one async reader task per subscriber.
    /// </summary>
    private sealed class RingVariant : IVariant
    {
        private readonly FanOutDispatcher _core;
        private readonly List<SubscriberDefinition> _definitions;
        private readonly List<(Subscriber Subscriber, LatencyHistogram Histogram, Task Loop)> _readers = [];
        private readonly bool _push;
        private long _recordFrom = long.MaxValue;

        public RingVariant(List<SubscriberDefinition> definitions, CoreWorkloadSettings settings, bool push)
        {
            _definitions = definitions;
            _push = push;
            _core = new FanOutDispatcher(CoreOptions(settings), TimeProvider.System);
        }

        public string Name => _push ? "ring + delivery loops" : "ring + async readers";

        public long Ingested => _core.GetStats().Ingested;

        public long Delivered => _readers.Sum(r => r.Subscriber.Delivered);

        public long Dropped => _readers.Sum(r => r.Subscriber.Dropped + r.Subscriber.LostPositions);

        public long CatchUps => _readers.Sum(r => r.Subscriber.CatchUps);

        public void Start()
        {
            _core.Start();
            foreach (var d in _definitions)
            {
                var h = new LatencyHistogram();
                if (_push)
                {
                    var reader = LoopReader.Subscribe(_core, d.Id, d.Filter, batch => Record(h, batch));
                    _readers.Add((reader.Subscriber, h, Task.CompletedTask));
                    continue;
                }

                var s = _core.Subscribe(d.Id, d.Filter, DeliveryGuarantee.AtLeastOnce);
                _readers.Add((s, h, Task.Run(() => ReadAsync(s, h))));
            }
        }

        private void Record(LatencyHistogram h, DeliveryBatch batch)
        {
            var now = Stopwatch.GetTimestamp();
            var from = Volatile.Read(ref _recordFrom);
            foreach (var d in batch.Deliveries)
            {
                var ts = d.Event.IngestTimestamp;
                if (ts >= from)
                {
                    h.Record((long)((now - ts) * NanosPerTick));
                }
            }
        }

        public bool TryPublish(ExecutionEvent e) => _core.TryPublish(e);

        public void RecordFrom(long timestamp) => Volatile.Write(ref _recordFrom, timestamp);

        public void WaitIdle(TimeSpan timeout)
        {
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < timeout && (_core.GetStats().IngestQueueDepth > 0 || _readers.Any(r => r.Subscriber.Backlog > 0 || r.Subscriber.IsCatchingUp)))
            {
                Thread.Sleep(10);
            }
        }

        public LatencyHistogram Latencies() => LatencyHistogram.Merge(_readers.Select(r => r.Histogram));

        public long MaxBacklog()
        {
            long max = 0;
            foreach (var r in _readers)
            {
                max = Math.Max(max, r.Subscriber.IsCatchingUp ? long.MaxValue : r.Subscriber.Backlog);
            }

            return max;
        }

        public void Dispose()
        {
            _core.StopAsync(TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();
            Task.WaitAll([.. _readers.Select(r => r.Loop)], TimeSpan.FromSeconds(10));
            _core.Dispose();
        }

        private async Task ReadAsync(Subscriber s, LatencyHistogram h)
        {
            var batch = new DeliveryBatch(256);
            while (await s.WaitToReadAsync())
            {
                while (s.TryReadBatch(batch))
                {
                    Record(h, batch);
                }
            }
        }
    }

    /// <summary>
    /// Baseline: the same ingest channel and routing index, then one bounded Channel per subscriber
    /// with a reader task each. A full channel cannot be waited on by the dispatcher without stalling
    /// everyone, so its writes that fail are counted as dropped.
    /// </summary>
    private sealed class ChannelsVariant : IVariant
    {
        private readonly FanOutDispatcher _registry;
        private readonly List<Subscriber> _subscribers = [];
        private readonly Channel<ExecutionEvent> _ingest;
        private readonly List<(Channel<ExecutionEvent> Channel, LatencyHistogram Histogram, Task Loop)> _readers = [];
        private readonly ChannelSink _sink = new();
        private readonly List<SubscriberDefinition> _definitions;
        private readonly int _bufferCapacity;
        private Thread? _dispatcher;
        private long _recordFrom = long.MaxValue;
        private long _ingested;
        private long[] _delivered = [];

        public ChannelsVariant(List<SubscriberDefinition> definitions, CoreWorkloadSettings settings)
        {
            _definitions = definitions;
            var options = CoreOptions(settings);
            _bufferCapacity = options.SubscriberBufferCapacity;
            _registry = new FanOutDispatcher(options, TimeProvider.System); // never started: only builds the routing index
            _ingest = Channel.CreateBounded<ExecutionEvent>(new BoundedChannelOptions(options.IngestQueueCapacity)
            {
                FullMode = BoundedChannelFullMode.Wait,
                SingleReader = true,
            });
        }

        public string Name => "channels (baseline)";

        public long Ingested => Volatile.Read(ref _ingested);

        public long Delivered
        {
            get
            {
                long sum = 0;
                for (var i = 0; i < _delivered.Length; i++)
                {
                    sum += Volatile.Read(ref _delivered[i]);
                }

                return sum;
            }
        }

        public long Dropped => Volatile.Read(ref _sink.Dropped);

        public long CatchUps => 0;

        public void Start()
        {
            _delivered = new long[_definitions.Count];
            var channels = new Channel<ExecutionEvent>[_definitions.Count];
            for (var i = 0; i < _definitions.Count; i++)
            {
                var s = _registry.Subscribe(_definitions[i].Id, _definitions[i].Filter, DeliveryGuarantee.AtLeastOnce);
                _subscribers.Add(s);
                var ch = Channel.CreateBounded<ExecutionEvent>(new BoundedChannelOptions(_bufferCapacity)
                {
                    FullMode = BoundedChannelFullMode.Wait,
                    SingleReader = true,
                    SingleWriter = true,
                });
                channels[i] = ch;
                _sink.Slots.Add(s, i);
                var h = new LatencyHistogram();
                var slot = i;
                _readers.Add((ch, h, Task.Run(() => ReadAsync(ch.Reader, h, slot))));
            }

            _sink.Channels = channels;
            _dispatcher = new Thread(Dispatch) { IsBackground = true, Name = "channels-dispatcher" };
            _dispatcher.Start();
        }

        public bool TryPublish(ExecutionEvent e)
        {
            e.IngestTimestamp = Stopwatch.GetTimestamp();
            return _ingest.Writer.TryWrite(e);
        }

        public void RecordFrom(long timestamp) => Volatile.Write(ref _recordFrom, timestamp);

        public void WaitIdle(TimeSpan timeout)
        {
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < timeout && (_ingest.Reader.Count > 0 || _readers.Any(r => r.Channel.Reader.Count > 0)))
            {
                Thread.Sleep(10);
            }
        }

        public LatencyHistogram Latencies() => LatencyHistogram.Merge(_readers.Select(r => r.Histogram));

        public long MaxBacklog()
        {
            long max = 0;
            foreach (var r in _readers)
            {
                max = Math.Max(max, r.Channel.Reader.Count);
            }

            return max;
        }

        public void Dispose()
        {
            _ingest.Writer.TryComplete();
            _dispatcher?.Join();
            foreach (var r in _readers)
            {
                r.Channel.Writer.TryComplete();
            }

            Task.WaitAll([.. _readers.Select(r => r.Loop)], TimeSpan.FromSeconds(10));
            _registry.Dispose();
        }

        private void Dispatch()
        {
            var reader = _ingest.Reader;
            var index = new RoutingIndex(_subscribers);
            var sink = _sink;
            long position = 0;
            while (true)
            {
                if (!reader.TryRead(out var e))
                {
                    var wait = reader.WaitToReadAsync();
                    if (!(wait.IsCompleted ? wait.Result : wait.AsTask().GetAwaiter().GetResult()))
                    {
                        return;
                    }

                    continue;
                }

                e.Position = position++;
                sink.Current = e;
                var s = new ChannelSinkRef(sink);
                index.Route(e, ref s);
                Volatile.Write(ref _ingested, _ingested + 1);
            }
        }

        private async Task ReadAsync(ChannelReader<ExecutionEvent> reader, LatencyHistogram h, int slot)
        {
            while (await reader.WaitToReadAsync())
            {
                var now = Stopwatch.GetTimestamp();
                var from = Volatile.Read(ref _recordFrom);
                long n = 0;
                while (reader.TryRead(out var e))
                {
                    n++;
                    if (e.IngestTimestamp >= from)
                    {
                        h.Record((long)((now - e.IngestTimestamp) * NanosPerTick));
                    }
                }

                Volatile.Write(ref _delivered[slot], _delivered[slot] + n);
            }
        }

        private sealed class ChannelSink
        {
            public Channel<ExecutionEvent>[] Channels = [];
            public readonly Dictionary<Subscriber, int> Slots = new(ReferenceEqualityComparer.Instance);
            public long Dropped;
            public ExecutionEvent? Current;
        }

        private readonly struct ChannelSinkRef(ChannelSink sink) : IRouteSink
        {
            public void Deliver(Subscriber subscriber, long position)
            {
                _ = position;
                if (!sink.Channels[sink.Slots[subscriber]].Writer.TryWrite(sink.Current!))
                {
                    sink.Dropped++;
                }
            }
        }
    }

    private static DistributionOptions CoreOptions(CoreWorkloadSettings settings) => new()
    {
        DispatchBatchSize = settings.DispatchBatch,
        DeliveryThreads = settings.DeliveryThreads,
        IngestQueueCapacity = 16_384,

        // Events are reused cyclically (--events, default 2^19), so the log must stay below that reuse distance.
        RetainedLogCapacity = 262_144,
        SubscriberBufferCapacity = settings.BufferCapacity,
        ReadBatchSize = 256,
        MaxSubscribers = 10_000,
    };
}
