using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using ExecutionDistribution.Grpc.V1;
using ExecutionDistribution.Security;
using ExecutionDistribution.Tests.Streaming.WebSockets;
using ExecutionDistribution.Tests.Support;
using Grpc.Core;
using Grpc.Net.Client;

namespace ExecutionDistribution.Tests.Security;

/// <summary>
/// Access taken away while streams are open: an administrator's revocation of a subject or a token
/// ends every open stream under it, on every transport, with the reason, refuses the token from then
/// on and across restarts; a token's expiry ends its streams unless the client refreshed it in-band.
/// </summary>
[Category("Unit")]
public sealed class RevocationTests
{
    private static async Task RevokeAsync(ServiceHost host, object body)
    {
        using var http = new HttpClient { BaseAddress = host.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TestAuth.Admin());
        using var response = await http.PostAsJsonAsync("/api/v1/admin/revocations", body);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Created), await response.Content.ReadAsStringAsync());
    }

    private static async Task<HttpStatusCode> StatusAsync(ServiceHost host, string token)
    {
        using var http = new HttpClient { BaseAddress = host.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.GetAsync("/api/v1/topics");
        return response.StatusCode;
    }

    private static Metadata Bearer(string token) => new() { { "Authorization", $"Bearer {token}" } };

    [Test]
    public async Task Revoking_a_subject_ends_its_streams_on_every_transport_with_the_reason_and_refuses_its_tokens_while_others_stream_on()
    {
        await using var host = await ServiceHost.StartAsync([.. TestAuth.Settings(), .. TestAuth.RevocationsFile()]);
        var run = Guid.NewGuid().ToString("N")[..8];
        var trader = $"trader-{run}";
        var token = TestAuth.Token([Scopes.Read], [CallerRights.Wildcard], trader);
        var other = TestAuth.Token([Scopes.Read], [CallerRights.Wildcard], $"other-{run}");

        await using var header = await StreamClient.ConnectAsync(host, $"order_ids={run}", token);
        await header.ReceiveAsync();
        await using var browser = await StreamClient.ConnectAsync(host, $"order_ids={run}");
        await browser.SendAsync($$"""{"type":"auth","token":"{{token}}"}""");
        await browser.ReceiveAsync();
        await using var bystander = await StreamClient.ConnectAsync(host, $"order_ids={run}", other);
        await bystander.ReceiveAsync();
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var client = new ExecutionStream.ExecutionStreamClient(channel);
        using var single = client.StreamExecution(new StreamRequest { Filter = new Filter { OrderIds = { run } } }, Bearer(token));
        Assert.That(await single.ResponseStream.MoveNext(), Is.True, "the opening snapshot");
        using var multiplexed = client.StreamMultiplexed(Bearer(token));
        await multiplexed.RequestStream.WriteAsync(new StreamCommand { RequestId = "s", Subscribe = new StreamRequest { Filter = new Filter { OrderIds = { run } } } });
        Assert.That(await multiplexed.ResponseStream.MoveNext(), Is.True, "subscribed");

        await RevokeAsync(host, new { subject = trader, reason = "desk closed" });

        foreach (var (name, ws) in new[] { ("header", header), ("first message", browser) })
        {
            var (status, reason) = await ws.ReceiveCloseAsync();
            Assert.That(((int?)status, reason), Is.EqualTo(((int?)4403, $"access revoked: {trader} (desk closed)")), name);
        }

        foreach (var (name, next) in new (string, Func<Task<bool>>)[] { ("StreamExecution", () => single.ResponseStream.MoveNext()), ("StreamMultiplexed", () => multiplexed.ResponseStream.MoveNext()) })
        {
            var ended = Assert.ThrowsAsync<RpcException>(async () => { while (await next()) { } }, name);
            Assert.That((ended!.StatusCode, ended.Status.Detail), Is.EqualTo((StatusCode.PermissionDenied, $"access revoked: {trader} (desk closed)")), name);
        }

        Assert.That(await StatusAsync(host, token), Is.EqualTo(HttpStatusCode.Unauthorized), "its token is refused");
        Assert.That(await StatusAsync(host, TestAuth.Token([Scopes.Read], ["PF001"], trader)), Is.EqualTo(HttpStatusCode.Unauthorized), "and any issued before");
        Assert.That(await StatusAsync(host, TestAuth.Token([Scopes.Read], ["PF001"], trader, issuedAt: DateTime.UtcNow.AddSeconds(2))), Is.EqualTo(HttpStatusCode.OK),
            "a token issued after the revocation is let in");

        Assert.That(host.Core.TryPublish(Events.Order(run, eventId: $"{run}-after")), Is.True);
        Assert.That((await bystander.ReceiveEventsAsync(1)).Single().EventId, Is.EqualTo($"{run}-after"), "another subject's stream goes on");
    }

    [Test]
    public async Task A_revoked_token_stays_refused_after_a_restart()
    {
        var file = TestAuth.RevocationsFile();
        var token = TestAuth.Token([Scopes.Read], ["PF001"], "restarting");
        var id = new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(token).Id;
        await using (var host = await ServiceHost.StartAsync([.. TestAuth.Settings(), .. file]))
        {
            Assert.That(await StatusAsync(host, token), Is.EqualTo(HttpStatusCode.OK));
            await RevokeAsync(host, new { token_id = id });
            Assert.That(await StatusAsync(host, token), Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        await using var again = await ServiceHost.StartAsync([.. TestAuth.Settings(), .. file]);
        Assert.That(await StatusAsync(again, token), Is.EqualTo(HttpStatusCode.Unauthorized), "kept across the restart");
        Assert.That(await StatusAsync(again, TestAuth.Token([Scopes.Read], ["PF001"], "restarting")), Is.EqualTo(HttpStatusCode.OK), "only that token");
    }

    [Test]
    public async Task A_stream_whose_token_expires_ends_with_the_reason_and_one_refreshed_in_band_goes_on()
    {
        await using var host = await ServiceHost.StartAsync([.. TestAuth.Settings(), .. TestAuth.RevocationsFile()]);
        var run = Guid.NewGuid().ToString("N")[..8];
        var shortLived = TestAuth.Token([Scopes.Read], ["PF001"], $"short-{run}", lifetime: TimeSpan.FromSeconds(4));
        var fresh = TestAuth.Token([Scopes.Read], ["PF001"], $"short-{run}");

        await using var expiring = await StreamClient.ConnectAsync(host, $"order_ids={run}", shortLived);
        await expiring.ReceiveAsync();
        await using var refreshed = await StreamClient.ConnectAsync(host, $"order_ids={run}", shortLived);
        await refreshed.ReceiveAsync();
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var client = new ExecutionStream.ExecutionStreamClient(channel);
        using var grpcExpiring = client.StreamExecution(new StreamRequest { Filter = new Filter { OrderIds = { run } } }, Bearer(shortLived));
        Assert.That(await grpcExpiring.ResponseStream.MoveNext(), Is.True);
        using var grpcRefreshed = client.StreamExecution(new StreamRequest { Filter = new Filter { OrderIds = { run } } }, Bearer(shortLived));
        Assert.That(await grpcRefreshed.ResponseStream.MoveNext(), Is.True);
        var streamId = (await grpcRefreshed.ResponseHeadersAsync).GetValue("x-subscription-id")!;
        using var multiplexed = client.StreamMultiplexed(Bearer(shortLived));
        await multiplexed.RequestStream.WriteAsync(new StreamCommand { RequestId = "s", Subscribe = new StreamRequest { Filter = new Filter { OrderIds = { run } } } });
        Assert.That(await multiplexed.ResponseStream.MoveNext(), Is.True);

        // Refreshed in-band before the expiry: a WebSocket message, a RefreshStream call, a multiplexed command.
        await refreshed.SendAsync($$"""{"type":"refresh","token":"{{fresh}}","request_id":"r1"}""");
        var reply = await refreshed.ReceiveUntilAsync(f => (string?)f["type"] is "refreshed" or "error");
        Assert.That((string?)reply["type"], Is.EqualTo("refreshed"), reply.ToJsonString());
        var answer = await client.RefreshStreamAsync(new RefreshRequest { StreamId = streamId }, Bearer(fresh));
        Assert.That(answer.ExpiresAt, Is.Not.Empty);
        await multiplexed.RequestStream.WriteAsync(new StreamCommand { RequestId = "r2", Refresh = fresh });
        Assert.That(await multiplexed.ResponseStream.MoveNext() && multiplexed.ResponseStream.Current.Refreshed?.RequestId == "r2", Is.True, "refreshed");

        // A refresh with another subject's token is refused, and changes nothing.
        await refreshed.SendAsync($$"""{"type":"refresh","token":"{{TestAuth.Token([Scopes.Read], ["PF001"], "someone-else")}}","request_id":"r3"}""");
        Assert.That((string?)(await refreshed.ReceiveUntilAsync(f => (string?)f["type"] == "error"))["message"], Does.Contain("someone-else"));

        var (status, reason) = await expiring.ReceiveCloseAsync();
        Assert.That((int?)status, Is.EqualTo(4403));
        Assert.That(reason, Does.StartWith("the token expired"));
        var ended = Assert.ThrowsAsync<RpcException>(async () => { while (await grpcExpiring.ResponseStream.MoveNext()) { } });
        Assert.That(ended!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
        Assert.That(ended.Status.Detail, Does.StartWith("the token expired"));

        // The expired ones are closed: the refreshed ones still stream.
        Assert.That(host.Core.TryPublish(Events.Order(run, eventId: $"{run}-later")), Is.True);
        Assert.That((await refreshed.ReceiveEventsAsync(1)).Single().EventId, Is.EqualTo($"{run}-later"));
        Assert.That(await grpcRefreshed.ResponseStream.MoveNext() && grpcRefreshed.ResponseStream.Current.Events.Deliveries.Single().EventId == $"{run}-later", Is.True);
        MultiplexedMessage next;
        do
        {
            Assert.That(await multiplexed.ResponseStream.MoveNext(), Is.True);
            next = multiplexed.ResponseStream.Current;
        }
        while (next.BodyCase == MultiplexedMessage.BodyOneofCase.Heartbeat);
        Assert.That(next.Events.Events.Single().EventId, Is.EqualTo($"{run}-later"));
    }
}
