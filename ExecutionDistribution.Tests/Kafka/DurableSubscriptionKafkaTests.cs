using System.Net;
using System.Net.Http.Json;
using Dapper;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Tests.Streaming.Grpc;
using ExecutionDistribution.Tests.Support;
using Grpc.Net.Client;

namespace ExecutionDistribution.Tests.Kafka;

/// <summary>
/// A durable subscription's acknowledged point is Kafka offsets per partition, stored in PostgreSQL:
/// Kafka's retention is the durable log, so the instance the client reaches next serves it exactly
/// from that point, whatever the consumer group has committed meanwhile.
/// </summary>
[Category("Postgres")]
[Category("Kafka")]
public sealed class DurableSubscriptionKafkaTests : EmbeddedKafkaTestBase
{
    // The acknowledged point is Kafka offsets per partition (stored in PostgreSQL): the second
    // instance serves the subscription exactly from it, re-reading Kafka for what its own log does not hold.
    [Test]
    public async Task After_a_sigkill_a_durable_subscription_receives_exactly_the_events_it_had_not_acknowledged_on_the_next_instance()
    {
        var topics = new KafkaTestTopics(Cluster);
        await using var db = new TestPostgres();
        var id = $"durable-{Guid.NewGuid():N}";
        var order = $"{id}-order";
        string[] settings = [.. topics.HostSettings, .. db.Settings()];
        var ids = Enumerable.Range(0, 50).Select(i => $"{id}-{i}").ToList();

        using (var first = ChildHost.Start(settings))
        {
            using var client = new HttpClient { BaseAddress = first.HttpAddress };
            await Eventually.WaitUntilAsync(() =>
            {
                try
                {
                    using var r = client.GetAsync(new Uri("/api/v1/distribution/stats", UriKind.Relative)).GetAwaiter().GetResult();
                    return r.IsSuccessStatusCode;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, "the first instance answers", TimeSpan.FromSeconds(60));
            using var created = await client.PostAsJsonAsync("/api/v1/subscriptions", new
            {
                subscription_id = id,
                topic_name = "#",
                subscriber_workflow = "risk",
                filter = new { order_ids = new[] { order } },
            });
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created), await created.Content.ReadAsStringAsync());

            using var channel = GrpcChannel.ForAddress(first.GrpcAddress);
            var streams = new ExecutionStream.ExecutionStreamClient(channel);
            using var call = streams.StreamExecution(new StreamRequest { SubscriptionId = id, MaxEventsPerMessage = 1 });
            var headers = await call.ResponseHeadersAsync.WaitAsync(TimeSpan.FromSeconds(30));
            using (var producer = KafkaClients.Producer(Cluster.BootstrapServers))
            {
                foreach (var eventId in ids)
                {
                    KafkaClients.Produce(producer, topics.Input, order, KafkaClients.Json(Events.Fill(order, eventId: eventId)));
                }

                producer.Flush(TimeSpan.FromSeconds(30));
            }

            // Receive all 50, one per message; acknowledge only the first 20.
            string? tokenAfter20 = null;
            var received = new List<string>();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (received.Count < 50 && await call.ResponseStream.MoveNext(timeout.Token))
            {
                var m = call.ResponseStream.Current;
                if (m.BodyCase == ExecutionMessage.BodyOneofCase.Events)
                {
                    received.AddRange(m.Events.Deliveries.Select(d => d.EventId));
                    if (received.Count == 20)
                    {
                        tokenAfter20 = m.ResumeToken;
                    }
                }
            }

            Assert.That(received, Is.EqualTo(ids));
            await streams.AcknowledgeAsync(new AckRequest { SubscriptionId = id, ResumeToken = tokenAfter20 });
            await using var c = await db.OpenAsync();
            await Eventually.WaitUntilAsync(() => c.ExecuteScalar<long?>("SELECT sequence FROM subscription_positions WHERE subscription_id = @id", new { id }) == 20,
                "the acknowledgement is stored");
            first.Kill();
        }

        // Second instance, same group and database: the subscription is back, and Kafka is read again from its acknowledged point.
        await using var second = await ServiceHost.StartAsync([.. topics.HostSettings, .. db.Settings()]);
        using var channel2 = GrpcChannel.ForAddress(second.GrpcAddress);
        using var call2 = new ExecutionStream.ExecutionStreamClient(channel2).StreamExecution(new StreamRequest { SubscriptionId = id });
        using var reader = new MessageReader(call2);
        var again = new List<ExecutionDistribution.Grpc.V1.Delivery>();
        {
            // Then one event produced now: everything before it arrives first, and nothing twice.
            await call2.ResponseHeadersAsync.WaitAsync(TimeSpan.FromSeconds(30));
            using (var producer = KafkaClients.Producer(Cluster.BootstrapServers))
            {
                KafkaClients.Produce(producer, topics.Input, order, KafkaClients.Json(Events.Fill(order, eventId: $"{id}-after")));
                producer.Flush(TimeSpan.FromSeconds(30));
            }

            while (!again.Any(d => d.EventId == $"{id}-after"))
            {
                again.AddRange(await reader.ReceiveDeliveriesAsync(1));
            }

            Assert.That(again.Select(d => d.EventId), Is.EqualTo(ids.Skip(20).Append($"{id}-after")), "exactly the unacknowledged events, in order, then the new one");
            Assert.That(again.Select(d => d.Sequence), Is.EqualTo(Enumerable.Range(21, 31).Select(i => (long)i)), "sequence numbers go on from the acknowledged one");
        }
    }
}
