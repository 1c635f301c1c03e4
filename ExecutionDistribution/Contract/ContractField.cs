using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace ExecutionDistribution.Contract;

/// <summary>How a field's JSON value is read, checked and written.</summary>
internal enum FieldKind
{
    Id, // A high-cardinality string (ids, free text): allocated per event.
    Symbol, // A low-cardinality string (instrument, venue, topic): interned.
    SymbolList, // An array of low-cardinality strings, interned as a whole.
    Number, // A number, read as a decimal.
    Integer, // An integer.
    Flag, // true or false.
    Enum, // An enumeration written by wire name.
    Timestamp, // A timestamp with a UTC offset, kept as UTC microseconds.
    Date, // A calendar date, yyyy-MM-dd.
}

/// <summary>The sign a number must have.</summary>
internal enum NumberRule
{
    Any, // Any value.
    Positive, // Greater than 0.
    NotNegative, // 0 or more.
    Fraction, // Between 0 and 1.
}

/// <summary>What each <see cref="NumberRule"/> says of a value.</summary>
internal static class NumberRules
{
    /// <summary>What is wrong with <paramref name="value"/> under <paramref name="rule"/>, or null.</summary>
    public static string? Problem(this NumberRule rule, decimal value) => rule switch
    {
        NumberRule.Positive when value <= 0m => "must be greater than 0",
        NumberRule.NotNegative when value < 0m => "must not be negative",
        NumberRule.Fraction when value is < 0m or > 1m => "must be between 0 and 1",
        _ => null,
    };
}

/// <summary>One field's value as read, before the record is built.</summary>
[StructLayout(LayoutKind.Auto)]
internal struct FieldSlot
{
    /// <summary>A string or string array.</summary>
    public object? Ref;

    /// <summary>A number.</summary>
    public decimal Number;

    /// <summary>An enumeration's index, an integer, a flag (0/1), a timestamp's ticks or a date's day number.</summary>
    public long Bits;

    /// <summary>A valid value was read (or a default applied).</summary>
    public bool Present;
}

/// <summary>The values of one JSON object being read, on the stack.</summary>
[InlineArray(MaxFields)]
internal struct FieldSlots
{
    /// <summary>Most fields an object of the contract has.</summary>
    public const int MaxFields = 16;

    private FieldSlot _slot;
}

/// <summary>
/// Reads the values of a valid object in the table's order, which is the order of the record's
/// constructor parameters (a test holds every table to its record): <c>new Fill(v.Text(), v.Text(), ...)</c>.
/// </summary>
internal ref struct FieldCursor(Span<FieldSlot> slots)
{
    private readonly Span<FieldSlot> _slots = slots;
    private int _next;

    public string Text() => (string)_slots[_next++].Ref!;

    public string? OptionalText() => (string?)_slots[_next++].Ref;

    public string[] List() => (string[]?)_slots[_next++].Ref ?? [];

    public decimal Number() => _slots[_next++].Number;

    public decimal? OptionalNumber() => _slots[_next] is { Present: true } s ? Advance(s.Number) : Skip<decimal>();

    public int Integer() => (int)_slots[_next++].Bits;

    public bool Flag() => _slots[_next++].Bits != 0;

    public TEnum Enum<TEnum>()
        where TEnum : struct, Enum => Unsafe.BitCast<int, TEnum>((int)_slots[_next++].Bits);

    public TEnum? OptionalEnum<TEnum>()
        where TEnum : struct, Enum => _slots[_next] is { Present: true } s ? Advance(Unsafe.BitCast<int, TEnum>((int)s.Bits)) : Skip<TEnum>();

    public DateTime Time() => new(_slots[_next++].Bits, DateTimeKind.Utc);

    public DateOnly Date() => DateOnly.FromDayNumber((int)_slots[_next++].Bits);

    private T? Advance<T>(T value)
        where T : struct
    {
        _next++;
        return value;
    }

    private T? Skip<T>()
        where T : struct
    {
        _next++;
        return null;
    }
}

/// <summary>
/// One field of a contract object: its wire name, how it is read and checked, and how the record's
/// value is written. The wire name is written here and nowhere else in the code.
/// </summary>
/// <typeparam name="T">The record the field belongs to.</typeparam>
internal sealed class ContractField<T>
{
    private readonly JsonEncodedText _encodedName;

    public ContractField(string name, FieldKind kind, Delegate get)
    {
        Name = name;
        Utf8Name = Encoding.UTF8.GetBytes(name);
        _encodedName = JsonEncodedText.Encode(name);
        Kind = kind;
        Get = get;
    }

    public string Name { get; }

    public byte[] Utf8Name { get; }

    public FieldKind Kind { get; }

    /// <summary>The record's value: a <c>Func&lt;T, V&gt;</c> of the kind's type (an enumeration's index, -1 when absent).</summary>
    public Delegate Get { get; }

    /// <summary>Absent is a problem ("is required").</summary>
    public bool Required { get; init; }

    /// <summary>Longest string, or list item.</summary>
    public int MaxLength { get; init; }

    public NumberRule Rule { get; init; }

    /// <summary>An enumeration's wire names, by index.</summary>
    public string[] Names { get; init; } = [];

    /// <summary>The value of an optional enumeration, integer or flag when absent.</summary>
    public long? Default { get; init; }

    /// <summary>A string's (or each list item's) own rule: the problem, or null.</summary>
    public Func<string, string?>? Validate { get; init; }

    /// <summary>An integer's range, and the problem when outside it.</summary>
    public (int Min, int Max, string Message)? Range { get; init; }

    /// <summary>Reads the current value token into <paramref name="s"/>, reporting a wrong type or value.</summary>
    public void Read(ref Utf8JsonReader r, ParseContext c, string parent, ref FieldSlot s)
    {
        s = default;
        switch (Kind)
        {
            case FieldKind.Id:
            case FieldKind.Symbol:
                var text = Kind == FieldKind.Id ? Fields.Id(ref r, c, parent, Name, MaxLength) : Fields.Symbol(ref r, c, parent, Name, MaxLength);
                if (text is not null && Validate?.Invoke(text) is { } why)
                {
                    c.Fail(parent, Name, why);
                    text = null;
                }

                s.Ref = text;
                s.Present = text is not null;
                break;
            case FieldKind.SymbolList:
                var items = Fields.SymbolArray(ref r, c, parent, Name, MaxLength);
                for (var i = 0; Validate is not null && items is not null && i < items.Length; i++)
                {
                    if (Validate(items[i]) is { } itemWhy)
                    {
                        c.Fail(parent, $"{Name}[{i}]", itemWhy);
                    }
                }

                s.Ref = items;
                s.Present = items is not null;
                break;
            case FieldKind.Number:
                var number = Fields.Decimal(ref r, c, parent, Name);
                (s.Present, s.Number) = (number.HasValue, number.GetValueOrDefault());
                break;
            case FieldKind.Integer:
                var integer = Fields.Int(ref r, c, parent, Name);
                (s.Present, s.Bits) = (integer.HasValue, integer.GetValueOrDefault());
                break;
            case FieldKind.Flag:
                var flag = Fields.Bool(ref r, c, parent, Name);
                (s.Present, s.Bits) = (flag.HasValue, flag == true ? 1 : 0);
                break;
            case FieldKind.Enum:
                s.Bits = Fields.Enum(ref r, c, parent, Name, Names);
                s.Present = s.Bits >= 0;
                break;
            case FieldKind.Timestamp:
                var time = Fields.Timestamp(ref r, c, parent, Name);
                (s.Present, s.Bits) = (time.HasValue, time.GetValueOrDefault().Ticks);
                break;
            case FieldKind.Date:
                var date = Fields.Date(ref r, c, parent, Name);
                (s.Present, s.Bits) = (date.HasValue, date.GetValueOrDefault().DayNumber);
                break;
        }
    }

    /// <summary>After the object is read: reports a missing required field or a value out of range, or applies the default.</summary>
    public void Check(ParseContext c, string parent, ref FieldSlot s)
    {
        if (!s.Present)
        {
            if (Required)
            {
                c.Required(parent, Name);
            }
            else if (Default is { } value)
            {
                s.Bits = value;
            }

            return;
        }

        if (Kind == FieldKind.Number && Rule.Problem(s.Number) is { } numberWhy)
        {
            c.Fail(parent, Name, numberWhy);
        }
        else if (Range is { } range && (s.Bits < range.Min || s.Bits > range.Max))
        {
            c.Fail(parent, Name, range.Message);
        }
    }

    /// <summary>Writes the record's value; an absent optional value is omitted.</summary>
    public void Write(Utf8JsonWriter w, T record)
    {
        switch (Kind)
        {
            case FieldKind.Id:
            case FieldKind.Symbol:
                if (((Func<T, string?>)Get)(record) is { } text)
                {
                    w.WriteString(_encodedName, text);
                }

                break;
            case FieldKind.SymbolList:
                w.WriteStartArray(_encodedName);
                foreach (var item in ((Func<T, string[]>)Get)(record))
                {
                    w.WriteStringValue(item);
                }

                w.WriteEndArray();
                break;
            case FieldKind.Number:
                if (((Func<T, decimal?>)Get)(record) is { } number)
                {
                    w.WriteNumber(_encodedName, number);
                }

                break;
            case FieldKind.Integer:
                w.WriteNumber(_encodedName, ((Func<T, int>)Get)(record));
                break;
            case FieldKind.Flag:
                w.WriteBoolean(_encodedName, ((Func<T, bool>)Get)(record));
                break;
            case FieldKind.Enum:
                if (((Func<T, int>)Get)(record) is >= 0 and var index)
                {
                    w.WriteString(_encodedName, Names[index]);
                }

                break;
            case FieldKind.Timestamp:
                Span<byte> time = stackalloc byte[Timestamps.WireLength];
                Timestamps.FormatUtf8(((Func<T, DateTime>)Get)(record), time);
                w.WriteString(_encodedName, time);
                break;
            case FieldKind.Date:
                Span<byte> date = stackalloc byte[10];
                ((Func<T, DateOnly>)Get)(record).TryFormat(date, out _, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
                w.WriteString(_encodedName, date);
                break;
        }
    }
}
