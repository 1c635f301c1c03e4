
namespace ExecutionDistribution.Subscriptions;

/// <summary>
/// Registers the subscriptions managed through the APIs (gRPC ManageSubscription and its REST twin),
/// shared by every transport that streams them. Their store (PostgreSQL or memory) and cache are
/// chosen by the Persistence module; this module loads them at start and writes acknowledged
/// positions behind, every <see cref="FlushInterval"/> and when the host stops.
/// </summary>
internal static partial class SubscriptionsModule
{
    /// <summary>How often acknowledged positions are written.</summary>
    public static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(200);

    public static WebApplicationBuilder AddSubscriptionsModule(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<SubscriptionRegistry>();
        builder.Services.AddHostedService<SubscriptionPositions>();
        return builder;
    }

    /// <summary>Loads the subscriptions at start, then writes moved acknowledged positions.</summary>
    private sealed partial class SubscriptionPositions(
        SubscriptionRegistry registry, Hosting.IClusterCommands commands, TimeProvider time, ILogger<SubscriptionPositions> logger) : BackgroundService
    {
        public override async Task StartAsync(CancellationToken cancellationToken)
        {
            // A subscription changed or deleted through another instance: read it again, end its stream here.
            commands.On(SubscriptionRegistry.CommandKind, (command, ct) => registry.ChangedElsewhereAsync(command.Key, ct));
            await registry.LoadAsync(cancellationToken).ConfigureAwait(false);
            LogLoaded(logger, registry.List().Count);
            await base.StartAsync(cancellationToken).ConfigureAwait(false);
        }

        public override async Task StopAsync(CancellationToken cancellationToken)
        {
            await base.StopAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await registry.FlushPositionsAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFlushFailed(logger, ex.Message);
            }
        }

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            using var timer = new PeriodicTimer(FlushInterval, time);
            try
            {
                while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
                {
                    try
                    {
                        await registry.FlushPositionsAsync(stoppingToken).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        LogFlushFailed(logger, ex.Message); // kept; tried again next tick
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // Stopping: StopAsync flushes once more.
            }
        }

        [LoggerMessage(EventId = 8000, Level = LogLevel.Information, Message = "Loaded {Count} managed subscriptions")]
        private static partial void LogLoaded(ILogger logger, int count);

        [LoggerMessage(EventId = 8001, Level = LogLevel.Warning, Message = "Could not store acknowledged positions, will retry: {Reason}")]
        private static partial void LogFlushFailed(ILogger logger, string reason);
    }
}
