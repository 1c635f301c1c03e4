using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Contract;

[Category("Unit")]
public sealed class ExecutionEventParserTests
{
    /// <summary>The spec's example event, with its keys quoted to make it JSON, and nothing else changed.</summary>
    internal const string SpecExample = """
        {
            "event_id": "uuid",
            "timestamp": "2025-06-21T10:00:00.000Z",
            "distribution": {
                "topic": "execution/fills/processed",
                "routing_key": "AAPL.fill.complete",
                "target_workflows": ["portfolio_management", "reporting_analytics"],
                "priority": 1,
                "delivery_guarantee": "at_least_once"
            },
            "data": {
                "order_id": "order_20250621_001",
                "fill_id": "fill_20250621_001",
                "instrument_id": "AAPL",
                "quantity": 100,
                "price": 150.25,
                "venue": "NYSE",
                "execution_time": "2025-06-21T10:00:00.000Z",
                "commission": 1.50
            },
            "metadata": {
                "source_service": "order_management_service",
                "execution_venue": "NYSE",
                "latency_sensitive": true,
                "audit_required": true,
                "compliance_flags": ["MiFID_II", "RegNMS"]
            }
        }
        """;

    private static EventParseResult Parse(string json) => ExecutionEventParser.Parse(Encoding.UTF8.GetBytes(json));

    private static string Mutate(string json, Action<JsonObject> change)
    {
        var node = JsonNode.Parse(json)!.AsObject();
        change(node);
        return node.ToJsonString();
    }

    private static IEnumerable<string> Paths(EventParseResult result) => result.Problems.Select(p => p.Path);

    [Test]
    public void Spec_example_event_is_accepted_as_a_fill_notification()
    {
        var result = Parse(SpecExample);

        Assert.That(result.Problems, Is.Empty);
        var e = result.Event!;
        Assert.Multiple(() =>
        {
            Assert.That(e.EventId, Is.EqualTo("uuid"));
            Assert.That(e.DataType, Is.EqualTo(ExecutionDataType.FillNotification));
            Assert.That(e.Timestamp, Is.EqualTo(new DateTime(2025, 6, 21, 10, 0, 0, DateTimeKind.Utc)));
            Assert.That(e.Timestamp.Kind, Is.EqualTo(DateTimeKind.Utc));
            Assert.That(e.Routing.RoutingKey, Is.EqualTo("AAPL.fill.complete"));
            Assert.That(e.Routing.TargetWorkflows, Is.EqualTo(new[] { "portfolio_management", "reporting_analytics" }));
            Assert.That(e.Metadata.ComplianceFlags, Is.EqualTo(new[] { "MiFID_II", "RegNMS" }));
            Assert.That(e.OrderId, Is.EqualTo("order_20250621_001"));
            Assert.That(e.Venue, Is.EqualTo("NYSE"));
            Assert.That(e.IsUrgent, Is.True);
            var fill = (FillNotification)e.Data;
            Assert.That(fill.Quantity, Is.EqualTo(100m));
            Assert.That(fill.Price, Is.EqualTo(150.25m));
            Assert.That(fill.Commission, Is.EqualTo(1.50m));
            Assert.That(fill.ExecType, Is.EqualTo(FillExecType.Trade));
        });
    }

    [Test]
    public void Symbol_lists_keep_their_order_and_the_same_list_is_one_shared_array()
    {
        var first = Parse(SpecExample).Event!;
        var second = Parse(SpecExample).Event!;
        var escaped = Parse(SpecExample.Replace("\"reporting_analytics\"]", "\"reporting\\u005Fanalytics\", \"risk_management\"]", StringComparison.Ordinal)).Event!;

        Assert.That(first.Routing.TargetWorkflows, Is.EqualTo(new[] { "portfolio_management", "reporting_analytics" }));
        Assert.That(first.Metadata.ComplianceFlags, Is.EqualTo(new[] { "MiFID_II", "RegNMS" }));
        Assert.That(second.Routing.TargetWorkflows, Is.SameAs(first.Routing.TargetWorkflows), "parsing the same list again allocates nothing");
        Assert.That(escaped.Routing.TargetWorkflows, Is.EqualTo(new[] { "portfolio_management", "reporting_analytics", "risk_management" }), "an escaped item takes the long way, in order");
    }

    [Test]
    public void A_symbol_is_one_shared_instance_however_it_is_written_including_non_ascii_ones()
    {
        var venue = $"X-Börse-{Guid.NewGuid():N}"; // not seen before this test
        var plain = Parse(SpecExample.Replace("\"venue\": \"NYSE\"", $"\"venue\": \"{venue}\"", StringComparison.Ordinal)).Event!;
        var again = Parse(SpecExample.Replace("\"venue\": \"NYSE\"", $"\"venue\": \"{venue}\"", StringComparison.Ordinal)).Event!;
        var escaped = Parse(SpecExample.Replace("\"venue\": \"NYSE\"", $"\"venue\": \"{venue.Replace("ö", "\\u00f6", StringComparison.Ordinal)}\"", StringComparison.Ordinal)).Event!;

        Assert.That(plain.Venue, Is.EqualTo(venue));
        Assert.That(again.Venue, Is.SameAs(plain.Venue), "found by its bytes the second time");
        Assert.That(escaped.Venue, Is.SameAs(plain.Venue), "the escaped spelling is the same interned string");
    }

    [Test]
    public void A_symbol_of_invalid_utf8_is_a_problem_named_by_its_field_not_a_crash()
    {
        var json = Encoding.UTF8.GetBytes(SpecExample.Replace("\"instrument_id\": \"AAPL\"", "\"instrument_id\": \"AA@@\"", StringComparison.Ordinal));
        var at = json.AsSpan().IndexOf("AA@@"u8);
        json[at + 2] = 0xC3; // a lead byte
        json[at + 3] = 0x28; // not a continuation byte

        var result = ExecutionEventParser.Parse(json);

        Assert.That(result.Problems.Select(p => $"{p.Path}: {p.Message}"), Is.EqualTo(new[] { "data.instrument_id: must be valid UTF-8" }));
    }

    [Test]
    public void An_escaped_lone_surrogate_is_a_problem_not_a_crash()
    {
        var result = Parse(SpecExample.Replace("\"order_id\": \"order_20250621_001\"", "\"order_id\": \"order_\\ud800\"", StringComparison.Ordinal));

        Assert.That(result.IsValid, Is.False);
        Assert.That(result.Problems.Single().Message, Does.Contain("not valid"));
    }

    [TestCase("\"uuid\"", "\"E-\\u0000\"", "event_id")]
    [TestCase("\"order_20250621_001\"", "\"O-\\u0000-1\"", "data.order_id")]
    [TestCase("\"venue\": \"NYSE\"", "\"venue\": \"\\u0000\"", "data.venue")]
    [TestCase("\"RegNMS\"", "\"Reg\\u0000NMS\"", "metadata.compliance_flags[1]")]
    public void A_nul_character_which_postgresql_text_cannot_hold_is_refused_at_its_field(string original, string written, string path)
    {
        var result = Parse(SpecExample.Replace(original, written, StringComparison.Ordinal));

        Assert.That(result.Problems.Select(p => $"{p.Path}: {p.Message}"), Is.EqualTo(new[] { $"{path}: must not contain the NUL character (\\u0000)" }));
    }

    [TestCase("risk management")]
    [TestCase("risk/management")]
    [TestCase("risque_géré")]
    public void A_target_workflow_that_cannot_name_a_kafka_topic_is_refused_at_its_index(string workflow)
    {
        var result = Parse(SpecExample.Replace("\"reporting_analytics\"", $"\"{workflow}\"", StringComparison.Ordinal));

        Assert.That(result.Problems.Select(p => p.Path), Is.EqualTo(new[] { "distribution.target_workflows[1]" }));
        Assert.That(result.Problems[0].Message, Does.Contain("Kafka topic"));
    }

    [TestCase("at_most_once")]
    [TestCase("AT_MOST_ONCE")]
    [TestCase("at\u005Fmost_once")]
    public void Enumerations_are_read_in_any_case_and_escaped(string written)
    {
        var e = Parse(SpecExample.Replace("\"at_least_once\"", $"\"{written}\"", StringComparison.Ordinal)).Event!;

        Assert.That(e.Routing.DeliveryGuarantee, Is.EqualTo(DeliveryGuarantee.AtMostOnce));
    }

    [TestCase("[\"portfolio_management\", \"  \"]", "distribution.target_workflows[1]")]
    [TestCase("[\"portfolio_management\", 7, \"risk_management\"]", "distribution.target_workflows[1]")]
    [TestCase("[\"portfolio_management\", \"risk_management\", \"\"]", "distribution.target_workflows[2]")]
    public void A_bad_item_of_a_symbol_list_is_named_by_its_index(string list, string path)
    {
        var result = Parse(SpecExample.Replace("[\"portfolio_management\", \"reporting_analytics\"]", list, StringComparison.Ordinal));

        Assert.That(Paths(result), Is.EqualTo(new[] { path }));
    }

    [Test]
    public void Written_events_use_microsecond_utc_timestamps_and_both_shapes()
    {
        var e = Parse(SpecExample).Event!;

        var envelope = JsonNode.Parse(e.EnvelopeJson.Span)!.AsObject();
        var distributed = JsonNode.Parse(e.DistributedJson())!.AsObject();

        Assert.Multiple(() =>
        {
            Assert.That((string?)envelope["timestamp"], Is.EqualTo("2025-06-21T10:00:00.000000Z"));
            Assert.That((string?)envelope["data"]!["execution_time"], Is.EqualTo("2025-06-21T10:00:00.000000Z"));
            Assert.That(envelope.ContainsKey("routing"), Is.True);
            Assert.That(envelope.ContainsKey("distribution"), Is.False);
            Assert.That(distributed.ContainsKey("distribution"), Is.True);
            Assert.That((string?)distributed["data_type"], Is.EqualTo("FILL_NOTIFICATION"));
            Assert.That((string?)distributed["distribution"]!["delivery_guarantee"], Is.EqualTo("at_least_once"));
        });
    }

    [Test]
    public void Serialized_bytes_are_made_once_and_shared()
    {
        var e = Parse(SpecExample).Event!;

        var first = e.EnvelopeJson;
        var second = e.EnvelopeJson;

        Assert.That(first.Span == second.Span, Is.True, "the same buffer is returned to every reader");
    }

    [Test]
    public void Timestamps_with_offsets_are_normalised_to_utc_and_truncated_to_microseconds()
    {
        var json = Mutate(SpecExample, o => o["timestamp"] = "2025-06-21T12:00:00.1234567+02:00");

        var e = Parse(json).Event!;

        Assert.That(e.Timestamp, Is.EqualTo(new DateTime(2025, 6, 21, 10, 0, 0, DateTimeKind.Utc).AddTicks(1_234_560)));
    }

    [Test]
    public void Timestamp_without_offset_is_rejected()
    {
        var result = Parse(Mutate(SpecExample, o => o["timestamp"] = "2025-06-21T10:00:00"));

        Assert.That(Paths(result), Is.EquivalentTo(new[] { "timestamp" }));
        Assert.That(result.Problems[0].Message, Does.Contain("UTC offset"));
    }

    [Test]
    public void Every_event_type_round_trips_through_its_written_form()
    {
        var stream = new SyntheticExecutionStream(seed: 7, liveOrders: 1_000);
        var seen = new HashSet<ExecutionDataType>();
        for (var i = 0; i < 2_000 && seen.Count < 6; i++)
        {
            var original = stream.Next();
            var reparsed = ExecutionEventParser.Parse(original.EnvelopeJson.Span);

            Assert.That(reparsed.Problems, Is.Empty, $"event {i} of type {original.DataType}");
            Assert.That(reparsed.Event!.Data, Is.EqualTo(original.Data), $"payload of type {original.DataType}");
            Assert.That(reparsed.Event.EnvelopeJson.ToArray(), Is.EqualTo(original.EnvelopeJson.ToArray()));
            seen.Add(original.DataType);
        }

        Assert.That(seen, Has.Count.EqualTo(6), "the stream covers every data type");
    }

    [Test]
    public void Malformed_json_is_reported_with_its_position()
    {
        var result = Parse("""{"event_id": "a", "timestamp": """);

        Assert.That(result.IsValid, Is.False);
        Assert.That(result.Problems[0].Message, Does.StartWith("malformed JSON at line 1"));
    }

    [Test]
    public void Trailing_content_after_the_event_is_malformed()
    {
        var result = Parse(SpecExample + " {}");

        Assert.That(result.Problems[0].Message, Does.StartWith("malformed JSON"));
    }

    [Test]
    public void Unknown_data_type_names_the_field_and_the_allowed_values()
    {
        var result = Parse(Mutate(SpecExample, o => o["data_type"] = "FILL"));

        Assert.That(Paths(result), Is.EquivalentTo(new[] { "data_type" }));
        Assert.That(result.Problems[0].Message, Does.Contain("FILL_NOTIFICATION"));
    }

    [Test]
    public void Every_problem_is_reported_at_once_with_its_path()
    {
        var json = Mutate(SpecExample, o =>
        {
            o.Remove("event_id");
            o["distribution"]!["priority"] = 0;
            o["distribution"]!["routing_key"] = "AAPL..fill";
            o["data"]!["quantity"] = "100";
            o["data"]!["price"] = -1;
            o["data"]!.AsObject().Remove("venue");
            o["metadata"]!["latency_sensitive"] = "yes";
        });

        var result = Parse(json);

        Assert.That(Paths(result), Is.EquivalentTo(new[]
        {
            "event_id", "distribution.priority", "distribution.routing_key", "data.quantity", "data.price", "data.venue",
            "metadata.latency_sensitive",
        }));
    }

    [Test]
    public void A_wrong_type_is_reported_once_not_also_as_missing()
    {
        var result = Parse(Mutate(SpecExample, o => o["event_id"] = 12));

        Assert.That(result.Problems, Has.Count.EqualTo(1));
        Assert.That(result.Problems[0], Is.EqualTo(new ValidationProblem("event_id", "must be a string")));
    }

    [TestCase("TRADE_CANCEL")]
    [TestCase("TRADE_CORRECT")]
    public void Busts_and_corrections_must_name_the_fill_they_refer_to(string execType)
    {
        var result = Parse(Mutate(SpecExample, o => o["data"]!["exec_type"] = execType));

        Assert.That(Paths(result), Is.EquivalentTo(new[] { "data.ref_fill_id" }));
    }

    [Test]
    public void A_bust_with_its_reference_is_valid_without_quantity_and_price()
    {
        var json = Mutate(SpecExample, o =>
        {
            o["data"]!["exec_type"] = "TRADE_CANCEL";
            o["data"]!["ref_fill_id"] = "fill_20250621_000";
            o["data"]!.AsObject().Remove("quantity");
            o["data"]!.AsObject().Remove("price");
        });

        var fill = (FillNotification)Parse(json).Event!.Data;

        Assert.That(fill.ExecType, Is.EqualTo(FillExecType.TradeCancel));
        Assert.That(fill.RefFillId, Is.EqualTo("fill_20250621_000"));
    }

    [Test]
    public void Missing_envelope_parts_are_each_named()
    {
        var result = Parse("{}");

        Assert.That(Paths(result), Is.EquivalentTo(new[] { "event_id", "timestamp", "routing", "metadata", "data" }));
    }

    [Test]
    public void An_order_update_requires_what_the_order_projection_needs()
    {
        const string json = """
            {"event_id":"e1","timestamp":"2025-06-21T10:00:00Z","data_type":"ORDER_UPDATE",
             "routing":{"topic":"execution/orders/updates","routing_key":"AAPL.order.new"},
             "metadata":{"source_service":"oms"},
             "data":{"order_id":"o1","order_type":"LIMIT"}}
            """;

        var result = Parse(json);

        Assert.That(Paths(result), Is.EquivalentTo(new[]
        {
            "data.portfolio_id", "data.instrument_id", "data.side", "data.exec_type", "data.order_qty", "data.limit_price", "data.update_time",
        }));
    }

    [Test]
    public void Data_may_come_before_data_type()
    {
        const string json = """
            {"data":{"venue":"NYSE","status":"HALTED","effective_time":"2025-06-21T10:00:00Z"},
             "event_id":"e1","timestamp":"2025-06-21T10:00:00Z","data_type":"VENUE_STATUS",
             "routing":{"topic":"execution/venues/status","routing_key":"NYSE.venue.halted"},
             "metadata":{"source_service":"gw"}}
            """;

        var e = Parse(json).Event!;

        Assert.That(e.Data, Is.EqualTo(new VenueStatus("NYSE", VenueState.Halted, null, null, Events.Time)));
        Assert.That(e.OrderId, Is.Null);
        Assert.That(e.Venue, Is.EqualTo("NYSE"));
    }

    [Test]
    public void Defaults_apply_to_optional_routing_and_metadata_fields()
    {
        var json = Mutate(SpecExample, o =>
        {
            var d = o["distribution"]!.AsObject();
            d.Remove("priority");
            d.Remove("delivery_guarantee");
            d.Remove("target_workflows");
            var m = o["metadata"]!.AsObject();
            m.Remove("audit_required");
            m.Remove("latency_sensitive");
        });

        var e = Parse(json).Event!;

        Assert.Multiple(() =>
        {
            Assert.That(e.Routing.Priority, Is.EqualTo(5));
            Assert.That(e.Routing.DeliveryGuarantee, Is.EqualTo(DeliveryGuarantee.AtLeastOnce));
            Assert.That(e.Routing.TargetWorkflows, Is.Empty);
            Assert.That(e.Metadata.AuditRequired, Is.True, "audit is on unless the producer turns it off");
            Assert.That(e.Metadata.LatencySensitive, Is.False);
        });
    }

    [Test]
    public void Batch_with_one_bad_item_is_rejected_whole_with_item_paths()
    {
        var bad = Mutate(SpecExample, o => o["data"]!["price"] = 0);
        var body = $"[{SpecExample},{bad}]";

        var result = ExecutionEventParser.ParseBatch(Encoding.UTF8.GetBytes(body));

        Assert.That(result.Events, Is.Empty);
        Assert.That(result.Problems.Select(p => p.Path), Is.EquivalentTo(new[] { "[1].data.price" }));
    }

    [Test]
    public void Batch_of_valid_items_keeps_their_order()
    {
        var second = Mutate(SpecExample, o => o["event_id"] = "second");

        var result = ExecutionEventParser.ParseBatch(Encoding.UTF8.GetBytes($"[{SpecExample},{second}]"));

        Assert.That(result.Events.Select(e => e.EventId), Is.EqualTo(new[] { "uuid", "second" }));
    }

    [TestCase("")]
    [TestCase("[]")]
    [TestCase("42")]
    [TestCase("[1]")]
    public void Bodies_that_are_not_events_are_rejected(string body)
    {
        var result = ExecutionEventParser.ParseBatch(Encoding.UTF8.GetBytes(body));

        Assert.That(result.IsValid, Is.False);
        Assert.That(result.Problems, Is.Not.Empty);
    }

    [Test]
    public void Overlong_ids_are_rejected_at_the_audit_column_length()
    {
        var result = Parse(Mutate(SpecExample, o => o["event_id"] = new string('x', 101)));

        Assert.That(result.Problems.Single(), Is.EqualTo(new ValidationProblem("event_id", "must be at most 100 characters")));
    }

    [Test]
    public void Unknown_properties_are_ignored()
    {
        var result = Parse(Mutate(SpecExample, o => o["extra"] = new JsonObject { ["nested"] = new JsonArray(1, 2) }));

        Assert.That(result.IsValid, Is.True);
    }

    [Test]
    public void Deeply_nested_input_is_refused_without_crashing()
    {
        var deep = new string('[', 5_000) + new string(']', 5_000);
        var json = Mutate(SpecExample, o => o["extra"] = "x").Replace("\"x\"", deep, StringComparison.Ordinal);

        var result = Parse(json);

        Assert.That(result.IsValid, Is.False);
    }

    [Test]
    public void Written_json_is_in_the_size_class_of_the_standard_workload()
    {
        var stream = new SyntheticExecutionStream(seed: 1, liveOrders: 1_000);
        var sizes = Enumerable.Range(0, 1_000).Select(_ => stream.Next().EnvelopeJson.Length).ToArray();

        Assert.That(sizes.Average(), Is.InRange(400, 800), "BENCHMARKS.md: about 600 bytes as JSON");
        using var doc = JsonDocument.Parse(stream.Next().EnvelopeJson);
        Assert.That(doc.RootElement.GetProperty("routing").GetProperty("routing_key").GetString(), Does.Match(@"^[^.]+\.[a-z]+\.[a-z_]+$"));
    }
}
