using System.Net;
using System.Text.Json.Nodes;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Hosting;

/// <summary>Liveness answers while the process does; readiness names each check that decides it, in JSON.</summary>
[Category("Unit")]
public sealed class HealthTests
{
    [Test]
    public async Task Liveness_needs_no_check_and_readiness_lists_the_checks_that_decide_it()
    {
        // As an embedded run starts: authentication on, with its development key (health needs no token).
        await using var host = await ServiceHost.StartAsync(TestAuth.DevelopmentSettings());

        using var live = await host.Client.GetAsync("/health/live");
        var liveBody = JsonNode.Parse(await live.Content.ReadAsStringAsync())!;
        Assert.That(live.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(((string?)liveBody["status"], liveBody["checks"]!.AsObject().Count), Is.EqualTo(("Healthy", 0)));

        using var ready = await host.Client.GetAsync("/health/ready");
        var readyBody = JsonNode.Parse(await ready.Content.ReadAsStringAsync())!;
        Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.OK), readyBody.ToJsonString());
        Assert.That(ready.Content.Headers.ContentType!.MediaType, Is.EqualTo("application/json"));
        var checks = readyBody["checks"]!.AsObject();
        Assert.That(checks.Select(c => c.Key), Is.SupersetOf(new[] { "dispatcher", "audit" }));
        Assert.That(checks.Select(c => (string?)c.Value!["status"]), Has.All.EqualTo("Healthy"));

        using var all = await host.Client.GetAsync("/health");
        Assert.That((all.StatusCode, await all.Content.ReadAsStringAsync()), Is.EqualTo((HttpStatusCode.OK, "Healthy")), "/health stays plain text");
    }

    [Test]
    public async Task With_authentication_turned_off_health_is_degraded_and_says_why()
    {
        await using var host = await ServiceHost.StartAsync("--Auth:Mode=Off");

        using var all = await host.Client.GetAsync("/health");
        using var ready = await host.Client.GetAsync("/health/ready");

        Assert.That((all.StatusCode, await all.Content.ReadAsStringAsync()), Is.EqualTo((HttpStatusCode.OK, "Degraded")));
        var auth = JsonNode.Parse(await ready.Content.ReadAsStringAsync())!["checks"]!["auth"];
        Assert.That((string?)auth?["description"], Does.Contain("Auth:Mode=Off"), "named in the readiness detail");
    }
}
