using PDiff.Data;
using Xunit;

namespace PDiff.Tests.Data;

/// <summary>
/// The verdict rule's parts, with values worked out by hand: the paired t-test's p-value, Holm's adjustment of a family,
/// and the verdict itself (higher / lower / indistinguishable; one seed gives none).
/// </summary>
public class VerdictRuleTests
{
    [Fact]
    public void ThePValueOfOneTwoThreeIsTheClosedFormOfTWithTwoDegrees()
    {
        // mean 2, s = 1, n = 3: t = 2·√3 / 1 = 3.464102. With df = 2, F(t) = 1/2 + t / (2·√(2 + t²)), so
        // p = 2·(1 − F(t)) = 1 − t / √(2 + t²) = 1 − 3.464102 / √14 = 1 − 0.9258201 = 0.0741799.
        Assert.Equal(1 - 2 * Math.Sqrt(3) / Math.Sqrt(14), Statistics.PairedTTestP(new[] { 1.0, 2.0, 3.0 }), 12);
        // The sign of the mean does not matter: two-sided.
        Assert.Equal(Statistics.PairedTTestP(new[] { 1.0, 2.0, 3.0 }), Statistics.PairedTTestP(new[] { -1.0, -2.0, -3.0 }), 15);
    }

    [Fact]
    public void ThePValueIsBelowOneMinusTheLevelExactlyWhenTheIntervalExcludesZero()
    {
        // {1, 2, 3}: p = 0.0742. The 95 % interval 2 ± 4.302653/√3 = [−0.484, 4.484] holds 0; the 90 % interval
        // 2 ± 2.919986/√3 = [0.314, 3.686] does not.
        var v = new[] { 1.0, 2.0, 3.0 };
        Assert.True(Statistics.MeanInterval(v, 0.95)!.Value.Contains(0));
        Assert.False(Statistics.MeanInterval(v, 0.90)!.Value.Contains(0));
        var rng = new Random(20);
        for (var trial = 0; trial < 300; trial++)
        {
            var values = Enumerable.Range(0, 2 + trial % 5).Select(_ => rng.NextDouble() - 0.3).ToArray();
            var p = Statistics.PairedTTestP(values);
            if (Math.Abs(p - 0.05) < 1e-9) continue;
            Assert.Equal(p < 0.05, !Statistics.MeanInterval(values, 0.95)!.Value.Contains(0));
        }
    }

    [Fact]
    public void WithoutSpreadOrWithOneSeedThePValueSaysSo()
    {
        Assert.Equal(0, Statistics.PairedTTestP(new[] { 0.5, 0.5, 0.5 }));
        Assert.Equal(1, Statistics.PairedTTestP(new[] { 0.0, 0.0 }));
        Assert.True(double.IsNaN(Statistics.PairedTTestP(new[] { 0.5 })));
    }

    [Fact]
    public void HolmAdjustsInRankOrderAndReturnsTheGivenOrder()
    {
        // m = 4, sorted 0.005, 0.01, 0.03, 0.04: 4·0.005 = 0.02; 3·0.01 = 0.03; 2·0.03 = 0.06; 1·0.04 = 0.04 → max(0.06, 0.04) = 0.06.
        Assert.Equal(new[] { 0.03, 0.06, 0.06, 0.02 }, Statistics.HolmAdjusted(new[] { 0.01, 0.04, 0.03, 0.005 }), new Close(1e-15));
        // Capped at 1, and never smaller than an earlier rank's value: 2·0.6 → 1; 1·0.7 → max(1, 0.7) = 1.
        Assert.Equal(new[] { 1.0, 1.0 }, Statistics.HolmAdjusted(new[] { 0.6, 0.7 }));
        // One seed (NaN) stays NaN and is not counted: m = 2 for 0.02 and 0.04 → 0.04, max(0.04, 0.04).
        var withNaN = Statistics.HolmAdjusted(new[] { double.NaN, 0.02, 0.04 });
        Assert.True(double.IsNaN(withNaN[0]));
        Assert.Equal(new[] { 0.04, 0.04 }, withNaN[1..], new Close(1e-15));
        Assert.Empty(Statistics.HolmAdjusted(Array.Empty<double>()));
    }

    [Fact]
    public void HolmRefusesWhatIsNotAPValue()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Statistics.HolmAdjusted(new[] { 0.01, 1.5 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Statistics.HolmAdjusted(new[] { -0.1 }));
    }

    [Fact]
    public void TheVerdictIsHigherLowerOrIndistinguishableAndTheLevelItselfIsNotBelowIt()
    {
        Assert.Equal(DifferenceVerdict.Higher, Statistics.Verdict(0.3, 0.01));
        Assert.Equal(DifferenceVerdict.Lower, Statistics.Verdict(-0.3, 0.01));
        Assert.Equal(DifferenceVerdict.Indistinguishable, Statistics.Verdict(0.3, 0.2));
        Assert.Equal(DifferenceVerdict.Indistinguishable, Statistics.Verdict(0.3, 0.05));   // p = α is not below α
        Assert.Equal(DifferenceVerdict.Indistinguishable, Statistics.Verdict(0, 0.01));     // no sign to report
        Assert.Equal(DifferenceVerdict.OneSeed, Statistics.Verdict(0.3, double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => Statistics.Verdict(0.3, 0.01, alpha: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Statistics.Verdict(0.3, 0.01, alpha: 1));
    }

    [Fact]
    public void TheRuleOnRawPValuesAgreesWithTheIntervalsVerdict()
    {
        var rng = new Random(21);
        for (var trial = 0; trial < 300; trial++)
        {
            var d = Enumerable.Range(0, 3 + trial % 4).Select(_ => rng.NextDouble() - 0.4).ToArray();
            var p = Statistics.PairedTTestP(d);
            if (Math.Abs(p - 0.05) < 1e-9) continue;
            Assert.Equal(Statistics.MeanInterval(d)!.Value.Verdict, Statistics.Verdict(Statistics.Mean(d), p));
        }
    }

    sealed class Close(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= tolerance;
        public int GetHashCode(double v) => 0;
    }
}
