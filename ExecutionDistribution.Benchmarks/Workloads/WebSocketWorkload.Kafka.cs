using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using ExecutionDistribution.Benchmarks.Support;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Kafka;

namespace ExecutionDistribution.Benchmarks.Workloads;

/// <content>
/// <c>--source kafka</c>: W3 and W4 as BENCHMARKS.md has them, a Kafka topic (12 partitions) into the
/// service. The embedded broker runs in this process (as in W7), the service consumes the topic,
/// and the ladder's publisher produces each batch there (keyed by order id) instead of posting it.
/// The stamp is still taken just before the publish, so the latency includes the producer (its 5 ms
/// linger), the broker and the consumer's fetch (up to <c>Kafka:FetchWaitMax</c>, 5 ms here): more than "the
/// service receives the record", never less.
/// </content>
public static partial class WebSocketWorkload
{
    private sealed class KafkaSource : IDisposable
    {
        private readonly EmbeddedKafkaCluster _cluster;
        private readonly IProducer<byte[], byte[]> _producer;
        private readonly Dictionary<byte[], byte[]> _keys = new(ReferenceEqualityComparer.Instance);
        private readonly string _topic;

        public KafkaSource(IReadOnlyList<ExecutionEvent> parsed, byte[][] events)
        {
            _cluster = EmbeddedKafkaCluster.Start();
            var input = ServiceInputTopic.Create(_cluster, "w4");
            _topic = input.Topic;
            for (var i = 0; i < events.Length; i++)
            {
                _keys[events[i]] = Encoding.UTF8.GetBytes(parsed[i].OrderId ?? parsed[i].EventId);
            }

            // 5 ms, as ../shared/KAFKA.md says for the mock broker: below that it takes many tiny batches
            // on its one I/O thread, which shares the 2 cores with the service. With 0, at 14,000 events/s
            // of the standard population the load side spent 11.4 µs per delivery against 5.8 and the
            // service fell behind (86,397 of 95,525 deliveries/s, p99 751 ms; with 5: 95,260/s, p99 113 ms;
            // one run each). The linger is inside the measured latency.
            _producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = _cluster.BootstrapServers, LingerMs = 5 }).Build();
            Settings =
            [
                .. input.Settings,

                // The embedded broker answers a fetch only when its wait expires (a real broker answers when
                // records arrive), so the wait is what a record sits there: 5 ms instead of the default 100.
                "--Kafka:FetchWaitMax=00:00:00.005",
            ];
        }

        /// <summary>
        /// The Kafka leg alone (<c>--kafka-leg</c>): a bare consumer of the same topic in this process, in a
        /// group of its own, with the service's fetch wait; it records each record's stamp as a stream does,
        /// so beside ours it shows what the producer, the broker and a fetch cost at the same moment.
        /// </summary>
        public Receiver StartLeg() => new KafkaLeg(_cluster.BootstrapServers, _topic);

        /// <summary>The service's settings for consuming the topic.</summary>
        public string[] Settings { get; }

        /// <summary>Produces each event of the batch (librdkafka copies the bytes, so the next stamp does not touch them).</summary>
        public void Publish(List<byte[]> batch)
        {
            foreach (var e in batch)
            {
                _producer.Produce(_topic, new Message<byte[], byte[]> { Key = _keys[e], Value = e });
            }
        }

        /// <summary>Produces one event and waits until the service has ingested it: its consumer has joined and been assigned the partitions.</summary>
        public void WaitUntilConsuming(Uri service, byte[] probe)
        {
            using var http = new HttpClient { BaseAddress = service };
            var clock = Stopwatch.StartNew();
            _producer.Produce(_topic, new Message<byte[], byte[]> { Key = _keys[probe], Value = probe });
            _producer.Flush(TimeSpan.FromSeconds(10));
            while (clock.Elapsed < TimeSpan.FromSeconds(60))
            {
                var stats = JsonDocument.Parse(http.GetStringAsync(new Uri("/api/v1/distribution/stats", UriKind.Relative)).GetAwaiter().GetResult()).RootElement;
                if (stats.GetProperty("ingested").GetInt64() > 0)
                {
                    return;
                }

                Thread.Sleep(100);
            }

            throw new TimeoutException("the service did not consume the input topic within 60 s");
        }

        public void Dispose()
        {
            _producer.Flush(TimeSpan.FromSeconds(10));
            _producer.Dispose();
            _cluster.Dispose();
        }
    }

    /// <summary>A bare consumer of the topic on a thread of its own (<see cref="KafkaSource.StartLeg"/>).</summary>
    private sealed class KafkaLeg : Receiver
    {
        private readonly Thread _thread;
        private volatile bool _stop;

        public KafkaLeg(string bootstrapServers, string topic)
        {
            var config = new ConsumerConfig
            {
                BootstrapServers = bootstrapServers,
                GroupId = $"w4-kafka-leg-{Guid.NewGuid():N}",
                AutoOffsetReset = AutoOffsetReset.Latest,
                FetchWaitMaxMs = 5, // as the service's (KafkaSource.Settings)
            };
            _thread = new Thread(() =>
            {
                using var consumer = new ConsumerBuilder<byte[], byte[]>(config).Build();
                consumer.Subscribe(topic);
                while (!_stop)
                {
                    if (consumer.Consume(100) is { } record)
                    {
                        Record(record.Message.Value);
                    }
                }

                consumer.Close();
            }) { IsBackground = true, Name = "w4-kafka-leg" };
            _thread.Start();
        }

        public override void Dispose()
        {
            _stop = true;
            _thread.Join(TimeSpan.FromSeconds(10));
        }
    }
}
