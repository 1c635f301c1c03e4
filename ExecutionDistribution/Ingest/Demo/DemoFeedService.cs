using System.Diagnostics;
using ExecutionDistribution.Core;
using ExecutionDistribution.Ingest;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Ingest.Demo;

/// <summary>
/// Publishes the deterministic stream of <see cref="SyntheticExecutionStream"/> at a steady rate, so a
/// newcomer sees events flowing with nothing else running. Off unless <c>DemoFeed:Enabled</c> is true.
/// </summary>
internal sealed class DemoFeedService(
    IOptions<DemoFeedOptions> options,
    IEventSink sink,
    FanOutDispatcher core,
    TimeProvider time,
    ILogger<DemoFeedService> logger) : BackgroundService
{
    /// <summary>Publishing happens in ticks of this length; each tick publishes what the rate owes.</summary>
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(10);

    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        if (!o.Enabled)
        {
            return;
        }

        var stream = new SyntheticExecutionStream(o.Seed, o.LiveOrders, time.GetUtcNow().UtcDateTime, TimeSpan.FromSeconds(1.0 / o.EventsPerSecond));
        IngestLog.DemoFeedStarted(logger, o.Seed, o.EventsPerSecond);
        var started = time.GetTimestamp();
        var lastProgress = started;
        long published = 0;
        using var timer = new PeriodicTimer(Tick, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var owed = (long)(time.GetElapsedTime(started).TotalSeconds * o.EventsPerSecond);
                if (o.MaxEvents > 0)
                {
                    owed = Math.Min(owed, o.MaxEvents);
                }

                while (published < owed)
                {
                    await sink.PublishAsync(stream.Next(), stoppingToken).ConfigureAwait(false);
                    published++;
                }

                if (time.GetElapsedTime(lastProgress) >= ProgressInterval)
                {
                    lastProgress = time.GetTimestamp();
                    var stats = core.GetStats();
                    IngestLog.DemoFeedProgress(logger, published, stats.Ingested, stats.Routed, stats.Subscribers);
                }

                if (o.MaxEvents > 0 && published >= o.MaxEvents)
                {
                    IngestLog.DemoFeedFinished(logger, published);
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            Debug.WriteLine("demo feed stopped");
        }
    }
}
