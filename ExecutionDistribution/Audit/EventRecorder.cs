using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Audit;

/// <summary>
/// Records every audited event once as it enters the log: a core subscriber of every event
/// (at_least_once, read on its own task), started before any ingest. It also points the
/// dispatcher's drop notifications and the log's epoch at the trail. Events the log no longer
/// held when reached are counted, never silently missing.
/// </summary>
internal sealed class EventRecorder(FanOutDispatcher core, AuditTrail trail, IOptions<AuditOptions> options) : IHostedService
{
    private readonly CancellationTokenSource _stopping = new();
    private Subscriber? _subscriber;
    private Task? _loop;
    private long _unrecorded;

    /// <summary>Log positions the recorder could not read (the log no longer held them).</summary>
    public long Unrecorded => Interlocked.Read(ref _unrecorded);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        trail.LogEpoch = core.LogEpoch;
        core.DropObserver = trail;
        if (options.Value.Enabled)
        {
            _subscriber = core.Subscribe("audit-events", SubscriptionFilter.All, DeliveryGuarantee.AtLeastOnce);
            _loop = Task.Run(RunAsync, CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_subscriber is not null)
        {
            core.Unsubscribe(_subscriber);
        }

        if (_loop is not null)
        {
            await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task RunAsync()
    {
        var batch = new DeliveryBatch(256);
        try
        {
            while (await _subscriber!.WaitToReadAsync().ConfigureAwait(false))
            {
                while (_subscriber.TryReadBatch(batch))
                {
                    Interlocked.Add(ref _unrecorded, batch.LostPositions);
                    foreach (var d in batch.Deliveries)
                    {
                        if (trail.Wants(d.Event))
                        {
                            trail.RecordEvent(d.Event);
                        }
                    }

                    await trail.WaitForRoomAsync(_stopping.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // Stopping.
        }
    }
}
