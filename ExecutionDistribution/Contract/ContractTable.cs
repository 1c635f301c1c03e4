using System.Runtime.CompilerServices;
using System.Text.Json;

namespace ExecutionDistribution.Contract;

/// <summary>A contract object of any record type: what the envelope's parser and writer call.</summary>
internal abstract class ContractTable
{
    /// <summary>The record type the table reads and writes.</summary>
    public abstract Type RecordType { get; }

    /// <summary>The fields in wire order: name, kind, and whether required.</summary>
    public abstract IEnumerable<(string Name, FieldKind Kind, bool Required)> Describe();

    /// <summary>Reads an object (the reader is on its value token), or null with its problems reported under <paramref name="parent"/>.</summary>
    public abstract object? ReadObject(ref Utf8JsonReader r, ParseContext c, string parent);

    /// <summary>Writes <paramref name="record"/> as a JSON object.</summary>
    public abstract void WriteObject(Utf8JsonWriter w, object record);
}

/// <summary>
/// The table of one contract object (a payload, <c>routing</c>, <c>metadata</c>): drives reading,
/// validation and writing, so each field is named once. Rules that tie fields together (a bust's
/// <c>ref_fill_id</c>, a restatement's reason) are the table's <see cref="Rules"/>.
/// </summary>
/// <typeparam name="T">The record.</typeparam>
internal sealed class ContractTable<T> : ContractTable
    where T : class
{
    private ContractField<T>[] _fields = [];
    private readonly Create _create;
    private readonly Rules? _rules;

    /// <summary>A table whose fields are added next, in the order of <typeparamref name="T"/>'s constructor parameters.</summary>
    public ContractTable(Create create, Rules? rules = null)
    {
        _create = create;
        _rules = rules;
    }

    /// <summary>Builds the record from the values of a valid object.</summary>
    public delegate T Create(ref FieldCursor values);

    /// <summary>Checks what ties fields together; reports through <paramref name="c"/>.</summary>
    public delegate void Rules(ReadOnlySpan<FieldSlot> values, ParseContext c, string parent);

    public override Type RecordType => typeof(T);

    /// <summary>A required id, or optional free text with <paramref name="maxLength"/> of <see cref="ExecutionEventParser.MaxTextLength"/>.</summary>
    public ContractTable<T> Id(string name, Func<T, string?> get, int maxLength = ExecutionEventParser.MaxIdLength, bool required = true) =>
        Add(new(name, FieldKind.Id, get) { Required = required, MaxLength = maxLength });

    /// <summary>Optional free text (reasons, report text).</summary>
    public ContractTable<T> Text(string name, Func<T, string?> get) => Id(name, get, ExecutionEventParser.MaxTextLength, required: false);

    public ContractTable<T> Symbol(string name, Func<T, string?> get, int maxLength = ExecutionEventParser.MaxIdLength, bool required = true,
        Func<string, string?>? validate = null) =>
        Add(new(name, FieldKind.Symbol, get) { Required = required, MaxLength = maxLength, Validate = validate });

    /// <summary>An optional list of symbols, <c>[]</c> when absent.</summary>
    public ContractTable<T> List(string name, Func<T, string[]> get, int maxLength, Func<string, string?>? validate = null) =>
        Add(new(name, FieldKind.SymbolList, get) { MaxLength = maxLength, Validate = validate });

    public ContractTable<T> Number(string name, Func<T, decimal?> get, NumberRule rule = NumberRule.Any, bool required = true) =>
        Add(new(name, FieldKind.Number, get) { Required = required, Rule = rule });

    public ContractTable<T> Integer(string name, Func<T, int> get, int defaultValue, (int Min, int Max, string Message) range) =>
        Add(new(name, FieldKind.Integer, get) { Default = defaultValue, Range = range });

    public ContractTable<T> Flag(string name, Func<T, bool> get, bool defaultValue) =>
        Add(new(name, FieldKind.Flag, get) { Default = defaultValue ? 1 : 0 });

    /// <summary>An enumeration by wire name: required, or optional with a default, or optional and null when absent.</summary>
    public ContractTable<T> Enum<TEnum>(string name, Func<T, TEnum?> get, TEnum? defaultValue = null, bool required = true)
        where TEnum : struct, Enum =>
        Add(new(name, FieldKind.Enum, (Func<T, int>)(x => get(x) is { } v ? Unsafe.BitCast<TEnum, int>(v) : -1))
        {
            Names = WireNames.Of<TEnum>(),
            Required = required && defaultValue is null,
            Default = defaultValue is { } d ? Unsafe.BitCast<TEnum, int>(d) : null,
        });

    public ContractTable<T> Time(string name, Func<T, DateTime> get) => Add(new(name, FieldKind.Timestamp, get) { Required = true });

    public ContractTable<T> Date(string name, Func<T, DateOnly> get) => Add(new(name, FieldKind.Date, get) { Required = true });

    /// <summary>The position of the field named <paramref name="name"/>, for <see cref="Rules"/>.</summary>
    public int IndexOf(string name) => Array.FindIndex(_fields, f => f.Name == name) is >= 0 and var i
        ? i : throw new ArgumentException($"{typeof(T).Name} has no field {name}", nameof(name));

    private ContractTable<T> Add(ContractField<T> field)
    {
        if (_fields.Length == FieldSlots.MaxFields)
        {
            throw new InvalidOperationException($"{typeof(T).Name}: a table holds at most {FieldSlots.MaxFields} fields");
        }

        _fields = [.. _fields, field];
        return this;
    }

    public override IEnumerable<(string Name, FieldKind Kind, bool Required)> Describe() => _fields.Select(f => (f.Name, f.Kind, f.Required));

    public override object? ReadObject(ref Utf8JsonReader r, ParseContext c, string parent) => Read(ref r, c, parent);

    public override void WriteObject(Utf8JsonWriter w, object record) => Write(w, (T)record);

    /// <summary>Reads an object, reporting every problem; null when there was one.</summary>
    public T? Read(ref Utf8JsonReader r, ParseContext c, string parent)
    {
        if (!Fields.ExpectObject(ref r, c, parent))
        {
            return null;
        }

        var slots = default(FieldSlots);
        Span<FieldSlot> values = slots;
        values = values[.._fields.Length];
        var before = c.Count;
        var expected = 0;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            var index = Find(ref r, expected);
            r.Read();
            if (index < 0)
            {
                r.Skip(); // unknown properties are ignored (forward compatible)
                continue;
            }

            _fields[index].Read(ref r, c, parent, ref values[index]);
            expected = index + 1;
        }

        for (var i = 0; i < _fields.Length; i++)
        {
            _fields[i].Check(c, parent, ref values[i]);
        }

        _rules?.Invoke(values, c, parent);
        if (c.Count > before)
        {
            return null;
        }

        var cursor = new FieldCursor(values);
        return _create(ref cursor);
    }

    /// <summary>Writes <paramref name="record"/> as a JSON object, fields in table order.</summary>
    public void Write(Utf8JsonWriter w, T record)
    {
        w.WriteStartObject();
        foreach (var field in _fields)
        {
            field.Write(w, record);
        }

        w.WriteEndObject();
    }

    // Properties usually come in table order (as this writer writes them): the expected one is tried first.
    private int Find(ref Utf8JsonReader r, int expected)
    {
        if (expected < _fields.Length && r.ValueTextEquals(_fields[expected].Utf8Name))
        {
            return expected;
        }

        for (var i = 0; i < _fields.Length; i++)
        {
            if (i != expected && r.ValueTextEquals(_fields[i].Utf8Name))
            {
                return i;
            }
        }

        return -1;
    }
}
