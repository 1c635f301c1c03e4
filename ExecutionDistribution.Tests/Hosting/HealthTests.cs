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
        await using var host = await ServiceHost.StartAsync();

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
}
