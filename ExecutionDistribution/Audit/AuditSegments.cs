using System.Globalization;
using System.Text;
using System.Text.Json;
using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Audit;

/// <summary>What the local audit store does when it reaches <c>Audit:Local:MaxBytes</c>.</summary>
public enum AuditFullPolicy
{
    /// <summary>Append nothing more: rows wait in memory, then streams wait for room (their subscribers fall behind). Nothing is lost.</summary>
    BackPressure,

    /// <summary>Delete the oldest segments to make room, and count what was deleted.</summary>
    DropOldest,
}

/// <summary>
/// Audit rows on local disk, one JSON object per line, in segments of at most
/// <c>Audit:Local:SegmentBytes</c> (<c>{name}-{n}.jsonl</c>, oldest first), each append flushed to
/// disk. Bounded: at <c>Audit:Local:MaxBytes</c> it applies <see cref="AuditFullPolicy"/>, and
/// segments last written longer than <c>Audit:Local:Retention</c> ago are deleted (counted). Without
/// PostgreSQL it is the audit; with it, the rows PostgreSQL could not take yet (replayed, then
/// deleted). A torn last line (a crash during an append) is skipped on reading. One writer appends;
/// readers may read meanwhile.
/// </summary>
internal sealed partial class AuditSegments
{
    private const int PosixFadvDontNeed = 4;

    // False once the C library turned out not to have posix_fadvise.
    private static bool _canAdvise = true;

    private readonly string _name;
    private readonly long _segmentBytes;
    private readonly long _maxBytes;
    private readonly TimeSpan _retention;
    private readonly AuditFullPolicy _whenFull;
    private readonly TimeProvider _time;
    private readonly System.Buffers.ArrayBufferWriter<byte> _buffer = new(1 << 20);
    private readonly Utf8JsonWriter _writer = new(new System.Buffers.ArrayBufferWriter<byte>(), new JsonWriterOptions { SkipValidation = true });
    private readonly Lock _gate = new();
    private long _droppedSegments;
    private long _droppedBytes;
    private long _expiredSegments;

    /// <summary>Opens (or starts) the segments named <paramref name="name"/> in <paramref name="directory"/>.</summary>
    public AuditSegments(string directory, string name, long segmentBytes, long maxBytes, TimeSpan retention, AuditFullPolicy whenFull, TimeProvider time)
    {
        Directory = System.IO.Path.GetFullPath(directory);
        _name = name;
        _segmentBytes = segmentBytes;
        _maxBytes = maxBytes;
        _retention = retention;
        _whenFull = whenFull;
        _time = time;
    }

    /// <summary>Where the segments are.</summary>
    public string Directory { get; }

    /// <summary>True when any segment holds rows.</summary>
    public bool HasRows => Segments().Any(f => f.Length > 0);

    /// <summary>Bytes in all segments.</summary>
    public long Bytes => Segments().Sum(f => f.Length);

    /// <summary>Segments on disk.</summary>
    public int SegmentCount => Segments().Count;

    /// <summary>True while an append would pass <c>Audit:Local:MaxBytes</c> under back-pressure.</summary>
    public bool Full { get; private set; }

    /// <summary>Segments (and their bytes) deleted to make room under <see cref="AuditFullPolicy.DropOldest"/>.</summary>
    public (long Segments, long Bytes) Dropped => (Interlocked.Read(ref _droppedSegments), Interlocked.Read(ref _droppedBytes));

    /// <summary>Segments deleted because they were older than the retention.</summary>
    public long Expired => Interlocked.Read(ref _expiredSegments);

    /// <summary>
    /// Appends rows and flushes them to disk; false (nothing written) when the store is full and its
    /// policy is back-pressure.
    /// </summary>
    public bool TryAppend(IReadOnlyList<AuditRow> rows)
    {
        _buffer.ResetWrittenCount();
        _writer.Reset(_buffer);
        foreach (var r in rows)
        {
            Write(_writer, r);
            _writer.Flush();
            _buffer.GetSpan(1)[0] = (byte)'\n';
            _buffer.Advance(1);
            _writer.Reset(_buffer);
        }

        lock (_gate)
        {
            var segments = Segments();
            var total = segments.Sum(f => f.Length);
            if (total + _buffer.WrittenCount > _maxBytes)
            {
                if (_whenFull == AuditFullPolicy.BackPressure)
                {
                    Full = true;
                    return false;
                }

                // Oldest first, never the one being written.
                for (var i = 0; i < segments.Count - 1 && total + _buffer.WrittenCount > _maxBytes; i++)
                {
                    total -= segments[i].Length;
                    Interlocked.Add(ref _droppedBytes, segments[i].Length);
                    Interlocked.Increment(ref _droppedSegments);
                    segments[i].Delete();
                }
            }

            Full = false;
            System.IO.Directory.CreateDirectory(Directory);
            var active = segments.Count > 0 ? segments[^1] : null;
            if (active is null || !active.Exists || (active.Length > 0 && active.Length + _buffer.WrittenCount > _segmentBytes))
            {
                active = new FileInfo(System.IO.Path.Combine(Directory, $"{_name}-{NextNumber(segments):D8}.jsonl"));
            }

            using var stream = new FileStream(active.FullName, FileMode.Append, FileAccess.Write, FileShare.Read, 1);
            var start = stream.Position;
            stream.Write(_buffer.WrittenSpan);
            stream.Flush(flushToDisk: true);
            DropFromPageCache(stream.SafeFileHandle, start, _buffer.WrittenCount);
            return true;
        }
    }

    /// <summary>Deletes the segments last written before the retention (never the newest).</summary>
    public void ApplyRetention()
    {
        lock (_gate)
        {
            var before = _time.GetUtcNow().UtcDateTime - _retention;
            var segments = Segments();
            for (var i = 0; i < segments.Count - 1; i++)
            {
                if (segments[i].LastWriteTimeUtc < before)
                {
                    segments[i].Delete();
                    Interlocked.Increment(ref _expiredSegments);
                }
            }

            Full = Full && segments.Where(f => f.Exists).Sum(f => f.Length) >= _maxBytes;
        }
    }

    /// <summary>Reads every complete row, oldest segment first, in chunks of at most <paramref name="chunk"/>.</summary>
    public IEnumerable<List<AuditRow>> Read(int chunk)
    {
        var rows = new List<AuditRow>(chunk);
        foreach (var segment in Segments())
        {
            StreamReader reader;
            try
            {
                reader = new StreamReader(new FileStream(segment.FullName, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete), Encoding.UTF8);
            }
            catch (FileNotFoundException)
            {
                continue; // deleted meanwhile (retention, or room made)
            }

            using (reader)
            {
                while (reader.ReadLine() is { } line)
                {
                    if (Parse(line) is { } row)
                    {
                        rows.Add(row);
                        if (rows.Count == chunk)
                        {
                            yield return rows;
                            rows = new List<AuditRow>(chunk);
                        }
                    }
                }
            }
        }

        if (rows.Count > 0)
        {
            yield return rows;
        }
    }

    /// <summary>Deletes every segment (their rows are stored elsewhere).</summary>
    public void Delete()
    {
        lock (_gate)
        {
            foreach (var segment in Segments())
            {
                segment.Delete();
            }

            Full = false;
        }
    }

    private List<FileInfo> Segments()
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return [];
        }

        return [.. new DirectoryInfo(Directory).EnumerateFiles($"{_name}-*.jsonl").OrderBy(f => f.Name, StringComparer.Ordinal)];
    }

    private long NextNumber(List<FileInfo> segments) =>
        segments.Count == 0 ? 1 : long.Parse(segments[^1].Name.AsSpan(_name.Length + 1, 8), CultureInfo.InvariantCulture) + 1;

    // The rows are on disk and read again only on a restart or an audit query: on Linux the kernel is told
    // it may drop them from the page cache, so the cache does not grow by the audit's size. Best effort.
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

    private static void Write(Utf8JsonWriter w, in AuditRow r)
    {
        w.WriteStartObject();
        w.WriteNumber("k"u8, (int)r.Kind);
        w.WriteString("id"u8, r.Id);
        Span<byte> time = stackalloc byte[Timestamps.WireLength];
        Timestamps.FormatUtf8(r.CreatedAt, time);
        w.WriteString("at"u8, time);
        Optional(w, "event_id"u8, r.EventId);
        Optional(w, "topic_name"u8, r.TopicName);
        Optional(w, "routing_key"u8, r.RoutingKey);
        Optional(w, "order_id"u8, r.OrderId);
        Optional(w, "subscription_id"u8, r.SubscriptionId);
        Optional(w, "status"u8, r.Status);
        Optional(w, "portfolio"u8, r.Portfolio);
        Optional(w, "caller"u8, r.Caller);
        if (r.RetryCount != 0)
        {
            w.WriteNumber("retry"u8, r.RetryCount);
        }

        if (r.DeliveryTimeMs is { } ms)
        {
            w.WriteNumber("ms"u8, ms);
        }

        if (r.Epoch != Guid.Empty)
        {
            w.WriteString("epoch"u8, r.Epoch);
            w.WriteNumber("p0"u8, r.FirstPosition);
            w.WriteNumber("p1"u8, r.LastPosition);
        }

        if (r.StreamId != Guid.Empty)
        {
            w.WriteString("stream"u8, r.StreamId);
        }

        if (r.Count != 0)
        {
            w.WriteNumber("s0"u8, r.FirstSequence);
            w.WriteNumber("s1"u8, r.LastSequence);
            w.WriteNumber("n"u8, r.Count);
        }

        // The envelope or filter is JSON already: kept as it is, not escaped into a string (half the bytes).
        if (r.Text is not null)
        {
            w.WritePropertyName("json"u8);
            w.WriteRawValue(r.Text, skipInputValidation: true);
        }
        else if (r.Event is { } e)
        {
            w.WritePropertyName("json"u8);
            w.WriteRawValue(e.EnvelopeJson.Span, skipInputValidation: true);
        }

        if (r.IngestedAt is { } ingested)
        {
            Timestamps.FormatUtf8(ingested, time);
            w.WriteString("ingested"u8, time);
        }

        w.WriteEndObject();
    }

    private static void Optional(Utf8JsonWriter w, ReadOnlySpan<byte> name, string? value)
    {
        if (value is not null)
        {
            w.WriteString(name, value);
        }
    }

    private static AuditRow? Parse(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var o = doc.RootElement;
            string? S(string name) => o.TryGetProperty(name, out var v) ? v.GetString() : null;
            long L(string name) => o.TryGetProperty(name, out var v) ? v.GetInt64() : 0;
            Guid G(string name) => o.TryGetProperty(name, out var v) ? v.GetGuid() : Guid.Empty;
            DateTime? T(string name) => S(name) is { } text
                ? DateTime.SpecifyKind(DateTime.ParseExact(text, Timestamps.WireFormat, CultureInfo.InvariantCulture), DateTimeKind.Utc)
                : null;
            return new AuditRow(
                (AuditRowKind)o.GetProperty("k").GetInt32(), o.GetProperty("id").GetGuid(), T("at")!.Value,
                S("event_id"), S("topic_name"), S("routing_key"), S("order_id"), S("subscription_id"), S("status"), (int)L("retry"),
                o.TryGetProperty("ms", out var ms) ? ms.GetDouble() : null,
                G("epoch"), L("p0"), L("p1"), G("stream"), L("s0"), L("s1"), (int)L("n"), o.TryGetProperty("json", out var json) ? json.GetRawText() : null, T("ingested"),
                Portfolio: S("portfolio"), Caller: S("caller"));
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or FormatException or InvalidOperationException)
        {
            return null; // a torn line
        }
    }
}
