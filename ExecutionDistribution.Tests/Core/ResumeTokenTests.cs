using ExecutionDistribution.Core;

namespace ExecutionDistribution.Tests.Core;

[Category("Unit")]
public sealed class ResumeTokenTests
{
    [Test]
    public void A_token_round_trips_through_its_text()
    {
        var token = new ResumeToken(Guid.NewGuid(), 123_456_789, 42);

        Assert.That(ResumeToken.TryDecode(token.Encode(), out var decoded, out _), Is.True);
        Assert.That(decoded, Is.EqualTo(token));
        Assert.That(token.Encode(), Has.Length.EqualTo(43).And.Match("^[A-Za-z0-9_-]+$"), "URL-safe, no padding");
    }

    [TestCase("")]
    [TestCase("not-a-token")]
    [TestCase("%%%%")]
    [TestCase("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public void Garbage_is_not_a_token(string text)
    {
        Assert.That(ResumeToken.TryDecode(text, out _, out var reason), Is.False);
        Assert.That(reason, Is.Not.Empty);
    }
}
