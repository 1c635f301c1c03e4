using System.Collections.Concurrent;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;
using ExecutionDistribution.Streaming;
using ExecutionDistribution.Tests.Core;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Streaming;

/// <summary>
/// Connections served by the core's delivery loops: every connection gets every event in order, one
/// that cannot write does not slow the others and catches up (or announces its drops) when it can,
/// a turn serves what had arrived, and a connection whose transport fails ends alone.
/// </summary>
[Category("Unit")]
public sealed class ConnectionTurnTests
{
    [Test]
    public async Task Connections_receive_every_event_in_order_with_gap_free_sequences()
    {
        using var core = Dispatchers.Start(bufferCapacity: 4_096);
        var connections = Enumerable.Range(0, 50).Select(i => RecordingConnection.Open(core, $"push-{i}", capacity: 4_096)).ToList();

        var published = new List<string>();
        for (var i = 0; i < 5_000; i++)
        {
            var e = Events.Fill($"O-{i % 17}");
            published.Add(e.EventId);
            await core.PublishAsync(e, CancellationToken.None);
        }

        foreach (var c in connections)
        {
            await Eventually.WaitUntilAsync(() => c.Count == published.Count, "every connection gets every event");
            Assert.That(c.Deliveries.Select(d => d.Event.EventId), Is.EqualTo(published));
            Assert.That(c.Deliveries.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, published.Count).Select(i => (long)i)));
        }
    }

    [Test]
    public async Task A_connection_that_cannot_write_does_not_slow_others_and_catches_up_without_loss_when_it_can()
    {
        using var core = Dispatchers.Start(bufferCapacity: 64, logCapacity: 1 << 16);
        var slow = RecordingConnection.Open(core, "slow-alo", DeliveryGuarantee.AtLeastOnce, holdFirstWrite: true, capacity: 64);
        var dropper = RecordingConnection.Open(core, "slow-amo", DeliveryGuarantee.AtMostOnce, holdFirstWrite: true, capacity: 64);
        var fast = Enumerable.Range(0, 10).Select(i => RecordingConnection.Open(core, $"fast-{i}", capacity: 64)).ToList();

        const int n = 10_000;
        for (var i = 0; i < n; i++)
        {
            await core.PublishAsync(Events.Fill($"O-{i % 5}"), CancellationToken.None);
        }

        foreach (var c in fast)
        {
            await Eventually.WaitUntilAsync(() => c.Count == n, "fast connections get everything while the slow ones wait for a write");
        }

        Assert.That(slow.IsPaused, Is.True);
        Assert.That(slow.Count, Is.LessThan(n));
        slow.ReleaseWrite();
        dropper.ReleaseWrite();

        await Eventually.WaitUntilAsync(() => slow.Count == n, "the at_least_once subscription catches up without loss");
        Assert.That(slow.Deliveries.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, n).Select(i => (long)i)));
        await Eventually.WaitUntilAsync(() => dropper.Count + dropper.Dropped == n, "the at_most_once subscription's drops are announced");
        Assert.That(dropper.Dropped, Is.GreaterThan(0));
    }

    [Test]
    public async Task A_connection_with_a_long_backlog_is_served_all_of_it_in_one_turn_of_its_loop()
    {
        // One loop, two connections with 3,000 events queued each. A fixed few messages per turn would
        // alternate them, so a connection that takes most of the flow could never gain on it; a turn
        // serves what had arrived when it began.
        using var core = Dispatchers.Start(bufferCapacity: 8_192, deliveryThreads: 1);
        var turns = new ConcurrentQueue<string>();
        var first = RecordingConnection.Open(core, "first", holdFirstWrite: true, turns: turns, capacity: 8_192);
        var second = RecordingConnection.Open(core, "second", holdFirstWrite: true, turns: turns, capacity: 8_192);

        const int n = 3_000;
        for (var i = 0; i < n; i++)
        {
            await core.PublishAsync(Events.Fill($"O-{i % 5}"), CancellationToken.None);
        }

        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == n && first.IsPaused && second.IsPaused, "both wait for a write with a backlog");
        await Eventually.WaitUntilAsync(() => first.Subscriber.Backlog + second.Subscriber.Backlog >= 2 * (n - 256), "the backlog is queued");
        turns.Clear();
        first.ReleaseWrite();

        // Resumed means scheduled on the loop: the second is scheduled after it.
        await Eventually.WaitUntilAsync(() => !first.IsPaused, "the first is scheduled");
        second.ReleaseWrite();

        await Eventually.WaitUntilAsync(() => first.Count == n && second.Count == n, "both receive everything");
        var order = turns.ToList();
        Assert.That(order.Count(id => id == "first"), Is.GreaterThan(4), "the backlog takes more than a few messages");
        Assert.That(order.SkipWhile(id => id == "first"), Is.All.EqualTo("second"), "the first one's whole backlog came in its one turn");
    }

    [Test]
    public async Task A_connection_whose_writes_finish_on_another_thread_keeps_receiving()
    {
        // Every write completes on another thread right away: the connection pauses for each, and the
        // completion may come before the pause is seen. Delivery must go on, not stay paused.
        using var core = Dispatchers.Start(bufferCapacity: 8_192, readBatch: 16);
        var connection = RecordingConnection.Open(core, "quick", completeElsewhere: true, perMessage: 16, capacity: 8_192);

        const int n = 2_000;
        for (var i = 0; i < n; i++)
        {
            await core.PublishAsync(Events.Fill($"O-{i % 5}"), CancellationToken.None);
        }

        await Eventually.WaitUntilAsync(() => connection.Count == n, "every event arrives although every write paused");
        Assert.That(connection.Deliveries.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, n).Select(i => (long)i)));
        Assert.That(connection.Messages, Is.GreaterThanOrEqualTo(n / 16), "many pauses, each ended");
    }

    [Test]
    public async Task A_message_carries_no_more_events_than_the_subscription_takes_per_message()
    {
        using var core = Dispatchers.Start(readBatch: 256);
        var connection = RecordingConnection.Open(core, "small", holdFirstWrite: true, perMessage: 7);

        const int n = 500;
        for (var i = 0; i < n; i++)
        {
            await core.PublishAsync(Events.Fill($"O-{i % 5}"), CancellationToken.None);
        }

        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == n && connection.IsPaused, "a backlog waits");
        connection.ReleaseWrite();
        await Eventually.WaitUntilAsync(() => connection.Count == n, "everything arrives");
        Assert.That(connection.Deliveries.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(1, n).Select(i => (long)i)));
        Assert.That(connection.LargestMessage, Is.EqualTo(7), "messages of the subscription's size, never more");
    }

    [Test]
    public async Task A_connection_whose_transport_throws_ends_alone()
    {
        using var core = Dispatchers.Start();
        var faulty = RecordingConnection.Open(core, "faulty", throwOnWrite: true);
        var healthy = RecordingConnection.Open(core, "healthy");

        for (var i = 0; i < 100; i++)
        {
            core.TryPublish(Events.Fill());
        }

        await Eventually.WaitUntilAsync(() => healthy.Count == 100, "the healthy connection gets everything");
        await faulty.Done.WaitAsync(Eventually.DefaultTimeout);
        await Eventually.WaitUntilAsync(() => faulty.Subscriber.IsClosed && core.GetStats().Subscribers == 1, "the faulty one stops reading its subscription");
        Assert.That(healthy.Done.IsCompleted, Is.False);
    }

    [Test]
    public async Task Unsubscribing_ends_a_connection_of_one_subscription_once()
    {
        using var core = Dispatchers.Start();
        var connection = RecordingConnection.Open(core, "bye");

        core.Unsubscribe(connection.Subscriber);
        core.Unsubscribe(connection.Subscriber);

        await connection.Done.WaitAsync(Eventually.DefaultTimeout);
        core.TryPublish(Events.Fill());
        await Eventually.WaitUntilAsync(() => core.GetStats().Ingested == 1, "ingested");
        Assert.That(connection.Count, Is.Zero);
        Assert.That(connection.Ended, Is.EqualTo(1));
        Assert.That(connection.Subscriptions.Members, Is.Empty);
    }

    /// <summary>A connection of one subscription whose transport records what it is given.</summary>
    private sealed class RecordingConnection : Connection
    {
        private readonly ConcurrentQueue<Delivery> _deliveries = new();
        private readonly TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly bool _holdFirstWrite;
        private readonly bool _completeElsewhere;
        private readonly bool _throwOnWrite;
        private readonly ConcurrentQueue<string>? _turns;
        private long _dropped;
        private int _messages;
        private int _largest;

        internal override StreamTransport Transport => StreamTransport.WebSocket;
        private int _ended;

        private RecordingConnection(FanOutDispatcher core, bool holdFirstWrite, bool completeElsewhere, bool throwOnWrite, ConcurrentQueue<string>? turns)
            : base(core, Connections.Registry(), Connections.Trail(), 1, "Test:MaxSubscriptions", multiplexed: false, TimeProvider.System, TimeSpan.Zero, TimeSpan.FromMinutes(1), CancellationToken.None)
        {
            _holdFirstWrite = holdFirstWrite;
            _completeElsewhere = completeElsewhere;
            _throwOnWrite = throwOnWrite;
            _turns = turns;
        }

        public Subscriber Subscriber { get; private set; } = null!;

        public int Count => _deliveries.Count;

        public List<Delivery> Deliveries => [.. _deliveries];

        public long Dropped => Interlocked.Read(ref _dropped);

        public int Messages => Volatile.Read(ref _messages);

        public int LargestMessage => Volatile.Read(ref _largest);

        public int Ended => Volatile.Read(ref _ended);

        public static RecordingConnection Open(
            FanOutDispatcher core, string id, DeliveryGuarantee guarantee = DeliveryGuarantee.AtLeastOnce, bool holdFirstWrite = false, bool completeElsewhere = false,
            bool throwOnWrite = false, int perMessage = 256, ConcurrentQueue<string>? turns = null, int capacity = 1_024)
        {
            var connection = new RecordingConnection(core, holdFirstWrite, completeElsewhere, throwOnWrite, turns);
            connection.Subscriber = Connections.Open(connection, id, guarantee, perMessage, capacity).Subscriber;
            return connection;
        }

        /// <summary>The first write, held until now, completes.</summary>
        public void ReleaseWrite() => _held.TrySetResult();

        protected override ValueTask WriteEvents(StreamMember[] members)
        {
            if (_throwOnWrite)
            {
                throw new InvalidOperationException("transport bug");
            }

            var batch = members[0].Batch;
            _turns?.Enqueue(members[0].Id);
            foreach (var d in batch.Deliveries)
            {
                _deliveries.Enqueue(d);
            }

            Interlocked.Add(ref _dropped, batch.Dropped);
            if (batch.Count > _largest)
            {
                Volatile.Write(ref _largest, batch.Count);
            }

            var number = Interlocked.Increment(ref _messages);
            if (_holdFirstWrite && number == 1)
            {
                return new ValueTask(_held.Task);
            }

            return _completeElsewhere ? new ValueTask(Task.Run(static () => { })) : default;
        }

        protected override ValueTask WriteHeartbeat(CancellationToken cancellationToken) => default;

        protected override Task OnEndedAsync(StreamMember member)
        {
            Interlocked.Increment(ref _ended);
            return Task.CompletedTask;
        }

        protected override bool IsDisconnect(Exception exception) => false;
    }
}
