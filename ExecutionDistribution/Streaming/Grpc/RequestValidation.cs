using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using ExecutionDistribution.Grpc.V1;
using Google.Protobuf;

namespace ExecutionDistribution.Streaming.Grpc;

/// <summary>
/// Answers a call whose request is not a valid message of its type with InvalidArgument naming the
/// type, as for any other bad input. Grpc.AspNetCore parses a request before the service sees it and
/// answers a parse failure with Unknown ("Exception was thrown by handler"), so the one request of the
/// unary and server-streaming methods is parsed here first and handed on unchanged (a few hundred
/// bytes once per call). <c>StreamMultiplexed</c>'s commands are checked where they are read.
/// </summary>
internal static class RequestValidation
{
    private const int PrefixSize = 5;

    private static readonly Dictionary<string, (MessageParser Parser, string Type)> Requests = new(StringComparer.Ordinal)
    {
        [Path(nameof(ExecutionStream.ExecutionStreamBase.StreamExecution))] = (StreamRequest.Parser, StreamRequest.Descriptor.Name),
        [Path(nameof(ExecutionStream.ExecutionStreamBase.ManageSubscription))] = (SubscriptionRequest.Parser, SubscriptionRequest.Descriptor.Name),
        [Path(nameof(ExecutionStream.ExecutionStreamBase.Acknowledge))] = (AckRequest.Parser, AckRequest.Descriptor.Name),
    };

    public static IApplicationBuilder UseGrpcRequestValidation(this IApplicationBuilder app) => app.Use(static async (context, next) =>
    {
        if (context.Request.Path.Value is not { } path
            || !Requests.TryGetValue(path, out var request)
            || context.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) != true)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        // The request is one message and the end of the stream; larger than a command may be, gRPC refuses it.
        context.Request.EnableBuffering(bufferThreshold: 64 * 1024, bufferLimit: GrpcModule.MaxCommandBytes + PrefixSize + 1);
        var body = new ArrayBufferWriter<byte>(1024);
        try
        {
            int read;
            while ((read = await context.Request.Body.ReadAsync(body.GetMemory(4096), context.RequestAborted).ConfigureAwait(false)) > 0)
            {
                body.Advance(read);
            }
        }
        catch (IOException)
        {
            // Over the buffer's limit: gRPC reads it again and refuses it for its size.
        }

        context.Request.Body.Position = 0;
        if (Problem(body.WrittenSpan, request.Parser, request.Type) is { } problem)
        {
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "application/grpc";
            context.Response.Headers["grpc-status"] = "3"; // InvalidArgument, in the headers of a response without messages
            context.Response.Headers["grpc-message"] = Encode(problem);
            return;
        }

        await next(context).ConfigureAwait(false);
    });

    // Why the request is not a valid message, or null (also when gRPC should judge it: compressed, or not one whole message).
    private static string? Problem(ReadOnlySpan<byte> body, MessageParser parser, string type)
    {
        if (body.Length < PrefixSize || body[0] != 0 || BinaryPrimitives.ReadUInt32BigEndian(body[1..]) != body.Length - PrefixSize)
        {
            return null;
        }

        try
        {
            parser.ParseFrom(body[PrefixSize..].ToArray());
            return null;
        }
        catch (InvalidProtocolBufferException ex)
        {
            return $"the message is not a valid {type}: {ex.Message}";
        }
    }

    private static string Path(string method) => $"/{ExecutionStream.Descriptor.FullName}/{method}";

    // grpc-message is percent-encoded UTF-8 outside printable ASCII.
    private static string Encode(string message)
    {
        var text = new StringBuilder(message.Length);
        foreach (var b in Encoding.UTF8.GetBytes(message))
        {
            text.Append(b is >= 0x20 and <= 0x7E and not (byte)'%' ? ((char)b).ToString() : $"%{b:X2}");
        }

        return text.ToString();
    }
}
