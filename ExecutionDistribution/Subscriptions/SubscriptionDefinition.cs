using ExecutionDistribution.Contract;
using ExecutionDistribution.Core;

namespace ExecutionDistribution.Subscriptions;

/// <summary>A subscription as a client defines it (gRPC SubscriptionRequest, REST body).</summary>
/// <param name="SubscriptionId">1-100 characters.</param>
/// <param name="TopicName">A topic or topic pattern (1-200 characters), AND-ed into the filter.</param>
/// <param name="SubscriberWorkflow">Who subscribes (1-100 characters).</param>
/// <param name="Filter">The filter; its topics stay empty (the topic is <paramref name="TopicName"/>).</param>
/// <param name="DeliveryGuarantee">at_least_once (default) or at_most_once.</param>
public sealed record SubscriptionDefinition(
    string SubscriptionId,
    string TopicName,
    string SubscriberWorkflow,
    FilterSpec Filter,
    string? DeliveryGuarantee);

/// <summary>The rules of a subscription definition, shared by every API that manages subscriptions.</summary>
internal static class SubscriptionRules
{
    /// <summary>Checks a subscription id; a problem when it is not 1-100 characters that a URL path segment takes unescaped.</summary>
    public static ValidationProblem? CheckId(string? id) =>
        string.IsNullOrEmpty(id) || id.Length > 100 ? new ValidationProblem("subscription_id", "must be 1 to 100 characters")
        : TextRules.HasNul(id) ? new ValidationProblem("subscription_id", TextRules.NoNul)
        : !TextRules.IsPathSegmentText(id) ? new ValidationProblem("subscription_id", TextRules.PathSegmentOnly)
        : null;

    /// <summary>Builds the managed subscription, or returns every problem named by its field.</summary>
    public static ManagedSubscription? Build(
        SubscriptionDefinition d, string status, DateTime createdAt, ResumeToken acknowledged, out List<ValidationProblem> problems, out bool overLimit)
    {
        problems = [];
        overLimit = false;
        if (CheckId(d.SubscriptionId) is { } idProblem)
        {
            problems.Add(idProblem);
        }

        if (string.IsNullOrEmpty(d.TopicName) || d.TopicName.Length > 200)
        {
            problems.Add(new ValidationProblem("topic_name", "must be 1 to 200 characters (a topic or topic pattern)"));
        }
        else if (TextRules.HasNul(d.TopicName))
        {
            problems.Add(new ValidationProblem("topic_name", TextRules.NoNul));
        }
        else if (!TextRules.IsPrintableAscii(d.TopicName))
        {
            problems.Add(new ValidationProblem("topic_name", TextRules.PrintableAsciiOnly));
        }

        if (string.IsNullOrEmpty(d.SubscriberWorkflow) || d.SubscriberWorkflow.Length > 100)
        {
            problems.Add(new ValidationProblem("subscriber_workflow", "must be 1 to 100 characters"));
        }
        else if (TextRules.HasNul(d.SubscriberWorkflow))
        {
            problems.Add(new ValidationProblem("subscriber_workflow", TextRules.NoNul));
        }
        else if (!TextRules.IsPrintableAscii(d.SubscriberWorkflow))
        {
            problems.Add(new ValidationProblem("subscriber_workflow", TextRules.PrintableAsciiOnly));
        }

        if (d.Filter.Topics.Count > 0)
        {
            problems.Add(new ValidationProblem("filter.topics", "a subscription's topic is topic_name; leave filter.topics empty"));
        }

        var guarantee = DeliveryGuarantee.AtLeastOnce;
        if (!string.IsNullOrEmpty(d.DeliveryGuarantee) && !WireNames.TryParseDeliveryGuarantee(d.DeliveryGuarantee, out guarantee))
        {
            problems.Add(new ValidationProblem("delivery_guarantee", "must be at_least_once or at_most_once"));
        }

        // The filter is checked even when the fields above have problems, so every problem is reported at
        // once; the topic joins it only when it passed its own check (else it is reported once, above).
        var topicChecked = !problems.Exists(p => p.Path == "topic_name");
        var spec = d.Filter with { Topics = topicChecked ? [d.TopicName] : [] };
        var filter = spec.Build(out var filterProblems, out var filterOverLimit);
        foreach (var p in filterProblems)
        {
            problems.Add(p.Path.StartsWith("topics[", StringComparison.Ordinal) ? p with { Path = "topic_name" } : p with { Path = $"filter.{p.Path}" });
        }

        // A limit answer (ResourceExhausted / 429) only when the filter's limits are all that is wrong.
        overLimit = filterOverLimit && problems.Count == filterProblems.Count;
        if (filter is null || problems.Count > 0)
        {
            return null;
        }

        return new ManagedSubscription(d.SubscriptionId, d.TopicName, d.SubscriberWorkflow, d.Filter, filter, guarantee, status, createdAt, acknowledged);
    }
}
