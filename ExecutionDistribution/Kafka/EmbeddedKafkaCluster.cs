using System.Reflection;
using System.Runtime.InteropServices;

namespace ExecutionDistribution.Kafka;

/// <summary>
/// librdkafka's built-in Kafka-protocol broker (its mock cluster) on loopback, started through the
/// same native library Confluent.Kafka uses, so that our real producer and consumer talk the real
/// wire protocol to it. In memory only: topics, data and committed offsets live as long as this
/// object. See ../shared/KAFKA.md for what it can and cannot do.
/// </summary>
public sealed partial class EmbeddedKafkaCluster : IDisposable
{
    private const string Library = "librdkafka";
    private static int _resolverInstalled;
    private readonly Lock _gate = new();
    private nint _handle;
    private nint _cluster;

    private EmbeddedKafkaCluster(nint handle, nint cluster, string bootstrapServers)
    {
        _handle = handle;
        _cluster = cluster;
        BootstrapServers = bootstrapServers;
    }

    /// <summary>The cluster's bootstrap list, <c>127.0.0.1:PORT,...</c>.</summary>
    public string BootstrapServers { get; }

    /// <summary>Starts a mock cluster of <paramref name="brokers"/> brokers on random loopback ports.</summary>
    public static EmbeddedKafkaCluster Start(int brokers = 1)
    {
        InstallResolver();
        var errors = new byte[512];
        var conf = NativeMethods.rd_kafka_conf_new();

        // The handle only hosts the mock cluster; it never connects, so its "no bootstrap.servers" warning is noise.
        NativeMethods.rd_kafka_conf_set(conf, "log_level", "3", errors, (nuint)errors.Length);
        var handle = NativeMethods.rd_kafka_new(0 /* producer */, conf, errors, (nuint)errors.Length);
        if (handle == 0)
        {
            throw new InvalidOperationException($"Could not create the librdkafka handle for the embedded broker: {System.Text.Encoding.UTF8.GetString(errors).TrimEnd('\0')}");
        }

        var cluster = NativeMethods.rd_kafka_mock_cluster_new(handle, brokers);
        if (cluster == 0)
        {
            NativeMethods.rd_kafka_destroy(handle);
            throw new InvalidOperationException("Could not start the embedded Kafka-protocol broker (rd_kafka_mock_cluster_new failed).");
        }

        // Rebalances in tests and the embedded run should not wait the default 3 s for more members.
        NativeMethods.rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, 0);
        var bootstraps = Marshal.PtrToStringUTF8(NativeMethods.rd_kafka_mock_cluster_bootstraps(cluster))!;
        return new EmbeddedKafkaCluster(handle, cluster, bootstraps);
    }

    /// <summary>
    /// The id of the Kafka cluster at <paramref name="bootstrapServers"/> (any Kafka-protocol cluster, this
    /// one or a real one), or null when it does not answer within <paramref name="timeout"/>. Asked through
    /// librdkafka directly: Confluent.Kafka does not expose it, and its admin call for it needs an admin
    /// API the embedded broker lacks.
    /// </summary>
    internal static string? QueryClusterId(string bootstrapServers, TimeSpan timeout)
    {
        InstallResolver();
        var errors = new byte[512];
        var conf = NativeMethods.rd_kafka_conf_new();
        NativeMethods.rd_kafka_conf_set(conf, "log_level", "3", errors, (nuint)errors.Length);
        if (NativeMethods.rd_kafka_conf_set(conf, "bootstrap.servers", bootstrapServers, errors, (nuint)errors.Length) != 0)
        {
            NativeMethods.rd_kafka_conf_destroy(conf);
            return null;
        }

        var handle = NativeMethods.rd_kafka_new(0 /* producer */, conf, errors, (nuint)errors.Length);
        if (handle == 0)
        {
            return null;
        }

        try
        {
            var id = NativeMethods.rd_kafka_clusterid(handle, (int)timeout.TotalMilliseconds);
            if (id == 0)
            {
                return null;
            }

            var text = Marshal.PtrToStringUTF8(id);
            NativeMethods.rd_kafka_mem_free(handle, id);
            return string.IsNullOrEmpty(text) ? null : text;
        }
        finally
        {
            NativeMethods.rd_kafka_destroy(handle);
        }
    }

    /// <summary>Creates a topic (the mock broker has no admin API). Creating an existing topic is harmless.</summary>
    public void CreateTopic(string topic, int partitions)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_cluster == 0, this);
            var error = NativeMethods.rd_kafka_mock_topic_create(_cluster, topic, partitions, 1);
            if (error != 0 && error != 36 /* TOPIC_ALREADY_EXISTS */)
            {
                throw new InvalidOperationException($"Could not create topic '{topic}' on the embedded broker (error {error}).");
            }
        }
    }

    /// <summary>Takes every broker down (clients see timeouts and disconnects) until <see cref="SetUp"/>.</summary>
    public void SetDown()
    {
        lock (_gate)
        {
            NativeMethods.rd_kafka_mock_broker_set_down(_cluster, -1);
        }
    }

    /// <summary>Lets the brokers accept connections again.</summary>
    public void SetUp()
    {
        lock (_gate)
        {
            NativeMethods.rd_kafka_mock_broker_set_up(_cluster, -1);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            if (_cluster != 0)
            {
                NativeMethods.rd_kafka_mock_cluster_destroy(_cluster);
                _cluster = 0;
            }

            if (_handle != 0)
            {
                NativeMethods.rd_kafka_destroy(_handle);
                _handle = 0;
            }
        }
    }

    // Confluent.Kafka loads runtimes/linux-x64/native/librdkafka.so, or, where that cannot load (Debian 12
    // has no libsasl2.so.3), centos8-librdkafka.so from the same folder. Resolve "librdkafka" the same way
    // so that our calls and Confluent.Kafka's share one copy of the library.
    private static void InstallResolver()
    {
        if (Interlocked.Exchange(ref _resolverInstalled, 1) == 1)
        {
            return;
        }

        NativeLibrary.SetDllImportResolver(typeof(EmbeddedKafkaCluster).Assembly, Resolve);
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != Library)
        {
            return 0;
        }

        var folder = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");
        foreach (var file in new[] { "librdkafka.so", "centos8-librdkafka.so" })
        {
            if (NativeLibrary.TryLoad(Path.Combine(folder, file), out var handle))
            {
                return handle;
            }
        }

        return NativeLibrary.TryLoad(name, assembly, searchPath, out var fallback) ? fallback : 0;
    }

    private static partial class NativeMethods
    {
        [LibraryImport(Library)]
        internal static partial nint rd_kafka_conf_new();

        [LibraryImport(Library)]
        internal static partial nint rd_kafka_new(int type, nint conf, [Out] byte[] errstr, nuint errstrSize);

        [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int rd_kafka_conf_set(nint conf, string name, string value, [Out] byte[] errstr, nuint errstrSize);

        [LibraryImport(Library)]
        internal static partial void rd_kafka_destroy(nint rk);

        [LibraryImport(Library)]
        internal static partial void rd_kafka_conf_destroy(nint conf);

        [LibraryImport(Library)]
        internal static partial nint rd_kafka_clusterid(nint rk, int timeoutMs);

        [LibraryImport(Library)]
        internal static partial void rd_kafka_mem_free(nint rk, nint ptr);

        [LibraryImport(Library)]
        internal static partial nint rd_kafka_mock_cluster_new(nint rk, int brokerCount);

        [LibraryImport(Library)]
        internal static partial void rd_kafka_mock_cluster_destroy(nint cluster);

        [LibraryImport(Library)]
        internal static partial nint rd_kafka_mock_cluster_bootstraps(nint cluster);

        [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int rd_kafka_mock_topic_create(nint cluster, string topic, int partitions, int replicationFactor);

        [LibraryImport(Library)]
        internal static partial int rd_kafka_mock_broker_set_down(nint cluster, int brokerId);

        [LibraryImport(Library)]
        internal static partial int rd_kafka_mock_broker_set_up(nint cluster, int brokerId);

        [LibraryImport(Library)]
        internal static partial void rd_kafka_mock_group_initial_rebalance_delay_ms(nint cluster, int delayMs);
    }
}
