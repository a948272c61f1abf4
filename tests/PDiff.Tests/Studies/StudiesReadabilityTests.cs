using PDiff.Tests.Architecture;
using PDiff.Tests.TorchFixes;
using Xunit;

namespace PDiff.Tests.Studies;

/// <summary>
/// The studies (notebooks/Studies) and the CLI (tools/pdiff) read as the library does: no member past
/// <see cref="MethodLengthTests.Limit"/> lines and no comment that names a tracker issue (the same rules and counter
/// as <see cref="MethodLengthTests"/>, whose synthetic cases check the counter itself).
/// </summary>
public class StudiesReadabilityTests
{
    static IEnumerable<KeyValuePair<string, string>> Sources() => ScalarLint.SourcesUnder("notebooks/Studies", "tools/pdiff");

    [Fact]
    public void TheSourcesAreFound()
    {
        var paths = Sources().Select(kv => kv.Key).ToList();
        Assert.Contains("notebooks/Studies/Pipeline/SeedRunner.cs", paths);
        Assert.Contains("tools/pdiff/Program.cs", paths);
        Assert.DoesNotContain(paths, p => p.Contains("/obj/", StringComparison.Ordinal) || p.Contains("/bin/", StringComparison.Ordinal));
    }

    [Fact]
    public void NoMemberIsLongerThanTheLimit()
    {
        var found = MethodLengthTests.LongMembers(Sources(), MethodLengthTests.Limit);
        Assert.True(found.Count == 0, $"members longer than {MethodLengthTests.Limit} lines (split them into named steps):\n" + string.Join("\n", found));
    }

    [Fact]
    public void NoCommentNamesATrackerIssue()
    {
        var found = MethodLengthTests.TrackerMentions(Sources());
        Assert.True(found.Count == 0, "comments that name a tracker issue (say the reason in words instead):\n" + string.Join("\n", found));
    }
}
