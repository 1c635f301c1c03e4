using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Security;
using ExecutionDistribution.Tests.Streaming.WebSockets;
using ExecutionDistribution.Tests.Support;
using Grpc.Core;
using Grpc.Net.Client;

namespace ExecutionDistribution.Tests.Security;

/// <summary>
/// A managed subscription belongs to the subject that created it: another caller, even with the
/// scopes, is told it does not exist (REST 404, gRPC NotFound, WebSocket 1008), unless its token
/// grants the subscription's workflow (<c>workflows</c>).
/// </summary>
[Category("Unit")]
public sealed class SubscriptionOwnershipTests
{
    private static readonly string[] Manage = [Scopes.Read, Scopes.ManageSubscriptions];

    [Test]
    public async Task Another_subject_is_told_a_subscription_does_not_exist_and_one_granted_its_workflow_may_use_it()
    {
        await using var host = await ServiceHost.StartAsync([.. TestAuth.Settings(), .. TestAuth.RevocationsFile()]);
        var run = Guid.NewGuid().ToString("N")[..8];
        var id = $"owned-{run}";
        var workflow = $"risk-{run}";
        using var owner = Client(host, TestAuth.Token(Manage, ["PF001"], $"owner-{run}"));
        var strangerToken = TestAuth.Token(Manage, ["PF001"], $"stranger-{run}");
        using var stranger = Client(host, strangerToken);
        var colleagueToken = TestAuth.Token([Scopes.Read], ["PF001"], $"colleague-{run}", workflows: [workflow]);
        using var colleague = Client(host, colleagueToken);

        using (var created = await owner.PostAsJsonAsync("/api/v1/subscriptions", new { subscription_id = id, topic_name = "#", subscriber_workflow = workflow, filter = new { order_ids = new[] { run } } }))
        {
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created), await created.Content.ReadAsStringAsync());
        }

        var path = $"/api/v1/subscriptions/{id}";
        foreach (var (method, url) in new[] { ("GET", path), ("PUT", path), ($"POST", $"{path}/pause"), ("POST", $"{path}/resume"), ("POST", $"{path}/ack"), ("DELETE", path) })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), url);
            if (method is "PUT" or "POST")
            {
                request.Content = JsonContent.Create(new { topic_name = "#", subscriber_workflow = workflow, resume_token = "x" });
            }

            using var response = await stranger.SendAsync(request);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), $"{method} {url}");
        }

        var listed = await stranger.GetFromJsonAsync<JsonArray>("/api/v1/subscriptions");
        Assert.That(listed!.Select(s => (string?)s!["subscription_id"]), Does.Not.Contain(id), "not listed to another");
        Assert.That((await owner.GetFromJsonAsync<JsonArray>("/api/v1/subscriptions"))!.Select(s => (string?)s!["subscription_id"]), Does.Contain(id));
        using (var granted = await colleague.GetAsync(path))
        {
            Assert.That(granted.StatusCode, Is.EqualTo(HttpStatusCode.OK), "its workflow granted");
        }

        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var grpc = new ExecutionStream.ExecutionStreamClient(channel);
        var managed = Assert.ThrowsAsync<RpcException>(async () => await grpc.ManageSubscriptionAsync(
            new SubscriptionRequest { Action = SubscriptionAction.Get, SubscriptionId = id }, new Metadata { { "Authorization", $"Bearer {strangerToken}" } }));
        Assert.That(managed!.StatusCode, Is.EqualTo(StatusCode.NotFound));
        using (var stream = grpc.StreamExecution(new StreamRequest { SubscriptionId = id }, new Metadata { { "Authorization", $"Bearer {strangerToken}" } }))
        {
            var refused = Assert.ThrowsAsync<RpcException>(async () => await stream.ResponseStream.MoveNext());
            Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.NotFound));
        }

        await using (var ws = await StreamClient.ConnectAsync(host, $"subscription_id={id}", strangerToken))
        {
            var (status, reason) = await ws.ReceiveCloseAsync();
            Assert.That(((int?)status, reason), Is.EqualTo(((int?)1008, $"subscription_id: subscription '{id}' does not exist")));
        }

        await using var allowed = await StreamClient.ConnectAsync(host, $"subscription_id={id}", colleagueToken);
        Assert.That((string?)(await allowed.ReceiveAsync())["type"], Is.EqualTo("subscribed"), "the colleague streams it");
    }

    private static HttpClient Client(ServiceHost host, string token)
    {
        var http = new HttpClient { BaseAddress = host.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }
}
