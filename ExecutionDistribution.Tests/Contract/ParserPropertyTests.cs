using System.Text;
using CsCheck;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Contract;

/// <summary>
/// The contract parser, fed the spec's fill example with one field at any depth made hostile
/// (InputGen): it never throws, and an event it refuses is refused with the field that was changed
/// named (or the whole document, for text that is not text). A fixed seed; EXECDIST_FUZZ_CASES runs more.
/// </summary>
[Category("Unit")]
public sealed class ParserPropertyTests
{
    [Test]
    public void A_document_changed_in_one_field_parses_or_is_refused_naming_that_field()
    {
        var valid = InputGen.Execution("prop-valid").Valid;
        Assert.That(ExecutionEventParser.Parse(Encoding.UTF8.GetBytes(valid)).IsValid, Is.True, "the unchanged document is valid");

        var refused = 0;
        foreach (var (json, path) in InputGen.Draw(InputGen.Execution("prop").MutatedAt, InputGen.Cases(5_000), seed: 20261207))
        {
            var result = ExecutionEventParser.Parse(Encoding.UTF8.GetBytes(json));
            if (result.IsValid)
            {
                continue;
            }

            refused++;
            Assert.That(result.Problems, Is.Not.Empty, json);
            Assert.That(result.Problems.Select(p => p.Message), Has.All.Not.Empty, json);
            // The problem is at the changed field, under it, at the object holding it, or the document as a whole (an
            // escaped lone surrogate is no text at all). Another data_type makes the payload another type's: the
            // problems are then the payload's fields.
            Assert.That(result.Problems.Any(p => p.Path.Length == 0 || Within(p.Path, path) || Within(path, p.Path)
                || (path == "data_type" && p.Path.StartsWith("data.", StringComparison.Ordinal))), Is.True,
                () => $"{path} changed: {json}\n problems: {string.Join("; ", result.Problems)}");
        }

        Assert.That(refused, Is.GreaterThan(InputGen.Cases(5_000) / 4), "most changes are refused, so the property checked something");
    }

    // True when `path` is `outer` or a field under it (data.quantity under data; data[0] under data), not data_type under data.
    private static bool Within(string path, string outer) =>
        path == outer || (path.StartsWith(outer, StringComparison.Ordinal) && path.Length > outer.Length && path[outer.Length] is '.' or '[');
}
