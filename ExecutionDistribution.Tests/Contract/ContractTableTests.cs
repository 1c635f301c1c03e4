using System.Reflection;
using System.Text.RegularExpressions;
using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Tests.Contract;

/// <summary>
/// The contract's tables name each field once: each table follows its record's constructor (the
/// order its values are built in), and docs/contract.md describes every field and wire name the
/// tables know.
/// </summary>
[Category("Unit")]
public sealed partial class ContractTableTests
{
    private static IEnumerable<ContractTable> Tables() => [ContractTables.Routing, ContractTables.Metadata, .. ContractTables.Payloads];

    private static IEnumerable<string> TableNames() => ["routing", "metadata", .. WireNames.DataTypes];

    private static ContractTable Table(string name) => name switch
    {
        "routing" => ContractTables.Routing,
        "metadata" => ContractTables.Metadata,
        _ => ContractTables.Payloads[Array.IndexOf(WireNames.DataTypes, name)],
    };

    [TestCaseSource(nameof(TableNames))]
    public void A_table_lists_its_records_constructor_parameters_in_order_with_matching_types(string name)
    {
        var table = Table(name);
        var parameters = table.RecordType.GetConstructors().Single().GetParameters();
        var fields = table.Describe().ToList();
        var nullability = new NullabilityInfoContext();

        Assert.That(fields.Select(f => f.Name), Is.EqualTo(parameters.Select(p => SnakeCase(p.Name!))), table.RecordType.Name);
        for (var i = 0; i < fields.Count; i++)
        {
            var (field, kind, required) = fields[i];
            var type = Nullable.GetUnderlyingType(parameters[i].ParameterType) ?? parameters[i].ParameterType;
            var nullable = nullability.Create(parameters[i]).WriteState == NullabilityState.Nullable;
            Assert.That(KindOf(type), Does.Contain(kind), $"{table.RecordType.Name}.{field}: {type.Name}");
            Assert.That(required && nullable, Is.False, $"{table.RecordType.Name}.{field}: a required field is not nullable in the record");
        }
    }

    [TestCaseSource(nameof(TableNames))]
    public void The_contract_document_names_every_field_of_a_table(string name)
    {
        var table = Table(name);
        var doc = File.ReadAllText(ContractDocumentTests.FindRepositoryFile("docs/contract.md"));
        var section = table == ContractTables.Routing ? Between(doc, "`routing` (`distribution`):", "`metadata`:")
            : table == ContractTables.Metadata ? Between(doc, "`metadata`:", "Unknown properties")
            : Between(doc, $"### {name}\n", "\n### ", "\n## ");

        Assert.That(table.Describe().Select(f => f.Name).Where(field => !section.Contains($"`{field}`", StringComparison.Ordinal)), Is.Empty);
    }

    [Test]
    public void The_contract_document_lists_every_wire_name_of_every_enumeration()
    {
        var doc = File.ReadAllText(ContractDocumentTests.FindRepositoryFile("docs/contract.md"));
        var enums = Tables().SelectMany(t => t.RecordType.GetConstructors().Single().GetParameters())
            .Select(p => Nullable.GetUnderlyingType(p.ParameterType) ?? p.ParameterType).Where(t => t.IsEnum).Append(typeof(ExecutionDataType)).Distinct().ToList();
        var names = enums.SelectMany(t => (string[])typeof(WireNames).GetMethod(nameof(WireNames.Of))!.MakeGenericMethod(t).Invoke(null, null)!);

        Assert.That(enums, Has.Count.GreaterThanOrEqualTo(12));
        Assert.That(names.Where(name => !doc.Contains($"`{name}`", StringComparison.Ordinal)), Is.Empty);
    }

    private static FieldKind[] KindOf(Type type) =>
        type == typeof(string) ? [FieldKind.Id, FieldKind.Symbol]
        : type == typeof(string[]) ? [FieldKind.SymbolList]
        : type == typeof(decimal) ? [FieldKind.Number]
        : type == typeof(int) ? [FieldKind.Integer]
        : type == typeof(bool) ? [FieldKind.Flag]
        : type == typeof(DateTime) ? [FieldKind.Timestamp]
        : type == typeof(DateOnly) ? [FieldKind.Date]
        : type.IsEnum ? [FieldKind.Enum]
        : [];

    private static string SnakeCase(string name) => UpperAfterLower().Replace(name, "$1_$2").ToLowerInvariant();

    private static string Between(string text, string start, params string[] ends)
    {
        var from = text.IndexOf(start, StringComparison.Ordinal);
        Assert.That(from, Is.GreaterThanOrEqualTo(0), start);
        var to = ends.Select(e => text.IndexOf(e, from + start.Length, StringComparison.Ordinal)).Where(i => i > 0).DefaultIfEmpty(text.Length).Min();
        return text[from..to];
    }

    [GeneratedRegex("([a-z0-9])([A-Z])")]
    private static partial Regex UpperAfterLower();
}
