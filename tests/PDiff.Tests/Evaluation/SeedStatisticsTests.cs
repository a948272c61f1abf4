using PDiff.Data;
using PDiff.Evaluation;
using Xunit;

namespace PDiff.Tests.Evaluation;

public class SeedStatisticsTests
{
    [Theory]
    [InlineData(2, 4.303)]
    [InlineData(1, 12.706)]
    [InlineData(4, 2.776)]
    [InlineData(30, 2.042)]
    public void StudentQuantilesMatchTheTables(int df, double expected) =>
        Assert.Equal(expected, Statistics.TQuantile(0.975, df), 3);

    [Fact]
    public void SpreadIsMeanAndSampleStd()
    {
        var s = SeedSpread.Of(new[] { 0.86, 0.87, 0.88 });
        Assert.Equal(0.87, s.Mean, 12);
        Assert.Equal(0.01, s.Std, 12);
        Assert.Equal("87.00 ± 1.00", s.Format());
        var one = SeedSpread.Of(new[] { 0.5 });
        Assert.True(double.IsNaN(one.Std));
        Assert.Equal("50.00", one.Format());
        Assert.Null(one.PredictionInterval());
        Assert.Throws<ArgumentException>(() => SeedSpread.Of(Array.Empty<double>()));
    }

    [Fact]
    public void PredictionIntervalWidensWithTheNewSeedsNoise()
    {
        var s = SeedSpread.Of(new[] { 1.0, 2.0, 3.0 });          // mean 2, std 1, n 3
        var one = s.PredictionInterval(1)!.Value;
        Assert.Equal(2 - 4.3027 * Math.Sqrt(1.0 / 3 + 1), one.Low, 3);
        Assert.Equal(2 + 4.3027 * Math.Sqrt(1.0 / 3 + 1), one.High, 3);
        var three = s.PredictionInterval(3)!.Value;               // the mean of three new seeds varies less
        Assert.True(three.High - three.Low < one.High - one.Low);
    }

    [Fact]
    public void IntervalSpanningZeroIsIndistinguishable()
    {
        var d = PairedDifference.Of("x", new[] { 1.0, 2.0, 3.0 }, new[] { 0.0, 0.0, 0.0 });
        Assert.Equal(2, d.Mean, 12);
        Assert.Equal(1, d.Std, 12);
        var half = 4.3027 / Math.Sqrt(3);
        Assert.Equal(2 - half, d.Low, 3);
        Assert.Equal(2 + half, d.High, 3);
        Assert.Equal(DifferenceVerdict.Indistinguishable, d.Verdict);
        Assert.Equal("indistinguishable (95 % interval spans 0)", d.VerdictText);
        Assert.Contains("indistinguishable", d.Sentence("A − B"));
    }

    [Fact]
    public void ConsistentDifferencesAreHigherOrLower()
    {
        var up = PairedDifference.Of("up", new[] { 0.871, 0.872, 0.870 }, new[] { 0.861, 0.861, 0.861 });
        Assert.Equal(DifferenceVerdict.Higher, up.Verdict);
        Assert.True(up.Low > 0);
        Assert.Equal("+1.00 pt [+0.75, +1.25]", up.Format());
        var down = PairedDifference.Of("down", new[] { 0.861, 0.861, 0.861 }, new[] { 0.871, 0.872, 0.870 });
        Assert.Equal(DifferenceVerdict.Lower, down.Verdict);
        Assert.StartsWith("down: −1.00 pt [−1.25, −0.75] over 3 seeds (95 % interval): lower.", down.Sentence());
    }

    [Fact]
    public void OneSeedHasNoInterval()
    {
        var d = PairedDifference.Of("x", new[] { 0.9 }, new[] { 0.8 });
        Assert.Equal(DifferenceVerdict.OneSeed, d.Verdict);
        Assert.True(double.IsNaN(d.Low));
        Assert.Equal("x: +10.00 pt (one seed): one seed: no interval.", d.Sentence());
        Assert.Throws<ArgumentException>(() => PairedDifference.Of("y", new[] { 1.0 }, new[] { 1.0, 2.0 }));
    }
}
