using CsCheck;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Tests.Support;
using Grpc.Net.Client;

namespace ExecutionDistribution.Tests.Streaming.Grpc;

/// <summary>
/// A StreamMultiplexed call fed generated commands: each one is answered (subscribed, unsubscribed,
/// acked or an error naming what is wrong) with its request id, the call goes on, and the
/// subscription it opened first still gets its events after all of them. A fixed seed;
/// EXECDIST_FUZZ_CASES runs more.
/// </summary>
[Category("Unit")]
public sealed class CommandPropertyTests
{
    // Text as a .NET client can send it (protobuf strings are valid UTF-8): meaningful, empty, long, odd.
    private static readonly Gen<string> Text = Gen.Frequency(
        (3, Gen.OneOf("FILL_NOTIFICATION", "fill_notification", "at_least_once", "at_most_once", "execution/#", "#", "*", "AAPL.*", "a//b", "..", "O-1", "NYSE")),
        (3, Gen.OneOf("", " ", "\0", "a\r\nb", "漢字", "caf\u00e9", new string('x', 300), new string('y', 70_000))),
        (2, Gen.String));

    private static readonly Gen<Filter> Filters = Gen.Select(
        Text.Array[0, 3], Text.Array[0, 3], Text.Array[0, 3], Text.Array[0, 3], Gen.Int[-5, 12], Gen.Int[0, 1],
        (topics, keys, types, ids, priority, huge) =>
        {
            var f = new Filter { MinPriority = priority };
            f.Topics.AddRange(topics);
            f.RoutingKeys.AddRange(keys);
            f.DataTypes.AddRange(types);
            // Past the filter's limit of 10,000 order ids: refused with an error, the call goes on.
            f.OrderIds.AddRange(huge == 1 ? Enumerable.Range(0, 10_001).Select(n => $"O-{n}") : ids);
            return f;
        });

    private static readonly Gen<StreamCommand> Commands = Gen.Frequency(
        (5, Gen.Select(Filters, Text, Text, Text, Gen.Int[-2, 2_000], (filter, id, guarantee, token, max) => new StreamCommand
        {
            Subscribe = new StreamRequest { Filter = filter, SubscriptionId = id.Length > 40 ? string.Empty : id, DeliveryGuarantee = guarantee, ResumeToken = token, MaxEventsPerMessage = max },
        })),
        (2, Text.Select(id => new StreamCommand { Unsubscribe = id })),
        (2, Gen.Select(Text, Text, (id, token) => new StreamCommand { Ack = new AckRequest { SubscriptionId = id, ResumeToken = token } })),
        (1, Gen.Const(() => new StreamCommand())));

    [Test]
    public async Task No_command_ends_a_multiplexed_call_or_its_other_subscriptions()
    {
        await using var host = await ServiceHost.StartAsync("--Grpc:MaxSubscriptionsPerCall=1000");
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        using var call = new ExecutionStream.ExecutionStreamClient(channel).StreamMultiplexed();
        var order = $"prop-{Guid.NewGuid():N}";
        var keep = new Filter();
        keep.OrderIds.Add(order);
        await call.RequestStream.WriteAsync(new StreamCommand { RequestId = "keep", Subscribe = new StreamRequest { Filter = keep } });
        var kept = (await NextAsync(call, m => m.Subscribed?.RequestId == "keep")).Subscribed.SubscriptionId;

        var i = 0;
        foreach (var command in InputGen.Draw(Commands, InputGen.Cases(1_000), seed: 20261207))
        {
            command.RequestId = $"c{i++}";
            if (command.CalculateSize() > 1024 * 1024)
            {
                continue; // over gRPC's receive limit a command ends its call, as documented (MultiplexedCallTests)
            }

            await call.RequestStream.WriteAsync(command);
            var reply = await NextAsync(call, m => m.BodyCase switch
            {
                MultiplexedMessage.BodyOneofCase.Subscribed => m.Subscribed.RequestId == command.RequestId,
                MultiplexedMessage.BodyOneofCase.Unsubscribed => m.Unsubscribed.RequestId == command.RequestId,
                MultiplexedMessage.BodyOneofCase.Acked => m.Acked.RequestId == command.RequestId,
                MultiplexedMessage.BodyOneofCase.Error => m.Error.RequestId == command.RequestId,
                _ => false,
            });
            if (reply.BodyCase == MultiplexedMessage.BodyOneofCase.Error)
            {
                Assert.That(reply.Error.Message, Is.Not.Empty, $"{command}: the error says what is wrong");
            }
        }

        host.Core.TryPublish(Events.Fill(order, eventId: $"{order}-after"));
        var events = await NextAsync(call, m => m.Events?.Events.Any(e => e.Deliveries.Any(d => d.SubscriptionId == kept)) == true);
        Assert.That(events.Events.Events.Select(e => e.EventId), Does.Contain($"{order}-after"), "the first subscription still streams");
    }

    private static async Task<MultiplexedMessage> NextAsync(global::Grpc.Core.AsyncDuplexStreamingCall<StreamCommand, MultiplexedMessage> call, Func<MultiplexedMessage, bool> predicate)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await call.ResponseStream.MoveNext(deadline.Token))
        {
            if (predicate(call.ResponseStream.Current))
            {
                return call.ResponseStream.Current;
            }
        }

        Assert.Fail($"the call ended: {call.GetStatus()}");
        return null!;
    }
}
