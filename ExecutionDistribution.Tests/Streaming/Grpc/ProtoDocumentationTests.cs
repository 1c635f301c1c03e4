using System.Text.RegularExpressions;
using ExecutionDistribution.Tests.Contract;

namespace ExecutionDistribution.Tests.Streaming.Grpc;

/// <summary>The gRPC API's .proto, which reflection serves to clients, says what every message, enum value and field is.</summary>
[Category("Unit")]
public sealed partial class ProtoDocumentationTests
{
    [Test]
    public void Every_message_enum_and_field_of_the_proto_carries_a_comment()
    {
        var lines = File.ReadAllLines(ContractDocumentTests.FindRepositoryFile("ExecutionDistribution/Streaming/Grpc/Protos/execution_stream.proto"));
        var undocumented = new List<string>();
        for (var i = 0; i < lines.Length; i++)
        {
            var commentedBefore = i > 0 && lines[i - 1].TrimStart().StartsWith("//", StringComparison.Ordinal);
            if (Declaration().IsMatch(lines[i]) && !commentedBefore)
            {
                undocumented.Add($"{i + 1}: {lines[i].Trim()}");
            }
            else if (Field().IsMatch(lines[i]) && !lines[i].Contains("//", StringComparison.Ordinal) && !commentedBefore)
            {
                undocumented.Add($"{i + 1}: {lines[i].Trim()}");
            }
        }

        Assert.That(lines.Count(l => Field().IsMatch(l)), Is.GreaterThan(80), "the fields were found");
        Assert.That(undocumented, Is.Empty);
    }

    [GeneratedRegex(@"^\s*(message|enum|service|rpc) \w+")]
    private static partial Regex Declaration();

    [GeneratedRegex(@"^\s*[\w.<>, ]*\w+ = \d+;")]
    private static partial Regex Field();
}
