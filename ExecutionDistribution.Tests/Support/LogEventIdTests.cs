using System.Reflection;
using Microsoft.Extensions.Logging;

namespace ExecutionDistribution.Tests.Support;

/// <summary>Log messages are keyed by fixed event ids, one range per module (docs/architecture.md, "Modules").</summary>
[Category("Unit")]
public sealed class LogEventIdTests
{
    private static readonly Dictionary<string, int> RangeByModule = new()
    {
        ["Core"] = 1000,
        ["Ingest"] = 2000,
        ["Kafka"] = 3000,
        ["Orders"] = 4000,
        ["Persistence"] = 5000,
        ["Audit"] = 6000,
        ["Caching"] = 7000,
        ["Subscriptions"] = 8000,
        ["Security"] = 9000,
    };

    [Test]
    public void Every_log_message_of_the_service_has_its_own_event_id_in_its_modules_range()
    {
        var messages = typeof(ExecDistApplication).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(x => x.Attribute is not null)
            .ToList();

        Assert.That(messages, Has.Count.GreaterThan(30), "the service's log messages were found");
        Assert.Multiple(() =>
        {
            foreach (var (method, attribute) in messages)
            {
                var name = $"{method.DeclaringType!.FullName}.{method.Name}";
                var module = method.DeclaringType!.Namespace!.Split('.') is [_, var folder, ..] ? folder : "(the root namespace)";
                Assert.That(RangeByModule.ContainsKey(module), Is.True, $"{name}: module {module} has a range");
                if (RangeByModule.TryGetValue(module, out var start))
                {
                    Assert.That(attribute!.EventId, Is.InRange(start, start + 999), $"{name}: event id in {module}'s range");
                }
            }

            var repeated = messages.GroupBy(x => x.Attribute!.EventId).Where(g => g.Count() > 1)
                .Select(g => $"{g.Key}: {string.Join(", ", g.Select(x => x.Method.Name))}");
            Assert.That(repeated, Is.Empty, "no event id is used twice");
        });
    }
}
