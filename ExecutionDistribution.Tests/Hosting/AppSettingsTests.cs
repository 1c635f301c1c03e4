using ExecutionDistribution.Hosting;
using System.Reflection;
using ExecutionDistribution.Audit;
using ExecutionDistribution.Core;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Kafka;
using ExecutionDistribution.Orders;
using ExecutionDistribution.Persistence;
using ExecutionDistribution.Streaming.Grpc;
using ExecutionDistribution.Streaming.WebSockets;
using Microsoft.Extensions.Configuration;

namespace ExecutionDistribution.Tests.Hosting;

/// <summary>appsettings.json names only settings that exist: a key that binds to nothing would be silently ignored.</summary>
[Category("Unit")]
public sealed class AppSettingsTests
{
    // The sections of our modules; Logging and Kestrel belong to ASP.NET Core.
    private static readonly Dictionary<string, Type> Sections = new(StringComparer.OrdinalIgnoreCase)
    {
        [DistributionOptions.SectionName] = typeof(DistributionOptions),
        [IngestOptions.SectionName] = typeof(IngestOptions),
        [DemoFeedOptions.SectionName] = typeof(DemoFeedOptions),
        [KafkaOptions.SectionName] = typeof(KafkaOptions),
        [WebSocketOptions.SectionName] = typeof(WebSocketOptions),
        [GrpcStreamOptions.SectionName] = typeof(GrpcStreamOptions),
        [PostgresOptions.SectionName] = typeof(PostgresOptions),
        [RedisOptions.SectionName] = typeof(RedisOptions),
        [AuditOptions.SectionName] = typeof(AuditOptions),
        [OrdersOptions.SectionName] = typeof(OrdersOptions),
        [ClusterOptions.SectionName] = typeof(ClusterOptions),
    };

    [Test]
    public void Every_key_in_appsettings_binds_to_a_property_of_its_module_options()
    {
        var configuration = new ConfigurationBuilder().AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json")).Build();
        var unbound = new List<string>();
        var checkedKeys = 0;
        foreach (var (key, _) in configuration.AsEnumerable(makePathsRelative: false))
        {
            var path = key.Split(':');
            if (path[0] is "Logging" or "Kestrel" || configuration.GetSection(key).GetChildren().Any())
            {
                continue; // the framework's sections, and sections rather than values
            }

            Assert.That(Sections.TryGetValue(path[0], out var type), Is.True, $"section '{path[0]}' of '{key}' belongs to no module");
            checkedKeys++;
            foreach (var name in path.Skip(1))
            {
                if (type!.IsArray && int.TryParse(name, out _))
                {
                    type = type.GetElementType();
                    continue;
                }

                type = type.GetProperty(name, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase) is { CanWrite: true } property ? property.PropertyType : null;
                if (type is null)
                {
                    unbound.Add(key);
                    break;
                }
            }
        }

        Assert.That(checkedKeys, Is.GreaterThan(50), "the file was read");
        Assert.That(unbound, Is.Empty, "keys that bind to nothing");
    }
}
