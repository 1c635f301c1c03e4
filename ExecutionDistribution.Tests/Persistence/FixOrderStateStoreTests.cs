using System.Text.Json;
using ExecutionDistribution.Caching;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Hosting;
using ExecutionDistribution.Orders;
using ExecutionDistribution.Persistence;
using ExecutionDistribution.Tests.Orders;
using ExecutionDistribution.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Tests.Persistence;

/// <summary>
/// The FIX scenarios give the same states from PostgreSQL (as written, and read after a restart by a
/// new process's store) and through the Redis cache as from memory, with repeats and in any arrival order.
/// </summary>
[Category("Postgres")]
[Category("Redis")]
public sealed class FixOrderStateStoreTests
{
    private static OrderExecutionStatus Read(byte[]? json, string because)
    {
        Assert.That(json, Is.Not.Null, because);
        return JsonSerializer.Deserialize<OrderExecutionStatus>(json!, ApiJson.Options)!;
    }

    [Test]
    public async Task Every_step_of_every_scenario_reads_the_same_from_postgres_and_redis_and_after_a_restart()
    {
        await using var pg = new TestPostgres();
        await using var redis = new TestRedis();
        var postgres = Options.Create(new PostgresOptions { ConnectionString = TestPostgres.ConnectionString, Schema = pg.Schema });
        var scenarios = FixScenarios.All().ToList();

        await using (var db = new PostgresDatabase(postgres))
        {
            await db.MigrateAsync(CancellationToken.None);
            var store = new PostgresOrderStore(db, new OrderStateProjection());
            await using var cache = new RedisCache(Options.Create(new RedisOptions { Configuration = TestRedis.Endpoint, KeyPrefix = redis.Prefix }), NullLogger<RedisCache>.Instance);
            foreach (var scenario in scenarios)
            {
                foreach (var step in scenario.Steps)
                {
                    var changes = await store.WriteAsync([.. step.Events, .. step.Events], CancellationToken.None); // a redelivered batch counts once
                    await cache.WriteThroughAsync(changes);
                    var because = $"{scenario.Name}, after {step.What}";
                    var stored = await store.StatusAsync(scenario.OrderId, CancellationToken.None);
                    FixOrderStateTests.AssertState(Read(stored?.Json, because), step.After, $"PostgreSQL: {because}");
                    FixOrderStateTests.AssertState(Read(await cache.StatusAsync(scenario.OrderId), because), step.After, $"Redis: {because}");
                }
            }
        }

        // A new process: nothing in memory, everything read from PostgreSQL.
        await using (var db = new PostgresDatabase(postgres))
        {
            await db.MigrateAsync(CancellationToken.None);
            var projection = new OrderStateProjection();
            var store = new PostgresOrderStore(db, projection);
            projection.Hydrate(await store.FactsAsync([.. scenarios.Select(s => s.OrderId)], CancellationToken.None));
            foreach (var scenario in scenarios)
            {
                var final = scenario.Steps[^1].After;
                FixOrderStateTests.AssertState(Read((await store.StatusAsync(scenario.OrderId, CancellationToken.None))?.Json, scenario.Name), final, $"after a restart, stored: {scenario.Name}");
                FixOrderStateTests.AssertState(projection.GetStatus(scenario.OrderId), final, $"after a restart, loaded into memory: {scenario.Name}");
            }
        }
    }

    [Test]
    public async Task Events_stored_in_any_arrival_order_with_repeats_give_the_final_state()
    {
        await using var pg = new TestPostgres();
        await using var db = new PostgresDatabase(Options.Create(new PostgresOptions { ConnectionString = TestPostgres.ConnectionString, Schema = pg.Schema }));
        await db.MigrateAsync(CancellationToken.None);
        var store = new PostgresOrderStore(db, new OrderStateProjection());
        var random = new Random(7);
        var scenarios = FixScenarios.All().ToList();
        var arrivals = scenarios.SelectMany(s => s.Events).SelectMany(e => random.Next(3) == 0 ? new[] { e, e } : [e]).OrderBy(_ => random.Next()).ToList();

        for (var i = 0; i < arrivals.Count; i += 5)
        {
            await store.WriteAsync(arrivals.GetRange(i, Math.Min(5, arrivals.Count - i)), CancellationToken.None);
        }

        foreach (var scenario in scenarios)
        {
            FixOrderStateTests.AssertState(Read((await store.StatusAsync(scenario.OrderId, CancellationToken.None))?.Json, scenario.Name), scenario.Steps[^1].After, scenario.Name);
        }
    }
}
