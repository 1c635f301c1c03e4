using Microsoft.Extensions.Logging;

namespace ExecutionDistribution.Ingest;

/// <summary>Log messages of the ingest module; EventIds 2000-2099.</summary>
internal static partial class IngestLog
{
    [LoggerMessage(2000, LogLevel.Information, "Demo feed started: seed {Seed}, {Rate} events/s")]
    public static partial void DemoFeedStarted(ILogger logger, ulong seed, int rate);

    [LoggerMessage(2001, LogLevel.Information, "Demo feed: {Published} events published; core ingested {Ingested}, routed {Routed} deliveries to {Subscribers} subscribers")]
    public static partial void DemoFeedProgress(ILogger logger, long published, long ingested, long routed, int subscribers);

    [LoggerMessage(2002, LogLevel.Information, "Demo feed finished after {Published} events")]
    public static partial void DemoFeedFinished(ILogger logger, long published);

    [LoggerMessage(2010, LogLevel.Debug, "Rejected an ingest request: {ProblemCount} problems")]
    public static partial void RequestRejected(ILogger logger, int problemCount);
}
