using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using ExecutionDistribution.Audit;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Persistence;
using ExecutionDistribution.Streaming;
using ExecutionDistribution.Streaming.Grpc;
using ExecutionDistribution.Tests.Core;
using ExecutionDistribution.Tests.Support;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Tests.Streaming;

/// <summary>
/// A connection of one subscription on a transport (a <c>StreamExecution</c> call, <see cref="ExecutionCall"/>),
/// with a pipe as its response body: what arrives before the subscription is read, while a slow reader
/// holds a write back, while heartbeats and replies write, and while it lingers, all reaches the body
/// once, in order, as whole gRPC messages (the writer protocol is <see cref="Connection"/>'s, which every transport shares).
/// </summary>
[Category("Unit")]
public sealed class ExecutionCallTests
{
    [Test]
    public async Task Events_published_before_the_stream_starts_wait_for_it_then_arrive_in_order_once()
    {
        using var core = Dispatchers.Start();
        await using var stream = new SenderUnderTest(core, perMessage: 16);
        var published = await PublishAsync(core, 300);

        await Eventually.WaitUntilAsync(() => stream.Subscriber.Backlog == 300, "what arrives before the start waits in the subscriber's buffer");
        Assert.That(stream.Body.Reader.TryRead(out _), Is.False, "nothing is written before the start");

        stream.Start();
        published.AddRange(await PublishAsync(core, 300));

        var messages = await stream.ReadEventsAsync(published.Count);
        Assert.That(messages.SelectMany(m => m.Events.Deliveries).Select(d => d.EventId), Is.EqualTo(published));
        Assert.That(messages.SelectMany(m => m.Events.Deliveries).Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, published.Count).Select(i => (long)i)));
        Assert.That(messages.Max(m => m.Events.Deliveries.Count), Is.LessThanOrEqualTo(16), "no message carries more than the stream's limit");
        Assert.That(messages.All(m => m.SubscriptionId == "sender" && m.ResumeToken.Length > 0), Is.True);
    }

    [Test]
    public async Task A_client_that_stops_reading_holds_the_stream_back_and_then_gets_everything_in_order_once()
    {
        using var core = Dispatchers.Start(bufferCapacity: 8_192);

        // A body that takes 4 KB before a flush must wait for the reader (HTTP/2 flow control, in effect).
        await using var stream = new SenderUnderTest(core, perMessage: 4, body: new Pipe(new PipeOptions(pauseWriterThreshold: 4_096, resumeWriterThreshold: 2_048, useSynchronizationContext: false)));
        stream.Start();
        var published = await PublishAsync(core, 2_000);

        await Eventually.WaitUntilAsync(() => stream.Call.IsPaused && stream.Subscriber.Backlog > 0, "a flush waits for the reader, and the connection pauses");
        Assert.That(stream.Subscriber.Delivered, Is.LessThan(published.Count), "the rest waits in the subscriber's buffer");

        var messages = await stream.ReadEventsAsync(published.Count);
        Assert.That(messages.SelectMany(m => m.Events.Deliveries).Select(d => d.EventId), Is.EqualTo(published));
        Assert.That(messages.SelectMany(m => m.Events.Deliveries).Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, published.Count).Select(i => (long)i)));
        AssertAuditedOnce(stream.Audit, published.Count);
    }

    [Test]
    public async Task Heartbeats_written_while_events_stream_never_split_or_reorder_a_message()
    {
        using var core = Dispatchers.Start();
        await using var stream = new SenderUnderTest(core, perMessage: 8);
        stream.Start();
        using var stop = new CancellationTokenSource();
        var heartbeats = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await stream.Call.HeartbeatAsync();
            }
        });

        var published = await PublishAsync(core, 3_000);
        var messages = await stream.ReadEventsAsync(published.Count);
        await stop.CancelAsync();
        await heartbeats;

        // One more once the events are out, so the heartbeats written meanwhile are read to the last, each whole.
        await stream.Call.HeartbeatAsync();
        await stream.ReadRepliesAsync(stream.Heartbeats + 1);

        Assert.That(messages.SelectMany(m => m.Events.Deliveries).Select(d => d.EventId), Is.EqualTo(published));
        Assert.That(messages.SelectMany(m => m.Events.Deliveries).Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, published.Count).Select(i => (long)i)));
    }

    [Test]
    public async Task Under_load_a_stream_rests_a_linger_and_then_sends_what_arrived_meanwhile_in_one_message()
    {
        var time = new ArmingFakeTime(Dispatchers.FakeTime().GetUtcNow());
        var linger = TimeSpan.FromMilliseconds(50);
        using var core = Dispatchers.Start();
        await using var stream = new SenderUnderTest(core, perMessage: 64, time: time, linger: linger);
        stream.Start();

        // The first message after a quiet spell goes at once; the next, within the linger, too, and then the stream rests.
        var first = await PublishAsync(core, 1);
        Assert.That((await stream.ReadEventsAsync(1)).Single().Events.Deliveries.Single().EventId, Is.EqualTo(first.Single()));
        var second = await PublishAsync(core, 1);
        Assert.That((await stream.ReadEventsAsync(1)).Single().Events.Deliveries.Single().EventId, Is.EqualTo(second.Single()));
        await Eventually.WaitUntilAsync(() => stream.Call.IsPaused && time.WasArmed(linger), "the stream rests, for a linger");

        var meanwhile = await PublishAsync(core, 10);
        await Eventually.WaitUntilAsync(() => stream.Subscriber.Backlog == 10, "what arrives during the rest waits");
        Assert.That(stream.Body.Reader.TryRead(out _), Is.False, "nothing is sent during the rest");

        time.Advance(linger);
        var together = await stream.ReadEventsAsync(10);
        Assert.That(together, Has.Count.EqualTo(1), "one message for all that arrived during the rest");
        Assert.That(together[0].Events.Deliveries.Select(d => d.EventId), Is.EqualTo(meanwhile));
    }

    [Test]
    public async Task A_stopped_stream_writes_nothing_more()
    {
        using var core = Dispatchers.Start();
        await using var stream = new SenderUnderTest(core, perMessage: 8);
        stream.Start();
        var published = await PublishAsync(core, 100);
        await stream.ReadEventsAsync(published.Count);

        await stream.Call.StopAsync();
        await PublishAsync(core, 100);
        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == 200 && stream.Subscriber.Backlog == 100, "the stream was offered more, and it was not read");

        Assert.That(stream.Body.Reader.TryRead(out _), Is.False);
    }

    [Test]
    public async Task Writes_off_the_loop_take_turns_with_the_events_and_every_one_goes_out_whole()
    {
        using var core = Dispatchers.Start();
        await using var stream = new SenderUnderTest(core, perMessage: 8);
        stream.Start();

        // Replies to the client (a WebSocket's pongs and acknowledgements) race the loop for the writer.
        var replies = Task.Run(async () =>
        {
            for (var i = 0; i < 200; i++)
            {
                await WriteReplyAsync(stream);
            }
        });
        var published = await PublishAsync(core, 3_000);
        var messages = await stream.ReadEventsAsync(published.Count);
        await replies.WaitAsync(Eventually.DefaultTimeout);
        await stream.ReadRepliesAsync(200);

        Assert.That(messages.SelectMany(m => m.Events.Deliveries).Select(d => d.EventId), Is.EqualTo(published));
        Assert.That(messages.SelectMany(m => m.Events.Deliveries).Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, published.Count).Select(i => (long)i)));
        Assert.That(stream.Heartbeats, Is.EqualTo(200), "every reply went out once");
        AssertAuditedOnce(stream.Audit, published.Count);
    }

    [Test]
    public async Task Replies_before_the_start_go_out_at_once_and_events_wait_for_the_start()
    {
        using var core = Dispatchers.Start();
        await using var stream = new SenderUnderTest(core, perMessage: 16);
        var published = await PublishAsync(core, 20);
        await Eventually.WaitUntilAsync(() => stream.Subscriber.Backlog == 20, "what arrives before the start waits in the subscriber's buffer");

        // A WebSocket's "subscribed", snapshot and pongs while it opens (re-reading Kafka can take long).
        await WriteReplyAsync(stream).WaitAsync(Eventually.DefaultTimeout);
        await WriteReplyAsync(stream).WaitAsync(Eventually.DefaultTimeout);
        await stream.ReadRepliesAsync(2);
        Assert.That(stream.Body.Reader.TryRead(out _), Is.False, "no event before the start");

        stream.Start();
        var messages = await stream.ReadEventsAsync(published.Count);
        Assert.That(messages.SelectMany(m => m.Events.Deliveries).Select(d => d.EventId), Is.EqualTo(published));
        AssertAuditedOnce(stream.Audit, published.Count);
    }

    [Test]
    public async Task Replies_waiting_for_the_writer_when_the_stream_ends_are_cancelled_and_later_ones_refused()
    {
        using var core = Dispatchers.Start();

        // A body that takes 1 KB before a flush must wait for the reader, which never reads.
        await using var stream = new SenderUnderTest(core, perMessage: 16, body: new Pipe(new PipeOptions(pauseWriterThreshold: 1_024, resumeWriterThreshold: 512, useSynchronizationContext: false)));
        var stuck = WriteReplyAsync(stream, padding: 4_096);
        var waiting = WriteReplyAsync(stream);
        Assert.That(stuck.IsCompleted || waiting.IsCompleted, Is.False, "the first reply holds the writer, and the second waits for it");

        await stream.EndAsync();

        Assert.That(async () => await stuck.WaitAsync(Eventually.DefaultTimeout), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(async () => await waiting.WaitAsync(Eventually.DefaultTimeout), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(async () => await WriteReplyAsync(stream).WaitAsync(Eventually.DefaultTimeout), Throws.InstanceOf<OperationCanceledException>());
    }

    // A message of the transport's own, written off the loop (a heartbeat stands for a reply here).
    private static Task WriteReplyAsync(SenderUnderTest stream, int padding = 0) =>
        stream.Call.WriteAsync(new ExecutionMessage { SubscriptionId = "sender", Heartbeat = new Heartbeat { Time = new string('r', padding + 1) } });

    private static async Task<List<string>> PublishAsync(FanOutDispatcher core, int count)
    {
        var ids = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            var e = Events.Fill($"O-{i % 7}");
            ids.Add(e.EventId);
            await core.PublishAsync(e, CancellationToken.None);
        }

        return ids;
    }

    // The audit's ranges cover each delivery once: sequences 1..n in order, with no gap and no overlap, in far fewer rows.
    private static void AssertAuditedOnce(AuditTrail trail, int deliveries)
    {
        var rows = new List<AuditRow>();
        trail.Drain(rows, int.MaxValue);
        var ranges = rows.Where(r => r.Kind == AuditRowKind.Range && r.Status == DeliveryStatuses.Delivered).OrderBy(r => r.FirstSequence).ToList();
        Assert.That(ranges.Sum(r => r.Count), Is.EqualTo(deliveries), "each delivery audited once");
        Assert.That(ranges.Select(r => r.FirstSequence), Is.EqualTo(ranges.Select((r, i) => i == 0 ? 1 : ranges[i - 1].LastSequence + 1)), "ranges follow each other");
        Assert.That(rows.Count, Is.LessThan(deliveries / 2), "rows per written message, not per delivery");
    }

    /// <summary>A <c>StreamExecution</c> call on a pipe, its subscription joined but not read until <see cref="Start"/>, and a reader of its gRPC messages.</summary>
    private sealed class SenderUnderTest : IAsyncDisposable
    {
        private readonly CancellationTokenSource _ended = new();
        private readonly StreamMember _member;

        public SenderUnderTest(FanOutDispatcher core, int perMessage, Pipe? body = null, TimeProvider? time = null, TimeSpan linger = default)
        {
            Body = body ?? new Pipe(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
            Audit = Connections.Trail();
            var options = new GrpcStreamOptions { SendLinger = linger };
            Call = new ExecutionCall(core, Connections.Registry(), Audit, options, time ?? TimeProvider.System, new PipeStreamWriter(Body.Writer), Body.Writer, "sender", _ended.Token);
            _member = Connections.Open(Call, "sender", perMessage: perMessage, bufferCapacity: 8_192, activate: false);
        }

        public Pipe Body { get; }

        public AuditTrail Audit { get; }

        public ExecutionCall Call { get; }

        public Subscriber Subscriber => _member.Subscriber;

        /// <summary>The opening is out: the connection reads the subscription from now on.</summary>
        public void Start() => Call.Subscriptions.Activate(_member);

        public int Heartbeats { get; private set; }

        /// <summary>Reads whole messages until <paramref name="deliveries"/> events have come; heartbeats are counted.</summary>
        public async Task<List<ExecutionMessage>> ReadEventsAsync(int deliveries)
        {
            var messages = new List<ExecutionMessage>();
            var seen = 0;
            using var deadline = new CancellationTokenSource(Eventually.DefaultTimeout);
            while (seen < deliveries)
            {
                var result = await Body.Reader.ReadAsync(deadline.Token);
                var buffer = result.Buffer;
                while (TryTake(ref buffer, out var message))
                {
                    if (message.BodyCase == ExecutionMessage.BodyOneofCase.Heartbeat)
                    {
                        Heartbeats++;
                        continue;
                    }

                    Assert.That(message.BodyCase, Is.EqualTo(ExecutionMessage.BodyOneofCase.Events));
                    messages.Add(message);
                    seen += message.Events.Deliveries.Count;
                }

                Body.Reader.AdvanceTo(buffer.Start, buffer.End);
            }

            Assert.That(seen, Is.EqualTo(deliveries), "no more than asked for");
            return messages;
        }

        /// <summary>Reads until <paramref name="count"/> heartbeats in all were counted.</summary>
        public async Task ReadRepliesAsync(int count)
        {
            using var deadline = new CancellationTokenSource(Eventually.DefaultTimeout);
            while (Heartbeats < count)
            {
                var result = await Body.Reader.ReadAsync(deadline.Token);
                var buffer = result.Buffer;
                while (TryTake(ref buffer, out var message))
                {
                    Assert.That(message.BodyCase, Is.EqualTo(ExecutionMessage.BodyOneofCase.Heartbeat), "only replies are left");
                    Heartbeats++;
                }

                Body.Reader.AdvanceTo(buffer.Start, buffer.End);
            }
        }

        /// <summary>The stream ends as a call does: its token cancelled, its subscription let go of, the connection stopped.</summary>
        public async Task EndAsync()
        {
            await _ended.CancelAsync();
            Call.Subscriptions.StopAll();
            Call.Subscriptions.ReleaseAll();
            await Call.StopAsync();
        }

        public async ValueTask DisposeAsync()
        {
            await EndAsync();
            _ended.Dispose();
        }

        // One gRPC message: a zero byte (not compressed), four bytes of length, the message.
        private static bool TryTake(ref ReadOnlySequence<byte> buffer, out ExecutionMessage message)
        {
            message = null!;
            if (buffer.Length < 5)
            {
                return false;
            }

            Span<byte> prefix = stackalloc byte[5];
            buffer.Slice(0, 5).CopyTo(prefix);
            Assert.That(prefix[0], Is.Zero, "uncompressed");
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(prefix[1..]);
            if (buffer.Length < 5 + length)
            {
                return false;
            }

            message = ExecutionMessage.Parser.ParseFrom(buffer.Slice(5, length));
            buffer = buffer.Slice(5 + length);
            return true;
        }
    }

    /// <summary>Writes each message into a pipe as gRPC frames it (a zero byte, four bytes of length, the message) and flushes, as a call's response writer does.</summary>
    private sealed class PipeStreamWriter(PipeWriter pipe) : IServerStreamWriter<ExecutionMessage>
    {
        public WriteOptions? WriteOptions { get; set; }

        public Task WriteAsync(ExecutionMessage message) => WriteAsync(message, CancellationToken.None);

        public async Task WriteAsync(ExecutionMessage message, CancellationToken cancellationToken)
        {
            var prefix = pipe.GetSpan(5);
            prefix[0] = 0;
            BinaryPrimitives.WriteUInt32BigEndian(prefix[1..], (uint)message.CalculateSize());
            pipe.Advance(5);
            message.WriteTo(pipe);
            await pipe.FlushAsync(cancellationToken);
        }
    }
}
