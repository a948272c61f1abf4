using PDiff.Studies;
using Xunit;

namespace PDiff.Tests.Studies;

/// <summary>The one loop over pipeline seeds: its checks, its order and progress lines, and what it frees when a seed fails.</summary>
public class SeedRunnerTests
{
    sealed class Tracked(int seed) : IDisposable
    {
        public int Seed { get; } = seed;
        public int Disposals { get; private set; }
        public void Dispose() => Disposals++;
    }

    [Theory]
    [InlineData(new int[0], "at least one seed")]
    [InlineData(new[] { 0, 1, 0 }, "distinct and ≥ 0; got 0, 1, 0")]
    [InlineData(new[] { 2, -1 }, "distinct and ≥ 0; got 2, -1")]
    public void RefusesABadSeedListBeforeRunningAnySeed(int[] seeds, string message)
    {
        var calls = 0;
        var log = new StringWriter();
        var e = Assert.Throws<ArgumentException>(() => SeedRunner.Run(seeds, s => ++calls, log));
        Assert.Contains(message, e.Message);
        Assert.Equal("seeds", e.ParamName);
        Assert.Equal(0, calls);
        Assert.Equal("", log.ToString());
        Assert.Throws<ArgumentException>(() => SeedRunner.Check(seeds));
    }

    [Fact]
    public void RunsEverySeedInTheListsOrderWithAProgressLineBeforeEach()
    {
        var log = new StringWriter();
        var order = new List<int>();
        var results = SeedRunner.Run(new[] { 3, 0, 7 }, s =>
        {
            order.Add(s);
            log.WriteLine($"work {s}");
            return 10 * s;
        }, log);
        Assert.Equal(new[] { 30, 0, 70 }, results);
        Assert.Equal(new[] { 3, 0, 7 }, order);
        Assert.Equal(string.Join(Environment.NewLine, "=== pipeline seed 3 (1/3) ===", "work 3", "=== pipeline seed 0 (2/3) ===", "work 0",
            "=== pipeline seed 7 (3/3) ===", "work 7", ""), log.ToString());
    }

    [Fact]
    public void ALabelLeadsTheProgressLine()
    {
        var log = new StringWriter();
        SeedRunner.Run(new[] { 1 }, s => s, log, "mnist/mlp:8");
        Assert.Equal("=== mnist/mlp:8, pipeline seed 1 (1/1) ===" + Environment.NewLine, log.ToString());
        Assert.Equal("=== pipeline seed 4 (2/5) ===", SeedRunner.ProgressLine(4, 1, 5));
    }

    [Fact]
    public void AFailingSeedDisposesWhatTheEarlierSeedsReturnedAndStopsThere()
    {
        var made = new List<Tracked>();
        var ran = new List<int>();
        var e = Assert.Throws<InvalidOperationException>(() => SeedRunner.Run(new[] { 0, 1, 2, 3 }, s =>
        {
            ran.Add(s);
            if (s == 2) throw new InvalidOperationException("seed 2 failed");
            var t = new Tracked(s);
            made.Add(t);
            return t;
        }));
        Assert.Equal("seed 2 failed", e.Message);
        Assert.Equal(new[] { 0, 1, 2 }, ran);                       // seed 3 never runs
        Assert.Equal(new[] { 1, 1 }, made.Select(t => t.Disposals));
    }

    [Fact]
    public void ResultsThatAreNotDisposableAreLeftAlone()
    {
        var e = Assert.Throws<InvalidOperationException>(() => SeedRunner.Run<string>(new[] { 0, 1 }, s => s == 0 ? "seed 0" : throw new InvalidOperationException("no")));
        Assert.Equal("no", e.Message);
    }

    [Fact]
    public void TheSummaryGetsEverySeedsResultAndItsFailureDisposesThemAll()
    {
        var kept = SeedRunner.Run(new[] { 0, 1 }, s => new Tracked(s), results => results);
        Assert.Equal(new[] { 0, 1 }, kept.Select(t => t.Seed));
        Assert.All(kept, t => Assert.Equal(0, t.Disposals));       // success: the caller owns them

        var made = new List<Tracked>();
        Assert.Throws<IOException>(() => SeedRunner.Run<Tracked, int>(new[] { 5, 6 }, s =>
        {
            var t = new Tracked(s);
            made.Add(t);
            return t;
        }, results => throw new IOException("summary failed")));
        Assert.Equal(new[] { 1, 1 }, made.Select(t => t.Disposals));
    }
}
