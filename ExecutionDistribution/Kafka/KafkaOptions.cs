using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Kafka;

/// <summary>Settings of the Kafka ingest and output (section <c>Kafka</c>).</summary>
public sealed class KafkaOptions
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
    public int MaxRecordBytes { get; set; } = 512 * 1024;

    /// <summary>Threads that parse a consumed batch in parallel (events are still handed over in order); 1: the consume thread alone.</summary>
    public int ParseThreads { get; set; } = Math.Max(1, Math.Min(Environment.ProcessorCount, 4));

    /// <summary>Consumer session timeout (a rebalance after a crash takes about this long).</summary>
    public TimeSpan SessionTimeout { get; set; } = TimeSpan.FromSeconds(6);

    /// <summary>How often safe offsets are committed.</summary>
    public TimeSpan CommitInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Longest a fetch waits at the broker for records (librdkafka's fetch.wait.max.ms). A broker that
    /// answers as soon as records arrive makes this the idle poll only; the embedded broker answers
    /// when it expires, so it bounds how long a record can sit there before it is consumed.
    /// </summary>
    public TimeSpan FetchWaitMax { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Settings of the embedded broker, used when <see cref="BootstrapServers"/> is empty.</summary>
    public EmbeddedKafkaOptions Embedded { get; set; } = new();
}

/// <summary>The embedded Kafka-protocol broker (../shared/KAFKA.md).</summary>
public sealed class EmbeddedKafkaOptions
{
    /// <summary>Brokers in the mock cluster.</summary>
    public int Brokers { get; set; } = 1;

    /// <summary>Partitions of each topic the host creates.</summary>
    public int Partitions { get; set; } = 12;

    /// <summary>A fixed loopback bootstrap port (e.g. 9092, for <c>kcat -b localhost:9092</c>); 0 for none.</summary>
    public int Port { get; set; }
}

/// <summary>Validates the Kafka settings at start, naming the bad key.</summary>
internal sealed class KafkaOptionsValidator : IValidateOptions<KafkaOptions>
{
    public ValidateOptionsResult Validate(string? name, KafkaOptions o)
    {
        var failures = new List<string>();
        var p = KafkaOptions.SectionName;
        if (o.Enabled && o.InputTopics.Length == 0)
        {
            failures.Add($"{p}:{nameof(o.InputTopics)} must name at least one topic.");
        }

        for (var i = 0; i < o.InputTopics.Length; i++)
        {
            TopicName(failures, $"{p}:{nameof(o.InputTopics)}:{i}", o.InputTopics[i]);
        }

        TopicName(failures, $"{p}:{nameof(o.DeadLetterTopic)}", o.DeadLetterTopic);
        TopicName(failures, $"{p}:{nameof(o.UnroutedOutputTopic)}", o.UnroutedOutputTopic);
        TopicName(failures, $"{p}:{nameof(o.OutputTopicTemplate)}", o.OutputTopicTemplate.Replace("{workflow}", "w", StringComparison.Ordinal));

        if (string.IsNullOrWhiteSpace(o.ConsumerGroup))
        {
            failures.Add($"{p}:{nameof(o.ConsumerGroup)} must not be empty.");
        }

        if (string.IsNullOrWhiteSpace(o.DeadLetterTopic))
        {
            failures.Add($"{p}:{nameof(o.DeadLetterTopic)} must not be empty.");
        }

        if (!o.OutputTopicTemplate.Contains("{workflow}", StringComparison.Ordinal))
        {
            failures.Add($"{p}:{nameof(o.OutputTopicTemplate)} must contain {{workflow}} (was '{o.OutputTopicTemplate}').");
        }

        if (string.IsNullOrWhiteSpace(o.UnroutedOutputTopic))
        {
            failures.Add($"{p}:{nameof(o.UnroutedOutputTopic)} must not be empty.");
        }

        OptionRules.Range(failures, p, nameof(o.MaxRecordBytes), o.MaxRecordBytes, 1024, 64 * 1024 * 1024);
        OptionRules.Range(failures, p, nameof(o.ParseThreads), o.ParseThreads, 1, 64);
        OptionRules.Range(failures, p, nameof(o.SessionTimeout), o.SessionTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5));
        OptionRules.Range(failures, p, nameof(o.CommitInterval), o.CommitInterval, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1));
        OptionRules.Range(failures, p, nameof(o.FetchWaitMax), o.FetchWaitMax, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(10));
        OptionRules.Range(failures, p, "Embedded:Brokers", o.Embedded.Brokers, 1, 10);
        OptionRules.Range(failures, p, "Embedded:Partitions", o.Embedded.Partitions, 1, 1000);
        OptionRules.Range(failures, p, "Embedded:Port", o.Embedded.Port, 0, 65_535);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    // Kafka's rule: 1 to 249 characters of ASCII letters, digits, '.', '_' and '-'.
    private static void TopicName(List<string> failures, string key, string name)
    {
        if (name.Length is 0 or > 249 || !Contract.TextRules.IsKafkaTopicText(name))
        {
            failures.Add($"{key} must be a Kafka topic name: 1 to 249 of a-z, A-Z, 0-9, '.', '_', '-' (was '{name}').");
        }
    }
}
