using System.Text;
using System.Text.RegularExpressions;
using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Tests.Contract;

/// <summary>docs/contract.md stays true: every JSON example in it is a valid event.</summary>
[Category("Unit")]
public sealed partial class ContractDocumentTests
{
    [Test]
    public void Every_json_example_in_the_contract_document_parses_as_a_valid_event()
    {
        var doc = File.ReadAllText(FindRepositoryFile("docs/contract.md"));
        var examples = JsonBlock().Matches(doc).Select(m => m.Groups[1].Value).ToList();

        Assert.That(examples, Has.Count.GreaterThanOrEqualTo(7), "one example per data type at least");
        var types = new HashSet<ExecutionDataType>();
        foreach (var example in examples)
        {
            var result = ExecutionEventParser.Parse(Encoding.UTF8.GetBytes(example));
            Assert.That(result.Problems, Is.Empty, example);
            types.Add(result.Event!.DataType);
        }

        Assert.That(types, Has.Count.EqualTo(6), "every data type has an example");
    }

    internal static string FindRepositoryFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException(relative);
    }

    [GeneratedRegex("```json\\n(.*?)\\n```", RegexOptions.Singleline)]
    private static partial Regex JsonBlock();
}
