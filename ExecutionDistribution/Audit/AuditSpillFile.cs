using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ExecutionDistribution.Audit;

/// <summary>
/// An append-only file of audit rows, one JSON object per line, flushed to disk after every append.
/// With PostgreSQL configured it holds the rows PostgreSQL could not take yet (they are replayed, then
/// the file is deleted); without PostgreSQL it is the audit itself. A torn last line (a crash during
/// an append) is skipped on reading.
/// </summary>
internal sealed partial class AuditSpillFile(string path)
{
    private const int PosixFadvDontNeed = 4;

    // False once the C library turned out not to have posix_fadvise.
    private static bool _canAdvise = true;

    // Used by the one writer task only (appends are not concurrent).
    private readonly System.Buffers.ArrayBufferWriter<byte> _buffer = new(1 << 20);
    private readonly Utf8JsonWriter _writer = new(new System.Buffers.ArrayBufferWriter<byte>(), new JsonWriterOptions { SkipValidation = true });

    /// <summary>The file's path.</summary>
    public string Path { get; } = path;

    /// <summary>True when the file holds rows.</summary>
    public bool HasRows => File.Exists(Path) && new FileInfo(Path).Length > 0;

    /// <summary>Appends rows and flushes them to disk.</summary>
    public void Append(IReadOnlyList<AuditRecord> records)
    {
        // Every row into one buffer (one writer, reset per row), then one write and one flush to disk.
        _buffer.ResetWrittenCount();
        _writer.Reset(_buffer);
        foreach (var r in records)
        {
            Write(_writer, r);
            _writer.Flush();
            _buffer.GetSpan(1)[0] = (byte)'\n';
            _buffer.Advance(1);
            _writer.Reset(_buffer);
        }

        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path))!);
        using var stream = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read, 1);
        var start = stream.Position;
        stream.Write(_buffer.WrittenSpan);
        stream.Flush(flushToDisk: true);
        DropFromPageCache(stream.SafeFileHandle, start, _buffer.WrittenCount);
    }

    // The rows are on disk and read again only on a restart or an audit query: on Linux the kernel is told
    // it may drop them from the page cache. Otherwise the cache grows by the audit's size, which at
    // saturation is hundreds of MB a second of pages touched for the first time (on this VM each such page
    // costs the host a fault), and the writer's copy into them bounded ours at the top W4 rung
    // (docs/benchmarks.md, where the time goes, W4). Best effort: advice, not a promise.
    private static void DropFromPageCache(Microsoft.Win32.SafeHandles.SafeFileHandle file, long offset, long length)
    {
        if (!OperatingSystem.IsLinux() || !_canAdvise)
        {
            return;
        }

        try
        {
            _ = PosixFadvise(file, offset, length, PosixFadvDontNeed);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            _canAdvise = false;
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int PosixFadvise(Microsoft.Win32.SafeHandles.SafeFileHandle fd, long offset, long length, int advice);

    /// <summary>Reads every complete row, in chunks of at most <paramref name="chunk"/>.</summary>
    public IEnumerable<List<AuditRecord>> Read(int chunk)
    {
        if (!File.Exists(Path))
        {
            yield break;
        }

        using var reader = new StreamReader(new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite), Encoding.UTF8);
        var rows = new List<AuditRecord>(chunk);
        while (reader.ReadLine() is { } line)
        {
            if (Parse(line) is { } record)
            {
                rows.Add(record);
                if (rows.Count == chunk)
                {
                    yield return rows;
                    rows = new List<AuditRecord>(chunk);
                }
            }
        }

        if (rows.Count > 0)
        {
            yield return rows;
        }
    }

    /// <summary>Deletes the file (every row is stored elsewhere).</summary>
    public void Delete() => File.Delete(Path);

    private static void Write(Utf8JsonWriter w, AuditRecord r)
    {
        w.WriteStartObject();
        w.WriteString("id"u8, r.Id);
        w.WriteString("event_id"u8, r.EventId);
        w.WriteString("topic_name"u8, r.TopicName);
        w.WriteString("routing_key"u8, r.RoutingKey);
        w.WriteString("delivery_status"u8, r.DeliveryStatus);
        if (r.DeliveryTimeMs is { } ms)
        {
            WriteMilliseconds(w, ms);
        }

        w.WriteNumber("retry_count"u8, r.RetryCount);
        Span<byte> created = stackalloc byte[Contract.Timestamps.WireLength];
        Contract.Timestamps.FormatUtf8(r.CreatedAt, created);
        w.WriteString("created_at"u8, created);
        if (r.OrderId is not null)
        {
            w.WriteString("order_id"u8, r.OrderId);
        }

        if (r.SubscriptionId is not null)
        {
            w.WriteString("subscription_id"u8, r.SubscriptionId);
        }

        w.WriteEndObject();
    }

    // The delivery time is rounded to the microsecond where it is taken (AuditTrail): written as a fixed-point
    // number of milliseconds with at most three decimals, which reads back as the same double, without the
    // general shortest-round-trip float formatting (it ran once per audit row). Others go the general way.
    private static void WriteMilliseconds(Utf8JsonWriter w, double ms)
    {
        var micros = Math.Round(ms * 1000);
        if (!(Math.Abs(micros) < 1e15) || micros / 1000 != ms)
        {
            w.WriteNumber("delivery_time_ms"u8, ms);
            return;
        }

        Span<byte> text = stackalloc byte[24];
        var value = (long)micros;
        var length = 0;
        if (value < 0)
        {
            text[length++] = (byte)'-';
            value = -value;
        }

        System.Buffers.Text.Utf8Formatter.TryFormat(value / 1000, text[length..], out var written);
        length += written;
        var fraction = (int)(value % 1000);
        if (fraction != 0)
        {
            text[length++] = (byte)'.';
            text[length++] = (byte)('0' + (fraction / 100));
            text[length++] = (byte)('0' + (fraction / 10 % 10));
            text[length++] = (byte)('0' + (fraction % 10));
            while (text[length - 1] == (byte)'0')
            {
                length--;
            }
        }

        w.WritePropertyName("delivery_time_ms"u8);
        w.WriteRawValue(text[..length], skipInputValidation: true);
    }

    private static AuditRecord? Parse(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var o = doc.RootElement;
            return new AuditRecord(
                o.GetProperty("id").GetGuid(),
                o.GetProperty("event_id").GetString()!,
                o.GetProperty("topic_name").GetString()!,
                o.GetProperty("routing_key").GetString()!,
                o.GetProperty("delivery_status").GetString()!,
                o.TryGetProperty("delivery_time_ms", out var ms) ? ms.GetDouble() : null,
                o.GetProperty("retry_count").GetInt32(),
                DateTime.SpecifyKind(DateTime.ParseExact(o.GetProperty("created_at").GetString()!, Contract.Timestamps.WireFormat, CultureInfo.InvariantCulture), DateTimeKind.Utc),
                o.TryGetProperty("order_id", out var order) ? order.GetString() : null,
                o.TryGetProperty("subscription_id", out var sub) ? sub.GetString() : null);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or FormatException or InvalidOperationException)
        {
            return null; // a torn line
        }
    }
}
