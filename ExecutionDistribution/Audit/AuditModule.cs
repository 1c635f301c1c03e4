using System.Globalization;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Persistence;
using ExecutionDistribution.Hosting;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Audit;

/// <summary>
/// Registers the audit trail: each audited event recorded once as it enters the log (a core
/// subscriber, off the dispatch path), the ranges the streams write and acknowledge, and the
/// dispatcher's drops, written in batches by <see cref="AuditWriter"/> to PostgreSQL (or, without
/// PostgreSQL, the local segments in <c>Audit:Local:Directory</c>); <c>GET /api/v1/audit</c> finds
/// the outcomes, and the "audit" health check reports a full local store or a spill.
/// </summary>
internal static class AuditModule
{
    /// <summary>Most rows one query returns.</summary>
    public const int MaxLimit = 10_000;

    /// <summary>Longest time range one query covers.</summary>
    public static readonly TimeSpan MaxRange = TimeSpan.FromDays(31);

    public static WebApplicationBuilder AddAuditModule(this WebApplicationBuilder builder)
    {
        var postgres = builder.Configuration.GetSection(PostgresOptions.SectionName).Get<PostgresOptions>() ?? new PostgresOptions();
        builder.Services.AddValidatedOptions<AuditOptions, AuditOptionsValidator>(builder.Configuration, AuditOptions.SectionName);
        builder.Services.AddSingleton<AuditTrail>();
        builder.Services.AddKeyedSingleton("spill", (sp, _) =>
        {
            var local = sp.GetRequiredService<IOptions<AuditOptions>>().Value.Local;
            return new AuditSegments(local.ResolvedDirectory, postgres.Enabled ? "pending" : "audit", local.SegmentBytes, local.MaxBytes, local.Retention, local.WhenFull,
                sp.GetRequiredService<TimeProvider>());
        });
        if (postgres.Enabled)
        {
            builder.Services.AddSingleton<IAuditStore, PostgresAuditStore>();
        }
        else
        {
            builder.Services.AddSingleton<IAuditStore>(sp => new FileAuditStore(sp.GetRequiredKeyedService<AuditSegments>("spill")));
        }

        builder.Services.AddSingleton<AuditWriter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AuditWriter>());
        builder.Services.AddSingleton<EventRecorder>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<EventRecorder>());
        builder.Services.AddHealthChecks().AddCheck<AuditHealthCheck>("audit");
        builder.Services.AddSingleton<IMemoryReporter, AuditQueueMemory>();
        return builder;
    }

    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/audit", Query).WithTags("Audit").Produces<AuditRecord[]>().ProducesValidationProblem();
        app.MapGet("/api/v1/audit/stats", (AuditTrail trail, AuditWriter writer, EventRecorder events) =>
        {
            var local = writer.Local;
            var (droppedSegments, droppedBytes) = local.Dropped;
            return Results.Ok(new
            {
                recorded = trail.Recorded, queued = trail.Queued, written = writer.Written, spilled = writer.Spilled,
                degraded = writer.Degraded || writer.Full, full = writer.Full, events_unrecorded = events.Unrecorded,
                local = new { directory = local.Directory, bytes = local.Bytes, segments = local.SegmentCount, dropped_segments = droppedSegments, dropped_bytes = droppedBytes, expired_segments = local.Expired },
            });
        }).WithTags("Audit");
        return app;
    }

    private static async Task<IResult> Query(
        string? event_id, string? order_id, string? subscription_id, string? from, string? to, int? limit, IAuditStore store, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var start = Time(from, "from", errors);
        var end = Time(to, "to", errors);
        if (start is { } s && end is { } e)
        {
            if (e <= s)
            {
                errors["to"] = ["must be after from"];
            }
            else if (e - s > MaxRange)
            {
                errors["to"] = [$"the range may cover at most {MaxRange.TotalDays} days"];
            }
        }

        if (event_id is null && order_id is null && (start is null || end is null) && !errors.ContainsKey("from") && !errors.ContainsKey("to"))
        {
            errors["event_id"] = ["give event_id, order_id, or both from and to"];
        }

        if (limit is < 1 or > MaxLimit)
        {
            errors["limit"] = [$"must be between 1 and {MaxLimit}"];
        }

        foreach (var (name, value) in new[] { ("event_id", event_id), ("order_id", order_id), ("subscription_id", subscription_id) })
        {
            if (value is { Length: 0 or > 200 })
            {
                errors[name] = ["must be 1 to 200 characters"];
            }
            else if (TextRules.HasNul(value))
            {
                errors[name] = [TextRules.NoNul];
            }
        }

        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors, title: "The audit query is invalid.");
        }

        return Results.Ok(await store.QueryAsync(new AuditQuery(event_id, order_id, subscription_id, start, end, limit ?? 1_000), ct).ConfigureAwait(false));
    }

    private static DateTime? Time(string? text, string name, Dictionary<string, string[]> errors)
    {
        if (text is null)
        {
            return null;
        }

        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var value))
        {
            errors[name] = ["must be an ISO 8601 time, e.g. 2025-06-21T10:00:00Z"];
            return null;
        }

        return value.UtcDateTime;
    }

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

    /// <summary>The audit queue: a ring allocated at start, whatever it holds.</summary>
    private sealed class AuditQueueMemory(AuditTrail trail, IOptions<AuditOptions> options) : IMemoryReporter
    {
        public string Store => "audit_queue";

        public StoreMemory Report()
        {
            var slots = (long)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)options.Value.QueueCapacity);
            return new StoreMemory(trail.Queued, slots * (System.Runtime.CompilerServices.Unsafe.SizeOf<AuditRow>() + 8), options.Value.QueueCapacity, null,
                "at Audit:QueueCapacity stream senders and the event recorder wait for room; nothing is discarded");
        }
    }

    /// <summary>Degraded while audit rows wait for PostgreSQL in the spill, or while the local store is full.</summary>
    internal sealed class AuditHealthCheck(AuditWriter writer, EventRecorder events) : Microsoft.Extensions.Diagnostics.HealthChecks.IHealthCheck
    {
        public Task<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult> CheckHealthAsync(
            Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var data = new Dictionary<string, object> { ["spilled"] = writer.Spilled, ["local_bytes"] = writer.Local.Bytes, ["events_unrecorded"] = events.Unrecorded };
            return Task.FromResult(
                writer.Full ? Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Degraded(
                    $"the local audit store in {writer.Local.Directory} is full (Audit:Local:MaxBytes); streams wait for room", data: data)
                : writer.Degraded ? Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Degraded("PostgreSQL does not take audit rows; they are spilled to the local store", data: data)
                : Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Healthy(data: data));
        }
    }
}
