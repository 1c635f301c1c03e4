using System.Text.Json;

namespace ExecutionDistribution.Contract;

/// <summary>
/// Parses and validates the JSON envelope of the contract (docs/contract.md) in one pass over the
/// UTF-8 bytes. Unlike a serializer it does not stop at the first problem: it reports every problem
/// with its field path, so a producer can fix a record in one round trip.
/// </summary>
/// <remarks>
/// Accepts both shapes of the spec: <c>routing</c> (the <c>ExecutionDistribution</c> envelope) and
/// <c>distribution</c> (the <c>execution_distributed</c> event). When <c>data_type</c> is absent the
/// payload is read as a FILL_NOTIFICATION, since the spec's <c>execution_distributed</c> example
/// carries <c>ExecutionData</c>, which is a fill. Unknown properties are ignored (forward compatible).
/// </remarks>
public static class ExecutionEventParser
{
    /// <summary>Longest event id (the audit table's <c>event_id</c> column).</summary>
    public const int MaxEventIdLength = 100;

    /// <summary>Longest topic and routing key (the <c>topic_name</c> and <c>routing_key</c> columns).</summary>
    public const int MaxTopicLength = 200;

    /// <summary>Longest workflow or service name (the <c>subscriber_workflow</c> column).</summary>
    public const int MaxNameLength = 100;

    /// <summary>Longest id inside a payload (order, fill, report ids).</summary>
    public const int MaxIdLength = 100;

    /// <summary>Longest free text (reasons, report text).</summary>
    public const int MaxTextLength = 1000;

    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 16, CommentHandling = JsonCommentHandling.Disallow };

    /// <summary>Parses one event (a JSON object).</summary>
    /// <param name="utf8Json">The UTF-8 JSON of one event.</param>
    /// <param name="pathPrefix">Prefix for problem paths, e.g. <c>[3]</c> for the fourth item of a batch.</param>
    public static EventParseResult Parse(ReadOnlySpan<byte> utf8Json, string pathPrefix = "")
    {
        var context = new ParseContext(pathPrefix);
        ExecutionEvent? parsed = null;
        try
        {
            parsed = ParseEnvelope(utf8Json, context);
        }
        catch (JsonException ex)
        {
            context.Fail(string.Empty, $"malformed JSON at line {(ex.LineNumber ?? 0) + 1}, byte {(ex.BytePositionInLine ?? 0) + 1}");
        }
        catch (InvalidOperationException ex) when (ex.InnerException is System.Text.DecoderFallbackException or null)
        {
            // Text the reader cannot turn into a string, such as an escaped lone surrogate ("\ud800").
            context.Fail(string.Empty, $"a string is not valid text: {ex.Message}");
        }

        return context.HasProblems ? new EventParseResult(null, context.Problems) : new EventParseResult(parsed, []);
    }

    /// <summary>
    /// Parses a request body holding one event (an object) or a batch (an array of objects).
    /// A batch is all or nothing: the result has every event only when every item is valid.
    /// </summary>
    public static BatchParseResult ParseBatch(ReadOnlySpan<byte> utf8Json)
    {
        var reader = new Utf8JsonReader(utf8Json, ReaderOptions);
        try
        {
            if (!reader.Read())
            {
                return BatchParseResult.Failed(new ValidationProblem(string.Empty, "the body is empty; send an event object or an array of them"));
            }

            if (reader.TokenType == JsonTokenType.StartObject)
            {
                var single = Parse(utf8Json);
                return single.IsValid ? new BatchParseResult([single.Event!], []) : new BatchParseResult([], single.Problems);
            }

            if (reader.TokenType != JsonTokenType.StartArray)
            {
                return BatchParseResult.Failed(new ValidationProblem(string.Empty, "the body must be an event object or an array of event objects"));
            }

            var events = new List<ExecutionEvent>();
            var problems = new List<ValidationProblem>();
            var index = 0;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                var end = (int)reader.BytesConsumed;
                var item = Parse(utf8Json[start..end], $"[{index}]");
                if (item.IsValid)
                {
                    events.Add(item.Event!);
                }
                else
                {
                    problems.AddRange(item.Problems);
                }

                index++;
            }

            // Reading past the closing bracket surfaces trailing garbage as a JsonException.
            reader.Read();
            if (index == 0)
            {
                problems.Add(new ValidationProblem(string.Empty, "the batch is empty"));
            }

            return problems.Count > 0 ? new BatchParseResult([], problems) : new BatchParseResult(events, []);
        }
        catch (JsonException ex)
        {
            return BatchParseResult.Failed(new ValidationProblem(string.Empty,
                $"malformed JSON at line {(ex.LineNumber ?? 0) + 1}, byte {(ex.BytePositionInLine ?? 0) + 1}"));
        }
    }

    private static ExecutionEvent? ParseEnvelope(ReadOnlySpan<byte> json, ParseContext c)
    {
        var r = new Utf8JsonReader(json, ReaderOptions);
        if (!r.Read() || r.TokenType != JsonTokenType.StartObject)
        {
            c.Fail(string.Empty, "the event must be a JSON object");
            return null;
        }

        string? eventId = null;
        DateTime? timestamp = null;
        ExecutionDataType? dataType = null;
        var dataTypeInvalid = false;
        int dataStart = -1, dataEnd = -1;
        var dataSeen = false;
        ExecutionPayload? parsedData = null;
        RoutingInfo? routing = null;
        var routingSeen = false;
        ExecutionMetadata? metadata = null;
        var metadataSeen = false;

        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("event_id"u8))
            {
                r.Read();
                eventId = Fields.Id(ref r, c, string.Empty, "event_id", MaxEventIdLength);
            }
            else if (r.ValueTextEquals("timestamp"u8))
            {
                r.Read();
                timestamp = Fields.Timestamp(ref r, c, string.Empty, "timestamp");
            }
            else if (r.ValueTextEquals("data_type"u8))
            {
                r.Read();
                var index = Fields.Enum(ref r, c, string.Empty, "data_type", WireNames.DataTypes);
                dataType = index >= 0 ? (ExecutionDataType)index : null;
                dataTypeInvalid = index < 0 && r.TokenType != JsonTokenType.Null;
            }
            else if (r.ValueTextEquals("data"u8))
            {
                r.Read();
                if (r.TokenType == JsonTokenType.StartObject && dataType is { } knownType)
                {
                    // data_type came first (as we write it): parse the payload in place, in one pass.
                    parsedData = (ExecutionPayload?)ContractTables.Payloads[(int)knownType].ReadObject(ref r, c, "data");
                    dataSeen = true;
                }
                else if (r.TokenType == JsonTokenType.StartObject)
                {
                    // data first: remember where it is and parse it once data_type is known.
                    dataStart = (int)r.TokenStartIndex;
                    r.Skip();
                    dataEnd = (int)r.BytesConsumed;
                    dataSeen = true;
                }
                else
                {
                    c.Fail("data", "must be an object");
                    r.Skip();
                }
            }
            else if (r.ValueTextEquals("routing"u8) || r.ValueTextEquals("distribution"u8))
            {
                var name = r.ValueTextEquals("routing"u8) ? "routing" : "distribution";
                r.Read();
                routingSeen = true;
                routing = ContractTables.Routing.Read(ref r, c, name);
            }
            else if (r.ValueTextEquals("metadata"u8))
            {
                r.Read();
                metadataSeen = true;
                metadata = ContractTables.Metadata.Read(ref r, c, "metadata");
            }
            else
            {
                r.Read();
                r.Skip();
            }
        }

        // Reading past the closing brace surfaces trailing garbage as a JsonException.
        r.Read();

        if (eventId is null)
        {
            c.Required(string.Empty, "event_id");
        }

        if (timestamp is null)
        {
            c.Required(string.Empty, "timestamp");
        }

        if (!routingSeen)
        {
            c.Fail("routing", "is required (or 'distribution', as in execution_distributed events)");
        }

        if (!metadataSeen)
        {
            c.Required(string.Empty, "metadata");
        }

        var data = parsedData;
        if (!dataSeen)
        {
            c.Required(string.Empty, "data");
        }
        else if (dataStart >= 0 && !dataTypeInvalid)
        {
            var type = dataType ?? ExecutionDataType.FillNotification;
            var dr = new Utf8JsonReader(json[dataStart..dataEnd], ReaderOptions);
            dr.Read();
            data = (ExecutionPayload?)ContractTables.Payloads[(int)type].ReadObject(ref dr, c, "data");
        }

        if (c.HasProblems)
        {
            return null;
        }

        return new ExecutionEvent(eventId!, timestamp!.Value, data!.DataType, data, routing!, metadata!) { EstimatedBytes = ExecutionEvent.EstimateBytes(json.Length) };
    }
}
