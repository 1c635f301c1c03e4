using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;

namespace ExecutionDistribution.Ingest;

/// <summary>
/// Where events published to this instance go (REST ingest, the demo feed): straight into the dispatch
/// core, or, with Kafka on, to the Kafka input topic, so that every instance of a cluster sees them
/// (their own ingest reads them back like any other record).
/// </summary>
internal interface IEventSink
{
    /// <summary>Publishes one event, without waiting for it to be stored (the demo feed).</summary>
    ValueTask PublishAsync(ExecutionEvent e, CancellationToken cancellationToken);

    /// <summary>
    /// Publishes <paramref name="events"/> in order and waits until they are taken (in the core's
    /// queue, or acknowledged by Kafka); returns how many, from the first, were taken before
    /// <paramref name="cancellationToken"/> ended the wait or a failure (the rest are to be sent again).
    /// </summary>
    Task<int> PublishAcknowledgedAsync(IReadOnlyList<ExecutionEvent> events, CancellationToken cancellationToken);
}

/// <summary>The sink without Kafka: the dispatch core (waiting for room in its queue: back-pressure).</summary>
internal sealed class CoreEventSink(IExecutionIngest ingest) : IEventSink
{
    public ValueTask PublishAsync(ExecutionEvent e, CancellationToken cancellationToken) => ingest.PublishAsync(e, cancellationToken);

    public async Task<int> PublishAcknowledgedAsync(IReadOnlyList<ExecutionEvent> events, CancellationToken cancellationToken)
    {
        var taken = 0;
        try
        {
            foreach (var e in events)
            {
                await ingest.PublishAsync(e, cancellationToken).ConfigureAwait(false);
                taken++;
            }
        }
        catch (OperationCanceledException)
        {
            // The queue stayed full: the caller answers with how many were taken.
        }

        return taken;
    }
}
