using Microsoft.Extensions.Logging;

namespace ExecutionDistribution.Core;

/// <summary>Log messages of the dispatch core; EventIds 1000-1099.</summary>
internal static partial class DistributionLog
{
    [LoggerMessage(1000, LogLevel.Information, "Dispatcher started: ingest queue {IngestCapacity}, retained log {LogCapacity} events, subscriber buffer {BufferCapacity}")]
    public static partial void DispatcherStarted(ILogger logger, int ingestCapacity, int logCapacity, int bufferCapacity);

    [LoggerMessage(1001, LogLevel.Information, "Dispatcher stopped after {Ingested} events and {Routed} deliveries")]
    public static partial void DispatcherStopped(ILogger logger, long ingested, long routed);

    [LoggerMessage(1002, LogLevel.Warning, "Dispatcher drain timed out with {Remaining} events still queued")]
    public static partial void DrainTimedOut(ILogger logger, int remaining);

    [LoggerMessage(1003, LogLevel.Critical, "Dispatcher failed; distribution has stopped")]
    public static partial void DispatcherFailed(ILogger logger, Exception exception);

    [LoggerMessage(1004, LogLevel.Error, "{Reader} failed on its delivery loop; its stream ends")]
    public static partial void HandlerFailed(ILogger logger, string reader, Exception exception);

    [LoggerMessage(1005, LogLevel.Error, "Building the routing index again in the background failed; the dispatcher keeps the index it has")]
    public static partial void IndexBuildFailed(ILogger logger, Exception exception);

    [LoggerMessage(1010, LogLevel.Debug, "Subscriber {SubscriberId} attached ({Guarantee})")]
    public static partial void SubscriberAttached(ILogger logger, string subscriberId, string guarantee);

    [LoggerMessage(1012, LogLevel.Information, "Subscriber {SubscriberId} fell behind the retained log at position {Position} (oldest retained {Tail}); re-reading from Kafka")]
    public static partial void RereadStarted(ILogger logger, string subscriberId, long position, long tail);

    [LoggerMessage(1013, LogLevel.Warning, "Subscriber {SubscriberId} fell behind the retained log at position {Position} and cannot re-read it: {Reason}")]
    public static partial void RereadRefused(ILogger logger, string subscriberId, long position, string reason);

    [LoggerMessage(1014, LogLevel.Warning, "Subscriber {SubscriberId} stopped re-reading from Kafka: {Reason}")]
    public static partial void RereadFailed(ILogger logger, string subscriberId, string reason);

    [LoggerMessage(1011, LogLevel.Debug, "Subscriber {SubscriberId} detached: delivered {Delivered}, dropped {Dropped}, catch-ups {CatchUps}")]
    public static partial void SubscriberDetached(ILogger logger, string subscriberId, long delivered, long dropped, long catchUps);
}
