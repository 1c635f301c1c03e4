using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Core;

/// <summary>
/// A subscription filter as clients send it (lists of strings, from a WebSocket query string, a gRPC
/// message or a REST body), turned into a <see cref="SubscriptionFilter"/> with every problem named by
/// its field. Limits keep one client from building a filter that costs everyone.
/// </summary>
public sealed record FilterSpec
{
    /// <summary>Most values in one dimension.</summary>
    public const int MaxValuesPerDimension = 1_000;

    /// <summary>Most order ids watched by one subscription.</summary>
    public const int MaxOrderIds = 10_000;

    /// <summary>How size-limit problems begin.</summary>
    private const string LimitPrefix = "exceeds the limit of";

    /// <summary>Topic patterns.</summary>
    public IReadOnlyList<string> Topics { get; init; } = [];

    /// <summary>Routing key patterns.</summary>
    public IReadOnlyList<string> RoutingKeys { get; init; } = [];

    /// <summary>Data type names.</summary>
    public IReadOnlyList<string> DataTypes { get; init; } = [];

    /// <summary>Order ids.</summary>
    public IReadOnlyList<string> OrderIds { get; init; } = [];

    /// <summary>Instruments.</summary>
    public IReadOnlyList<string> Instruments { get; init; } = [];

    /// <summary>Venues.</summary>
    public IReadOnlyList<string> Venues { get; init; } = [];

    /// <summary>Target workflows.</summary>
    public IReadOnlyList<string> TargetWorkflows { get; init; } = [];

    /// <summary>Portfolios; null for every one (an empty list takes only events of no portfolio: venue status).</summary>
    public IReadOnlyList<string>? PortfolioIds { get; init; }

    /// <summary>Least urgent priority taken (1-9), or null for all.</summary>
    public int? MinPriority { get; init; }

    /// <summary>Builds the filter, or returns every problem (field name, message).</summary>
    public SubscriptionFilter? Build(out List<ValidationProblem> problems) => Build(out problems, out _);

    /// <summary>
    /// Builds the filter, or returns every problem; <paramref name="overLimit"/> tells that a size limit
    /// (values per dimension, order ids) was exceeded, which transports answer as a resource limit.
    /// </summary>
    public SubscriptionFilter? Build(out List<ValidationProblem> problems, out bool overLimit)
    {
        problems = [];
        var topics = Patterns(Topics, '/', "topics", problems);
        var keys = Patterns(RoutingKeys, '.', "routing_keys", problems);
        var types = new HashSet<ExecutionDataType>();
        for (var i = 0; i < DataTypes.Count; i++)
        {
            if (IsNull(DataTypes[i], "data_types", i, problems))
            {
                continue;
            }

            if (WireNames.TryParseDataType(DataTypes[i].Trim(), out var type))
            {
                types.Add(type);
            }
            else
            {
                problems.Add(new ValidationProblem($"data_types[{i}]", $"'{DataTypes[i]}' is not one of {string.Join(", ", WireNames.DataTypes)}"));
            }
        }

        var orders = Values(OrderIds, "order_ids", MaxOrderIds, problems);
        var instruments = Values(Instruments, "instruments", MaxValuesPerDimension, problems);
        var venues = Values(Venues, "venues", MaxValuesPerDimension, problems);
        var workflows = Values(TargetWorkflows, "target_workflows", MaxValuesPerDimension, problems);
        var portfolios = PortfolioIds is null ? null : Values(PortfolioIds, "portfolio_ids", MaxValuesPerDimension, problems);
        if (MinPriority is < 1 or > 9)
        {
            problems.Add(new ValidationProblem("min_priority", "must be between 1 and 9"));
        }

        overLimit = problems.Exists(p => p.Message.StartsWith(LimitPrefix, StringComparison.Ordinal));
        return problems.Count > 0 ? null : new SubscriptionFilter
        {
            Topics = topics,
            RoutingKeys = keys,
            DataTypes = types,
            OrderIds = orders,
            Instruments = instruments,
            Venues = venues,
            TargetWorkflows = workflows,
            Portfolios = portfolios,
            MinPriority = MinPriority,
        };
    }

    // JSON bodies and messages can carry null inside a list of strings, whatever the declared type says.
    private static bool IsNull(string? text, string field, int index, List<ValidationProblem> problems)
    {
        if (text is not null)
        {
            return false;
        }

        problems.Add(new ValidationProblem($"{field}[{index}]", "must be a string, not null"));
        return true;
    }

    private static List<TopicPattern> Patterns(IReadOnlyList<string> texts, char separator, string field, List<ValidationProblem> problems)
    {
        var patterns = new List<TopicPattern>();
        if (texts.Count > MaxValuesPerDimension)
        {
            problems.Add(new ValidationProblem(field, $"{LimitPrefix} {MaxValuesPerDimension} patterns"));
            return patterns;
        }

        for (var i = 0; i < texts.Count; i++)
        {
            if (IsNull(texts[i], field, i, problems))
            {
                continue;
            }

            if (TopicPattern.TryParse(texts[i].Trim(), separator, out var pattern, out var reason))
            {
                patterns.Add(pattern!);
            }
            else
            {
                problems.Add(new ValidationProblem($"{field}[{i}]", $"'{texts[i]}' {reason}"));
            }
        }

        return patterns;
    }

    private static HashSet<string> Values(IReadOnlyList<string> texts, string field, int max, List<ValidationProblem> problems)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        if (texts.Count > max)
        {
            problems.Add(new ValidationProblem(field, $"{LimitPrefix} {max} values"));
            return set;
        }

        for (var i = 0; i < texts.Count; i++)
        {
            if (IsNull(texts[i], field, i, problems))
            {
                continue;
            }

            var value = texts[i].Trim();
            if (value.Length is 0 or > ExecutionEventParser.MaxIdLength)
            {
                problems.Add(new ValidationProblem($"{field}[{i}]", $"must be 1 to {ExecutionEventParser.MaxIdLength} characters"));
                continue;
            }

            if (TextRules.HasNul(value))
            {
                problems.Add(new ValidationProblem($"{field}[{i}]", TextRules.NoNul));
                continue;
            }

            set.Add(StringTable.Intern(value));
        }

        return set;
    }
}
