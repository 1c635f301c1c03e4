using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace ExecutionDistribution.Contract;

/// <summary>
/// Writes events as the contract's JSON: snake_case, enumerations by wire name, timestamps as UTC
/// with six fractional digits. Each event is written once per shape and the bytes are shared
/// (<see cref="ExecutionEvent.EnvelopeJson"/>); the scratch buffer and writer are reused per thread.
/// </summary>
public static class ExecutionEventWriter
{
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? _buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? _writer;

    /// <summary>Serializes <paramref name="e"/> in the given shape into a new exact-size array.</summary>
    public static byte[] Write(ExecutionEvent e, EnvelopeShape shape) => WriteScratch(e, shape).ToArray();

    /// <summary>
    /// Serializes <paramref name="e"/> into this thread's scratch buffer: the span is valid until the
    /// thread's next call, for a caller that copies it where it will live.
    /// </summary>
    internal static ReadOnlySpan<byte> WriteScratch(ExecutionEvent e, EnvelopeShape shape)
    {
        var buffer = _buffer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        var writer = _writer ??= new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true });
        writer.Reset(buffer);
        WriteTo(writer, e, shape);
        writer.Flush();
        return buffer.WrittenSpan;
    }

    /// <summary>
    /// The same event in shape <paramref name="to"/>, from <paramref name="json"/> this writer wrote in
    /// the other shape: the shapes differ only in the routing object's name (<c>routing</c> or
    /// <c>distribution</c>), so this copies the bytes around it. The first <c>,"routing":{</c> is the
    /// name: a quote inside a string value is always written escaped, so the sequence cannot occur in
    /// the strings before it. Null when the name is not found (bytes not written in the other shape).
    /// </summary>
    public static byte[]? Reshape(ReadOnlySpan<byte> json, EnvelopeShape to)
    {
        var from = to == EnvelopeShape.Envelope ? ",\"distribution\":{"u8 : ",\"routing\":{"u8;
        var name = to == EnvelopeShape.Envelope ? ",\"routing\":{"u8 : ",\"distribution\":{"u8;
        var at = json.IndexOf(from);
        if (at < 0)
        {
            return null;
        }

        var result = new byte[json.Length - from.Length + name.Length];
        json[..at].CopyTo(result);
        name.CopyTo(result.AsSpan(at));
        json[(at + from.Length)..].CopyTo(result.AsSpan(at + name.Length));
        return result;
    }

    /// <summary>Writes <paramref name="e"/> as one JSON object to <paramref name="w"/>.</summary>
    public static void WriteTo(Utf8JsonWriter w, ExecutionEvent e, EnvelopeShape shape)
    {
        w.WriteStartObject();
        w.WriteString("event_id"u8, e.EventId);
        WriteTime(w, "timestamp"u8, e.Timestamp);
        w.WriteString("data_type"u8, WireNames.DataTypes[(int)e.DataType]);

        var r = e.Routing;
        w.WriteStartObject(shape == EnvelopeShape.Envelope ? "routing"u8 : "distribution"u8);
        w.WriteString("topic"u8, r.Topic);
        w.WriteString("routing_key"u8, r.RoutingKey);
        w.WriteStartArray("target_workflows"u8);
        foreach (var workflow in r.TargetWorkflows)
        {
            w.WriteStringValue(workflow);
        }

        w.WriteEndArray();
        w.WriteNumber("priority"u8, r.Priority);
        w.WriteString("delivery_guarantee"u8, WireNames.DeliveryGuarantees[(int)r.DeliveryGuarantee]);
        w.WriteEndObject();

        w.WritePropertyName("data"u8);
        WritePayload(w, e.Data);

        var m = e.Metadata;
        w.WriteStartObject("metadata"u8);
        w.WriteString("source_service"u8, m.SourceService);
        WriteOptional(w, "execution_venue"u8, m.ExecutionVenue);
        w.WriteBoolean("latency_sensitive"u8, m.LatencySensitive);
        w.WriteBoolean("audit_required"u8, m.AuditRequired);
        w.WriteStartArray("compliance_flags"u8);
        foreach (var flag in m.ComplianceFlags)
        {
            w.WriteStringValue(flag);
        }

        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>Writes a payload as a JSON object.</summary>
    public static void WritePayload(Utf8JsonWriter w, ExecutionPayload payload)
    {
        w.WriteStartObject();
        switch (payload)
        {
            case OrderUpdate o:
                w.WriteString("order_id"u8, o.OrderId);
                w.WriteString("portfolio_id"u8, o.PortfolioId);
                w.WriteString("instrument_id"u8, o.InstrumentId);
                w.WriteString("side"u8, WireNames.Sides[(int)o.Side]);
                w.WriteString("order_type"u8, WireNames.OrderTypes[(int)o.OrderType]);
                w.WriteNumber("order_qty"u8, o.OrderQty);
                WriteOptional(w, "limit_price"u8, o.LimitPrice);
                w.WriteString("time_in_force"u8, WireNames.TimesInForce[(int)o.TimeInForce]);
                w.WriteString("exec_type"u8, WireNames.OrderExecTypes[(int)o.ExecType]);
                WriteOptional(w, "venue"u8, o.Venue);
                WriteOptional(w, "reason"u8, o.Reason);
                WriteTime(w, "update_time"u8, o.UpdateTime);
                if (o.RestatementReason is { } restated)
                {
                    w.WriteString("restatement_reason"u8, WireNames.RestatementReasons[(int)restated]);
                }

                break;
            case FillNotification f:
                w.WriteString("order_id"u8, f.OrderId);
                w.WriteString("fill_id"u8, f.FillId);
                w.WriteString("instrument_id"u8, f.InstrumentId);
                if (f.Side is { } side)
                {
                    w.WriteString("side"u8, WireNames.Sides[(int)side]);
                }

                w.WriteNumber("quantity"u8, f.Quantity);
                w.WriteNumber("price"u8, f.Price);
                w.WriteString("venue"u8, f.Venue);
                WriteTime(w, "execution_time"u8, f.ExecutionTime);
                w.WriteNumber("commission"u8, f.Commission);
                w.WriteString("exec_type"u8, WireNames.FillExecTypes[(int)f.ExecType]);
                WriteOptional(w, "ref_fill_id"u8, f.RefFillId);
                WriteOptional(w, "portfolio_id"u8, f.PortfolioId);
                WriteOptional(w, "currency"u8, f.Currency);
                break;
            case ExecutionReport x:
                w.WriteString("report_id"u8, x.ReportId);
                w.WriteString("order_id"u8, x.OrderId);
                w.WriteString("portfolio_id"u8, x.PortfolioId);
                w.WriteString("instrument_id"u8, x.InstrumentId);
                w.WriteString("side"u8, WireNames.Sides[(int)x.Side]);
                w.WriteString("order_status"u8, WireNames.OrderStatuses[(int)x.OrderStatus]);
                w.WriteNumber("order_qty"u8, x.OrderQty);
                w.WriteNumber("cum_qty"u8, x.CumQty);
                w.WriteNumber("leaves_qty"u8, x.LeavesQty);
                w.WriteNumber("avg_px"u8, x.AvgPx);
                WriteOptional(w, "last_qty"u8, x.LastQty);
                WriteOptional(w, "last_px"u8, x.LastPx);
                WriteOptional(w, "venue"u8, x.Venue);
                WriteTime(w, "transact_time"u8, x.TransactTime);
                WriteOptional(w, "text"u8, x.Text);
                break;
            case SettlementUpdate s:
                w.WriteString("settlement_id"u8, s.SettlementId);
                w.WriteString("trade_id"u8, s.TradeId);
                w.WriteString("order_id"u8, s.OrderId);
                WriteOptional(w, "portfolio_id"u8, s.PortfolioId);
                w.WriteString("instrument_id"u8, s.InstrumentId);
                w.WriteNumber("quantity"u8, s.Quantity);
                w.WriteNumber("settlement_amount"u8, s.SettlementAmount);
                w.WriteString("currency"u8, s.Currency);
                Span<char> date = stackalloc char[10];
                s.SettlementDate.TryFormat(date, out _, "yyyy-MM-dd", CultureInfo.InvariantCulture);
                w.WriteString("settlement_date"u8, date);
                w.WriteString("status"u8, WireNames.SettlementStatuses[(int)s.Status]);
                WriteOptional(w, "custodian"u8, s.Custodian);
                WriteOptional(w, "counterparty"u8, s.Counterparty);
                WriteOptional(w, "fail_reason"u8, s.FailReason);
                WriteTime(w, "update_time"u8, s.UpdateTime);
                break;
            case TcaResult t:
                w.WriteString("analysis_id"u8, t.AnalysisId);
                w.WriteString("order_id"u8, t.OrderId);
                WriteOptional(w, "portfolio_id"u8, t.PortfolioId);
                w.WriteString("instrument_id"u8, t.InstrumentId);
                w.WriteString("benchmark"u8, WireNames.TcaBenchmarks[(int)t.Benchmark]);
                w.WriteNumber("benchmark_price"u8, t.BenchmarkPrice);
                w.WriteNumber("execution_price"u8, t.ExecutionPrice);
                w.WriteNumber("slippage_bps"u8, t.SlippageBps);
                WriteOptional(w, "market_impact_bps"u8, t.MarketImpactBps);
                WriteOptional(w, "participation_rate"u8, t.ParticipationRate);
                WriteTime(w, "computed_at"u8, t.ComputedAt);
                break;
            case VenueStatus v:
                w.WriteString("venue"u8, v.Venue);
                w.WriteString("status"u8, WireNames.VenueStates[(int)v.Status]);
                WriteOptional(w, "instrument_id"u8, v.InstrumentId);
                WriteOptional(w, "reason"u8, v.Reason);
                WriteTime(w, "effective_time"u8, v.EffectiveTime);
                break;
        }

        w.WriteEndObject();
    }

    /// <summary>Writes a UTC timestamp with exactly six fractional digits and a trailing Z.</summary>
    public static void WriteTime(Utf8JsonWriter w, ReadOnlySpan<byte> name, DateTime utc)
    {
        Span<byte> text = stackalloc byte[Timestamps.WireLength];
        Timestamps.FormatUtf8(utc, text);
        w.WriteString(name, text);
    }

    private static void WriteOptional(Utf8JsonWriter w, ReadOnlySpan<byte> name, string? value)
    {
        if (value is not null)
        {
            w.WriteString(name, value);
        }
    }

    private static void WriteOptional(Utf8JsonWriter w, ReadOnlySpan<byte> name, decimal? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
    }
}
