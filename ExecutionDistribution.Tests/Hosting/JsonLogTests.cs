using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Hosting;

/// <summary>
/// With <c>Logging:Console:FormatterName=json</c> the service writes one JSON object per line, with
/// its event id, and a request's logs carry the trace id of the request's W3C <c>traceparent</c>.
/// </summary>
[Category("Unit")]
public sealed class JsonLogTests
{
    [Test]
    public async Task Console_logs_are_json_lines_with_event_ids_and_the_requests_trace_id()
    {
        var lines = new ConcurrentQueue<string>();
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ExecutionDistribution.dll"));
        foreach (var a in (string[])[.. ServiceHost.FreePorts, "--Kafka:Enabled=false", "--Auth:Mode=Off", "--Audit:Enabled=false", "--Logging:Console:FormatterName=json",
            "--Logging:Console:FormatterOptions:IncludeScopes=true", "--Logging:LogLevel:ExecutionDistribution.Ingest=Debug"])
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) { lines.Enqueue(line); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            string? address = null;
            await Eventually.WaitUntilAsync(() => (address = lines.Select(l => JsonNode.Parse(l)).Select(l => (string?)l!["State"]?["address"])
                .FirstOrDefault(a => a is not null && lines.Any(l => l.Contains("Application started", StringComparison.Ordinal)) && Answers(a))) is not null, "the service listens");

            using var client = new HttpClient { BaseAddress = new Uri(address!) };
            const string traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/executions") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
            request.Headers.Add("traceparent", $"00-{traceId}-00f067aa0ba902b7-01");
            using var response = await client.SendAsync(request);

            JsonNode? rejected = null;
            await Eventually.WaitUntilAsync(() => (rejected = lines.Select(l => JsonNode.Parse(l)).FirstOrDefault(l => (int?)l!["EventId"] == 2010)) is not null, "the rejection is logged");
            Assert.That(lines.Select(l => JsonNode.Parse(l)).All(l => l is JsonObject o && o.ContainsKey("EventId") && o.ContainsKey("Category") && o.ContainsKey("LogLevel")), Is.True, "every line is a JSON log entry");
            Assert.That(rejected!["Scopes"]!.AsArray().Select(s => (string?)s!["TraceId"]), Does.Contain(traceId), "the request's trace id, from its traceparent");
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private static bool Answers(string address)
    {
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(2) };
            return client.GetAsync("/health/live").GetAwaiter().GetResult().IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false; // the gRPC (HTTP/2 only) endpoint, or not yet
        }
    }
}
