using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Kafka;

/// <summary>Settings of the Kafka ingest and output (section <c>Kafka</c>).</summary>
public sealed class KafkaOptions : IValidatableObject
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Kafka";

    /// <summary>Turns the Kafka ingest and output on.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Brokers; empty starts the embedded Kafka-protocol broker (librdkafka's mock cluster).</summary>
    public string BootstrapServers { get; set; } = string.Empty;

    /// <summary>The input topic when none is configured.</summary>
    public const string DefaultInputTopic = "execution.events";

    /// <summary>
    /// Topics execution events are consumed from (default <see cref="DefaultInputTopic"/>). Empty here and
    /// defaulted after binding: the configuration binder appends to an array's initial items.
    /// </summary>
    public string[] InputTopics { get; set; } = [];

    /// <summary>Consumer group shared by the instances.</summary>
    public string ConsumerGroup { get; set; } = "execdist";

    /// <summary>Where records that fail parsing or validation go, with the reason in headers.</summary>
    public string DeadLetterTopic { get; set; } = "execution.events.dlq";

    /// <summary>Publishes execution_distributed events to Kafka.</summary>
    public bool OutputEnabled { get; set; } = true;

    /// <summary>Output topic per target workflow; <c>{workflow}</c> is replaced by the workflow name.</summary>
    public string OutputTopicTemplate { get; set; } = "execution.distributed.{workflow}";

    /// <summary>Output topic for events that name no target workflow.</summary>
    public string UnroutedOutputTopic { get; set; } = "execution.distributed.unrouted";

    /// <summary>Largest record value accepted; larger ones go to the dead-letter topic.</summary>
    [Range(1024, 67108864)]
    public int MaxRecordBytes { get; set; } = 512 * 1024;

    /// <summary>Records behind on the assigned input partitions (together) above which <c>/health/ready</c> says not ready.</summary>
    [Range(0, long.MaxValue)]
    public long ReadyMaxLag { get; set; } = 1_000_000;

    /// <summary>Threads that parse a consumed batch in parallel (events are still handed over in order); 1: the consume thread alone.</summary>
    [Range(1, 64)]
    public int ParseThreads { get; set; } = Math.Max(1, Math.Min(Environment.ProcessorCount, 4));

    /// <summary>Consumer session timeout (a rebalance after a crash takes about this long).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan SessionTimeout { get; set; } = TimeSpan.FromSeconds(6);

    /// <summary>How often safe offsets are committed.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan CommitInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Longest a fetch waits at the broker for records (librdkafka's fetch.wait.max.ms). A broker that
    /// answers as soon as records arrive makes this the idle poll only; the embedded broker answers
    /// when it expires, so it bounds how long a record can sit there before it is consumed.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:00:10")]
    public TimeSpan FetchWaitMax { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Settings of the embedded broker, used when <see cref="BootstrapServers"/> is empty.</summary>
    [ValidateObjectMembers]
    public EmbeddedKafkaOptions Embedded { get; set; } = new();

    /// <summary>The rules no annotation states: topic names as Kafka allows them, and the output template's placeholder.</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        const string p = SectionName;
        if (Enabled && InputTopics.Length == 0)
        {
            yield return new($"{p}:{nameof(InputTopics)} must name at least one topic.");
        }

        for (var i = 0; i < InputTopics.Length; i++)
        {
            if (TopicNameProblem($"{p}:{nameof(InputTopics)}:{i}", InputTopics[i]) is { } problem)
            {
                yield return problem;
            }
        }

        if (string.IsNullOrWhiteSpace(ConsumerGroup))
        {
            yield return new($"{p}:{nameof(ConsumerGroup)} must not be empty.");
        }

        if (!OutputTopicTemplate.Contains("{workflow}", StringComparison.Ordinal))
        {
            yield return new($"{p}:{nameof(OutputTopicTemplate)} must contain {{workflow}} (was '{OutputTopicTemplate}').");
        }

        foreach (var (key, name) in new[]
        {
            (nameof(DeadLetterTopic), DeadLetterTopic),
            (nameof(UnroutedOutputTopic), UnroutedOutputTopic),
            (nameof(OutputTopicTemplate), OutputTopicTemplate.Replace("{workflow}", "w", StringComparison.Ordinal)),
        })
        {
            if (TopicNameProblem($"{p}:{key}", name) is { } problem)
            {
                yield return problem;
            }
        }
    }

    // Kafka's rule: 1 to 249 characters of ASCII letters, digits, '.', '_' and '-'.
    private static ValidationResult? TopicNameProblem(string key, string name) =>
        name.Length is 0 or > 249 || !Contract.TextRules.IsKafkaTopicText(name)
            ? new($"{key} must be a Kafka topic name: 1 to 249 of a-z, A-Z, 0-9, '.', '_', '-' (was '{name}').")
            : null;
}

/// <summary>The embedded Kafka-protocol broker (../shared/KAFKA.md).</summary>
public sealed class EmbeddedKafkaOptions
{
    /// <summary>Brokers in the mock cluster.</summary>
    [Range(1, 10)]
    public int Brokers { get; set; } = 1;

    /// <summary>
    /// Partitions of each topic the host creates. The embedded broker keeps the newest 5 MB (and at
    /// most 100,000 produce batches) of each partition, fixed by librdkafka's mock cluster, so a topic
    /// keeps about this many times 5 MB.
    /// </summary>
    [Range(1, 1000)]
    public int Partitions { get; set; } = 12;

    /// <summary>Partitions of the dead-letter topic: it keeps about this many times 5 MB of the newest dead letters (the default, 240 MB).</summary>
    [Range(1, 1000)]
    public int DeadLetterPartitions { get; set; } = 48;

    /// <summary>A fixed loopback bootstrap port (e.g. 9092, for <c>kcat -b localhost:9092</c>); 0 for none.</summary>
    [Range(0, 65535)]
    public int Port { get; set; }
}

/// <summary>Validates the Kafka settings at start (generated from the annotations and <see cref="KafkaOptions.Validate"/>).</summary>
[OptionsValidator]
internal sealed partial class KafkaOptionsValidator : IValidateOptions<KafkaOptions>;
