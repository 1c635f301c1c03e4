using ExecutionDistribution.Core;
using Microsoft.Extensions.Time.Testing;

namespace ExecutionDistribution.Tests.Core;

/// <summary>Creates a started dispatch core with small, test-sized settings.</summary>
internal static class Dispatchers
{
    public static FanOutDispatcher Start(
        int logCapacity = 65_536,
        int bufferCapacity = 1_024,
        int ingestCapacity = 65_536,
        TimeSpan? maxAge = null,
        TimeProvider? time = null,
        int readBatch = 256,
        int deliveryThreads = 2,
        long bufferBudget = 1L << 30)
    {
        var core = new FanOutDispatcher(new DistributionOptions
        {
            RetainedLogCapacity = logCapacity,
            SubscriberBufferCapacity = bufferCapacity,
            IngestQueueCapacity = ingestCapacity,
            RetainedLogMaxAge = maxAge ?? TimeSpan.FromHours(1),
            ReadBatchSize = readBatch,
            DeliveryThreads = deliveryThreads,
            SubscriberBufferBudgetBytes = bufferBudget,
        }, time ?? TimeProvider.System);
        core.Start();
        return core;
    }

    public static FakeTimeProvider FakeTime() => new(new DateTimeOffset(2025, 6, 21, 10, 0, 0, TimeSpan.Zero));
}
