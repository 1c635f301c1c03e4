using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Ingest;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using ExecutionDistribution.Security;

namespace ExecutionDistribution.Ingest.Http;

/// <summary>
/// <c>POST /api/v1/executions</c>: the REST ingest seam. Takes one event object or an array of them.
/// A batch is all or nothing at validation: one bad item rejects the request with every problem of
/// every item (400, paths like <c>[3].data.quantity</c>), and nothing is ingested.
/// </summary>
internal static class IngestEndpoints
{
    public static RouteGroupBuilder MapIngestApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/executions").WithTags("Ingest").RequireAuthorization(Scopes.Publish);
        group.MapPost("/", PostExecutions)
            .Accepts<object>("application/json")
            .Produces<IngestAccepted>(StatusCodes.Status202Accepted)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    private static async Task<IResult> PostExecutions(
        HttpRequest request,
        IEventSink sink,
        IngestMetrics metrics,
        IOptions<IngestOptions> options,
        ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (!request.HasJsonContentType())
        {
            return Problem(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type",
                "Send the events as JSON with Content-Type: application/json.");
        }

        if (request.ContentLength > o.MaxRequestBodyBytes)
        {
            return TooLarge(o);
        }

        var body = await ReadBodyAsync(request, o.MaxRequestBodyBytes, cancellationToken).ConfigureAwait(false);
        if (body is null)
        {
            return TooLarge(o);
        }

        BatchParseResult parsed;
        try
        {
            parsed = ExecutionEventParser.ParseBatch(body.WrittenSpan);
        }
        finally
        {
            body.Dispose();
        }

        if (!parsed.IsValid)
        {
            metrics.Rest(1, accepted: false);
            IngestLog.RequestRejected(loggers.CreateLogger(typeof(IngestEndpoints).FullName!), parsed.Problems.Count);
            return Invalid(parsed.Problems);
        }

        if (parsed.Events.Count > o.MaxBatchSize)
        {
            metrics.Rest(1, accepted: false);
            return Invalid([new Contract.ValidationProblem(string.Empty, $"the batch holds {parsed.Events.Count} events; at most {o.MaxBatchSize} are accepted per request (Ingest:MaxBatchSize)")]);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(o.PublishTimeout);
        var accepted = await sink.PublishAcknowledgedAsync(parsed.Events, timeout.Token).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        if (accepted < parsed.Events.Count)
        {
            metrics.Rest(accepted, accepted: true);

            // Back-pressure (or Kafka not taking them): say exactly how many were taken (in order) so the client resends the rest.
            var problem = TypedResults.Problem(
                statusCode: StatusCodes.Status503ServiceUnavailable,
                title: "Ingest queue full",
                detail: $"{accepted} of {parsed.Events.Count} events were accepted (the first ones, in order); resend the rest.",
                extensions: new Dictionary<string, object?> { ["accepted"] = accepted });
            request.HttpContext.Response.Headers.RetryAfter = "1";
            return problem;
        }

        metrics.Rest(accepted, accepted: true);
        var ids = new string[parsed.Events.Count];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = parsed.Events[i].EventId;
        }

        return TypedResults.Accepted((string?)null, new IngestAccepted(accepted, ids));
    }

    /// <summary>Reads the body into a pooled buffer; null when it exceeds <paramref name="limit"/>.</summary>
    private static async Task<PooledBuffer?> ReadBodyAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        var buffer = new PooledBuffer((int)Math.Min(request.ContentLength ?? 16 * 1024, limit) + 1);
        var stream = request.Body;
        while (true)
        {
            var memory = buffer.GetMemory(8 * 1024);
            var read = await stream.ReadAsync(memory, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return buffer;
            }

            buffer.Advance(read);
            if (buffer.WrittenCount > limit)
            {
                buffer.Dispose();
                return null;
            }
        }
    }

    private static ProblemHttpResult TooLarge(IngestOptions o) => Problem(StatusCodes.Status413PayloadTooLarge, "Request body too large",
        $"The body exceeds {o.MaxRequestBodyBytes} bytes (Ingest:MaxRequestBodyBytes); split the batch.");

    private static ProblemHttpResult Problem(int status, string title, string detail) =>
        TypedResults.Problem(statusCode: status, title: title, detail: detail);

    private static Microsoft.AspNetCore.Http.HttpResults.ValidationProblem Invalid(IReadOnlyList<Contract.ValidationProblem> problems)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        foreach (var group in problems.GroupBy(p => p.Path.Length == 0 ? "$" : p.Path, StringComparer.Ordinal))
        {
            errors[group.Key] = [.. group.Select(p => p.Message)];
        }

        return TypedResults.ValidationProblem(errors, title: "The request holds invalid events; nothing was ingested.");
    }

    /// <summary>A growable byte buffer over <see cref="ArrayPool{T}"/>.</summary>
    private sealed class PooledBuffer(int initialCapacity) : IDisposable
    {
        private byte[] _array = ArrayPool<byte>.Shared.Rent(initialCapacity);

        public int WrittenCount { get; private set; }

        public ReadOnlySpan<byte> WrittenSpan => _array.AsSpan(0, WrittenCount);

        public Memory<byte> GetMemory(int sizeHint)
        {
            if (_array.Length - WrittenCount < sizeHint)
            {
                var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_array.Length * 2, WrittenCount + sizeHint));
                _array.AsSpan(0, WrittenCount).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(_array);
                _array = bigger;
            }

            return _array.AsMemory(WrittenCount);
        }

        public void Advance(int count) => WrittenCount += count;

        public void Dispose()
        {
            if (_array.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_array);
                _array = [];
            }
        }
    }
}

/// <summary>Answer to an accepted POST.</summary>
/// <param name="Accepted">Events accepted.</param>
/// <param name="EventIds">Their ids, in order.</param>
public sealed record IngestAccepted(int Accepted, string[] EventIds);

/// <summary>The ingest endpoint's answer, serialized by System.Text.Json's source generator with the API's settings.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(IngestAccepted))]
internal sealed partial class IngestJsonContext : JsonSerializerContext;
