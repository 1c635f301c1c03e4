using ExecutionDistribution.Core;

namespace ExecutionDistribution.Tests.Core;

[Category("Unit")]
public sealed class TopicPatternTests
{
    // The syntax of docs/contract.md, as a table: pattern, key, matches?
    [TestCase("AAPL.fill.complete", "AAPL.fill.complete", true)]
    [TestCase("AAPL.fill.complete", "AAPL.fill.partial", false)]
    [TestCase("AAPL.fill.complete", "aapl.fill.complete", false, TestName = "Patterns are case-sensitive")]
    [TestCase("*.fill.*", "MSFT.fill.partial", true)]
    [TestCase("*.fill.*", "MSFT.fill", false, TestName = "Star needs exactly one segment")]
    [TestCase("*.fill.*", "MSFT.fill.partial.x", false)]
    [TestCase("*", "AAPL", true)]
    [TestCase("*", "AAPL.fill", false)]
    [TestCase("AAPL.#", "AAPL", true, TestName = "Hash matches zero segments")]
    [TestCase("AAPL.#", "AAPL.fill", true)]
    [TestCase("AAPL.#", "AAPL.fill.complete", true, TestName = "Hash matches deeper keys")]
    [TestCase("AAPL.#", "MSFT.fill.complete", false)]
    [TestCase("#", "AAPL.fill.complete", true)]
    [TestCase("#.complete", "AAPL.fill.complete", true)]
    [TestCase("#.complete", "complete", true)]
    [TestCase("#.complete", "AAPL.fill.partial", false)]
    [TestCase("AAPL.#.complete", "AAPL.complete", true)]
    [TestCase("AAPL.#.complete", "AAPL.fill.x.complete", true)]
    [TestCase("AAPL.#.complete", "AAPL.fill.partial", false)]
    [TestCase("#.fill.#", "fill", true)]
    [TestCase("#.fill.#", "AAPL.fill.complete", true)]
    [TestCase("*.#", "AAPL", true)]
    [TestCase("*.*.#", "AAPL", false)]
    [TestCase("BRK-B.fill.*", "BRK-B.fill.partial", true)]
    public void Routing_key_patterns_match_as_documented(string pattern, string key, bool expected)
    {
        Assert.That(TopicPattern.TryParse(pattern, '.', out var parsed, out var reason), Is.True, reason);

        Assert.That(parsed!.Matches(key), Is.EqualTo(expected), "direct evaluation");
        var trie = new PatternTrie<string>('.');
        trie.Add(parsed, pattern);
        var hits = new HashSet<string>();
        trie.Match(key, hits);
        Assert.That(hits.Count == 1, Is.EqualTo(expected), "trie used by the routing index");
    }

    [TestCase("execution/fills/processed", "execution/fills/processed", true)]
    [TestCase("execution/*/processed", "execution/fills/processed", true)]
    [TestCase("execution/#", "execution/orders/updates", true)]
    [TestCase("execution/fills/#", "execution/orders/updates", false)]
    public void Topic_patterns_use_slash_segments(string pattern, string topic, bool expected)
    {
        Assert.That(TopicPattern.TryParse(pattern, '/', out var parsed, out _), Is.True);

        Assert.That(parsed!.Matches(topic), Is.EqualTo(expected));
    }

    [TestCase("", "must not be empty")]
    [TestCase("AAPL..fill", "empty segment")]
    [TestCase(".AAPL", "empty segment")]
    [TestCase("AAPL.", "empty segment")]
    [TestCase("AA*PL.fill", "stand alone")]
    [TestCase("AAPL.#x", "stand alone")]
    public void Malformed_patterns_are_refused_with_a_reason(string pattern, string reasonFragment)
    {
        Assert.That(TopicPattern.TryParse(pattern, '.', out _, out var reason), Is.False);
        Assert.That(reason, Does.Contain(reasonFragment));
    }
}
