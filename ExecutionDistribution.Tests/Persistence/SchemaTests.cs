using Dapper;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Persistence;

/// <summary>The service creates its schema in the real PostgreSQL, as the specification defines the tables.</summary>
[Category("Postgres")]
public sealed class SchemaTests
{
    private sealed record Column(string Table, string Name, string Type, int? Length, string? Default, string Nullable);

    [Test]
    public async Task The_spec_tables_are_created_with_their_types_lengths_defaults_and_uniqueness()
    {
        await using var db = new TestPostgres();
        await using (await ServiceHost.StartAsync(db.Settings()))
        {
        }

        await using var c = await db.OpenAsync();
        var columns = (await c.QueryAsync<Column>("""
            SELECT table_name AS Table, column_name AS Name, data_type AS Type, character_maximum_length AS Length, column_default AS Default, is_nullable AS Nullable
            FROM information_schema.columns WHERE table_schema = @schema
            """, new { schema = db.Schema })).ToDictionary(x => $"{x.Table}.{x.Name}");

        void Expect(string column, string type, int? length = null, string? @default = null, bool required = false)
        {
            Assert.That(columns.ContainsKey(column), Is.True, $"{column} exists");
            var actual = columns[column];
            Assert.That(actual.Type, Is.EqualTo(type), column);
            Assert.That(actual.Length, Is.EqualTo(length), $"{column} length");
            if (@default is not null)
            {
                Assert.That(actual.Default, Does.Contain(@default), $"{column} default");
            }

            if (required)
            {
                Assert.That(actual.Nullable, Is.EqualTo("NO"), $"{column} is required");
            }
        }

        Expect("execution_topics.id", "uuid", @default: "gen_random_uuid()", required: true);
        Expect("execution_topics.topic_name", "character varying", 200, required: true);
        Expect("execution_topics.data_type", "character varying", 50, required: true);
        Expect("execution_topics.partitions", "integer", @default: "1", required: true);
        Expect("execution_topics.retention_policy", "character varying", 50, "'7d'");
        Expect("execution_topics.latency_requirement_ms", "integer", @default: "100");
        Expect("execution_topics.enabled", "boolean", @default: "true");
        Expect("execution_topics.created_at", "timestamp with time zone", @default: "now()");
        Expect("execution_subscriptions.subscription_id", "character varying", 100, required: true);
        Expect("execution_subscriptions.topic_name", "character varying", 200, required: true);
        Expect("execution_subscriptions.subscriber_workflow", "character varying", 100, required: true);
        Expect("execution_subscriptions.filters", "json");
        Expect("execution_subscriptions.delivery_guarantee", "character varying", 20, "'at_least_once'");
        Expect("execution_subscriptions.status", "character varying", 20, "'active'");
        Expect("distribution_audit.event_id", "character varying", 100, required: true);
        Expect("distribution_audit.topic_name", "character varying", 200, required: true);
        Expect("distribution_audit.routing_key", "character varying", 200, required: true);
        Expect("distribution_audit.delivery_status", "character varying", 20, required: true);
        Expect("distribution_audit.delivery_time_ms", "double precision");
        Expect("distribution_audit.retry_count", "integer", @default: "0");
        Expect("distribution_audit.created_at", "timestamp with time zone", @default: "now()");

        var unique = (await c.QueryAsync<string>("""
            SELECT tc.table_name || '.' || kcu.column_name FROM information_schema.table_constraints tc
            JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
            WHERE tc.table_schema = @schema AND tc.constraint_type = 'UNIQUE'
            """, new { schema = db.Schema })).ToList();
        Assert.That(unique, Does.Contain("execution_topics.topic_name").And.Contain("execution_subscriptions.subscription_id"));
    }

    [Test]
    public async Task Migrations_are_applied_once_however_often_the_service_starts()
    {
        await using var db = new TestPostgres();
        for (var i = 0; i < 2; i++)
        {
            await using (await ServiceHost.StartAsync(db.Settings()))
            {
            }
        }

        await using var c = await db.OpenAsync();
        var versions = (await c.QueryAsync<int>("SELECT version FROM schema_migrations ORDER BY version")).ToList();
        Assert.That(versions, Is.EqualTo(ExecutionDistribution.Persistence.PostgresDatabase.Migrations().Select(m => m.Version).ToArray()), "each migration once, in order");
        Assert.That(versions, Has.Count.GreaterThan(1));
    }

    [Test]
    public void A_bad_schema_name_stops_the_start_with_the_key_named()
    {
        var ex = Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(async () =>
            await ServiceHost.StartAsync($"--Postgres:ConnectionString={TestPostgres.ConnectionString}", "--Postgres:Schema=Robert'); DROP"));
        Assert.That(ex!.Message, Does.Contain("Postgres:Schema"));
    }
}
