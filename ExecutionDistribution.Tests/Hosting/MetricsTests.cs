using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Hosting;

/// <summary>
/// <c>/metrics</c> answers in Prometheus' text format with the service's instruments, ASP.NET Core's
/// and the runtime's, and the values move when events flow; a real Prometheus server scrapes it.
/// </summary>
public sealed partial class MetricsTests
{
    [Test]
    [Category("Unit")]
    public async Task The_metrics_endpoint_exposes_every_module_and_its_values_follow_the_events()
    {
        await using var host = await ServiceHost.StartAsync();

        // The streams' counters are the process's (one service per process); other tests' hosts ran in this one before.
        var before = Scrape(host).Values;
        double Delta(Metrics m, string key) => m.Values.GetValueOrDefault(key) - before.GetValueOrDefault(key);
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{host.BaseAddress.Authority}/api/v1/execution/stream"), CancellationToken.None);
        await Eventually.WaitUntilAsync(() => Delta(Scrape(host), "execdist_connections{transport=\"websocket\"}") == 1, "the connection is counted");

        var events = Enumerable.Range(0, 5).Select(i => Events.Fill(orderId: $"m-{Guid.NewGuid():N}")).ToList();
        var body = "[" + string.Join(",", events.Select(e => Encoding.UTF8.GetString(e.EnvelopeJson.Span))) + "]";
        using (var accepted = await host.Client.PostAsync("/api/v1/executions", new StringContent(body, Encoding.UTF8, "application/json")))
        {
            Assert.That(accepted.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        }

        using (var refused = await host.Client.PostAsync("/api/v1/executions", new StringContent("{}", Encoding.UTF8, "application/json")))
        {
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        }

        await ReceiveAsync(socket, events.Count);
        await host.Client.GetAsync("/api/v1/execution/orders/unknown-order/status");

        Metrics metrics = default;
        await Eventually.WaitUntilAsync(() =>
        {
            metrics = Scrape(host);
            return Delta(metrics, "execdist_deliveries_total{transport=\"websocket\"}") >= events.Count;
        }, "the deliveries are counted");

        // The latency is timed for one message in eight: more messages, one event each, until one is.
        var more = 0;
        await Eventually.WaitUntilAsync(() =>
        {
            metrics = Scrape(host);
            if (Delta(metrics, "execdist_delivery_duration_seconds_count") >= 1)
            {
                return true;
            }

            host.Core.PublishAsync(Events.Fill(orderId: $"m-{Guid.NewGuid():N}"), CancellationToken.None).AsTask().GetAwaiter().GetResult();
            ReceiveAsync(socket, 1).GetAwaiter().GetResult();
            more++;
            return false;
        }, "a message's latency is recorded");

        Assert.Multiple(() =>
        {
            Assert.That(metrics.Values["execdist_events_ingested_total{result=\"accepted\",source=\"rest\"}"], Is.EqualTo(events.Count));
            Assert.That(metrics.Values["execdist_events_ingested_total{result=\"rejected\",source=\"rest\"}"], Is.EqualTo(1));
            Assert.That(metrics.Values["execdist_events_dispatched_total"], Is.GreaterThanOrEqualTo(events.Count));
            Assert.That(Delta(metrics, "execdist_stream_subscriptions{transport=\"websocket\"}"), Is.EqualTo(1));
            Assert.That(Delta(metrics, "execdist_deliveries_total{transport=\"websocket\"}"), Is.EqualTo(events.Count + more));
            Assert.That(metrics.Values.Keys.Where(k => k.StartsWith("execdist_delivery_duration_seconds_bucket{", StringComparison.Ordinal)).ToList(),
                Has.Count.GreaterThanOrEqualTo(16), "buckets from 0.1 ms to 10 s");
            Assert.That(metrics.Values["execdist_subscribers"], Is.GreaterThanOrEqualTo(1));
            Assert.That(metrics.Values.Keys, Has.Some.StartsWith("execdist_audit_rows_recorded_total"));
            Assert.That(metrics.Values.Keys, Has.Some.Matches<string>(k => k.StartsWith("http_server_request_duration_seconds_count{", StringComparison.Ordinal)
                && k.Contains("http_route=\"/api/v1/executions/\"", StringComparison.Ordinal) && k.Contains("http_response_status_code=\"202\"", StringComparison.Ordinal)),
                "REST requests by route and status");
            Assert.That(metrics.Values.Keys, Has.Some.StartsWith("dotnet_gc_collections_total"), "runtime");
            Assert.That(metrics.Values.Keys, Has.Some.StartsWith("process_cpu_time_seconds_total"), "process");

            Assert.That(metrics.Types["execdist_events_ingested_total"], Is.EqualTo("counter"));
            Assert.That(metrics.Types["execdist_deliveries_total"], Is.EqualTo("counter"));
            Assert.That(metrics.Types["execdist_delivery_duration_seconds"], Is.EqualTo("histogram"));
            Assert.That(metrics.Types["execdist_connections"], Is.EqualTo("gauge"));
            Assert.That(metrics.Types["execdist_subscribers_catching_up"], Is.EqualTo("gauge"));
            Assert.That(metrics.Types["execdist_deliveries_dropped_total"], Is.EqualTo("counter"));
            Assert.That(metrics.Types["execdist_positions_lost_total"], Is.EqualTo("counter"));
        });

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        await Eventually.WaitUntilAsync(() => Delta(Scrape(host), "execdist_connections{transport=\"websocket\"}") == 0, "the connection is no longer counted");
    }

    [Test]
    [Category("Unit")]
    public async Task With_metrics_off_there_is_no_metrics_endpoint()
    {
        await using var host = await ServiceHost.StartAsync("--Telemetry:Metrics=false");
        using var response = await host.Client.GetAsync("/metrics");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    [Category("ExternalClient")]
    public async Task A_prometheus_server_scrapes_the_service_and_answers_a_query_over_its_events()
    {
        await using var host = await ServiceHost.StartAsync();
        var directory = Directory.CreateTempSubdirectory("execdist-prometheus-");
        var port = FreePort();
        var config = Path.Combine(directory.FullName, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: execdist
                static_configs:
                  - targets: ["{host.BaseAddress.Authority}"]
            """);
        var info = new ProcessStartInfo("prometheus") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(directory.FullName, "data")}", $"--web.listen-address=127.0.0.1:{port}" })
        {
            info.ArgumentList.Add(a);
        }

        using var prometheus = Process.Start(info)!;
        var log = new StringBuilder();
        prometheus.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        prometheus.BeginErrorReadLine();
        try
        {
            var events = Enumerable.Range(0, 7).Select(_ => Events.Fill(orderId: $"p-{Guid.NewGuid():N}")).ToList();
            var body = "[" + string.Join(",", events.Select(e => Encoding.UTF8.GetString(e.EnvelopeJson.Span))) + "]";
            (await host.Client.PostAsync("/api/v1/executions", new StringContent(body, Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();

            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            var query = Uri.EscapeDataString("sum(execdist_events_ingested_total{source=\"rest\",result=\"accepted\"})");
            double answered = -1;
            await Eventually.WaitUntilAsync(() =>
            {
                try
                {
                    var reply = client.GetFromJsonAsync<JsonObject>($"/api/v1/query?query={query}").GetAwaiter().GetResult()!;
                    var result = reply["data"]!["result"]!.AsArray();
                    answered = result.Count == 0 ? -1 : double.Parse((string)result[0]!["value"]![1]!, CultureInfo.InvariantCulture);
                    return answered >= events.Count;
                }
                catch (HttpRequestException)
                {
                    return false; // not listening yet
                }
            }, "Prometheus scraped the service and answers the query", TimeSpan.FromSeconds(60));

            Assert.That(answered, Is.EqualTo(events.Count), () => log.ToString());
        }
        finally
        {
            prometheus.Kill(entireProcessTree: true);
            await prometheus.WaitForExitAsync();
            directory.Delete(recursive: true);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task ReceiveAsync(ClientWebSocket socket, int events)
    {
        var buffer = new byte[64 * 1024];
        var received = 0;
        using var timeout = new CancellationTokenSource(Eventually.DefaultTimeout);
        while (received < events)
        {
            var text = new StringBuilder();
            WebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(buffer, timeout.Token);
                text.Append(Encoding.UTF8.GetString(buffer, 0, result.Count));
            }
            while (!result.EndOfMessage);

            received += EventId().Matches(text.ToString()).Count;
        }
    }

    internal static Metrics Scrape(ServiceHost host)
    {
        var text = host.Client.GetStringAsync("/metrics").GetAwaiter().GetResult();
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                types[parts[2]] = parts[3];
            }
            else if (line.Length > 0 && line[0] != '#' && Sample().Match(line) is { Success: true } sample)
            {
                // name{labels} value, keyed by the name and its labels but the exporter's otel_scope_* ones.
                var labels = Label().Matches(sample.Groups["labels"].Value).Where(l => !l.Groups[1].Value.StartsWith("otel_scope_", StringComparison.Ordinal)).Select(l => l.Value).ToList();
                var key = labels.Count == 0 ? sample.Groups["name"].Value : $"{sample.Groups["name"].Value}{{{string.Join(",", labels)}}}";
                values[key] = double.Parse(sample.Groups["value"].Value, CultureInfo.InvariantCulture);
            }
        }

        return new Metrics(values, types);
    }

    internal readonly record struct Metrics(Dictionary<string, double> Values, Dictionary<string, string> Types);

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?<labels>.*)\})? (?<value>\S+)""")]
    private static partial Regex Sample();

    [GeneratedRegex(@"(\w+)=""((?:[^""\\]|\\.)*)""")]
    private static partial Regex Label();

    [GeneratedRegex("\"event_id\"")]
    private static partial Regex EventId();
}
