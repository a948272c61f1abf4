using PDiff.Data;
using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Studies;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Data;

/// <summary>The statistics module against values worked out by hand (each derivation in a comment).</summary>
public class StatisticsTests
{
    static readonly double[] OneTwoFour = { 1, 2, 4 };

    [Fact]
    public void MeanAndStandardDeviationsOfOneTwoFour()
    {
        // mean = (1 + 2 + 4)/3 = 7/3; deviations −4/3, −1/3, 5/3; Σ(v − m)² = (16 + 1 + 25)/9 = 42/9 = 14/3.
        Assert.Equal(7.0 / 3, Statistics.Mean(OneTwoFour), 1e-12);
        // sample: (14/3)/(3 − 1) = 7/3, std √(7/3) = 1.5275252…
        Assert.Equal(Math.Sqrt(7.0 / 3), Statistics.SampleStd(OneTwoFour), 1e-12);
        Assert.Equal(1.5275252, Statistics.SampleStd(OneTwoFour), 1e-7);
        // population: (14/3)/3 = 14/9, std √14/3 = 1.2472191…
        Assert.Equal(Math.Sqrt(14.0 / 9), Statistics.PopulationStd(OneTwoFour), 1e-12);
        Assert.Equal(1.2472191, Statistics.PopulationStd(OneTwoFour), 1e-7);
    }

    [Fact]
    public void AGivenMeanIsTheCentreOfTheSpread()
    {
        // Around 2 instead of 7/3: Σ(v − 2)² = 1 + 0 + 4 = 5; sample 5/2, population 5/3.
        Assert.Equal(Math.Sqrt(2.5), Statistics.SampleStd(OneTwoFour, 2), 1e-12);
        Assert.Equal(Math.Sqrt(5.0 / 3), Statistics.PopulationStd(OneTwoFour, 2), 1e-12);
    }

    [Fact]
    public void OneValueHasNoSampleSpreadButAZeroPopulationSpread()
    {
        Assert.True(double.IsNaN(Statistics.SampleStd(new[] { 0.3 })));
        Assert.Equal(0.0, Statistics.PopulationStd(new[] { 0.3 }));
        Assert.Equal(0.3, Statistics.Mean(new[] { 0.3 }));
    }

    [Theory]
    [InlineData(new[] { 3.0, 1.0, 2.0 }, 2.0)]               // odd: sorted 1, 2, 3 → the middle one
    [InlineData(new[] { 4.0, 1.0, 3.0, 2.0 }, 2.5)]          // even: sorted 1, 2, 3, 4 → (2 + 3)/2, not the lower 2
    [InlineData(new[] { 5.0 }, 5.0)]
    [InlineData(new[] { -1.0, 7.0 }, 3.0)]                   // (−1 + 7)/2
    [InlineData(new[] { 0.9, 0.1, 0.8, 0.8, 0.2 }, 0.8)]     // sorted 0.1, 0.2, 0.8, 0.8, 0.9 → a repeated middle
    public void MedianOfOddAndEvenCounts(double[] values, double expected) =>
        Assert.Equal(expected, Statistics.Median(values), 1e-12);

    [Fact]
    public void MedianLeavesItsInputInOrder()
    {
        var values = new[] { 3.0, 1.0, 2.0 };
        Statistics.Median(values);
        Assert.Equal(new[] { 3.0, 1.0, 2.0 }, values);
    }

    [Fact]
    public void PairedDifferencesAreTakenSeedBySeed()
    {
        // {3, 5, 10} − {1, 2, 4} = {2, 3, 6}, in the seeds' order.
        Assert.Equal(new[] { 2.0, 3.0, 6.0 }, Statistics.PairedDifferences(new[] { 3.0, 5.0, 10.0 }, OneTwoFour));
        var e = Assert.Throws<ArgumentException>(() => Statistics.PairedDifferences(new[] { 1.0, 2.0 }, OneTwoFour, "p-diff − originals"));
        Assert.Contains("p-diff − originals", e.Message);
        Assert.Contains("2 values against 3", e.Message);
    }

    [Theory]
    // df = 2 has the closed form t = (2p − 1)/√(2p(1 − p)): p = 0.975 gives 0.95/√0.04875 = 4.302653 (printed tables: 4.303).
    [InlineData(0.975, 2, 4.302653)]
    // df = 1 is Cauchy, t = tan(π(p − ½)): tan(0.475π) = 12.706205.
    [InlineData(0.975, 1, 12.706205)]
    // printed tables: t(0.975, 4) = 2.776445, t(0.95, 10) = 1.812461, t(0.975, 30) = 2.042272.
    [InlineData(0.975, 4, 2.776445)]
    [InlineData(0.95, 10, 1.812461)]
    [InlineData(0.975, 30, 2.042272)]
    // the median of a symmetric distribution is 0; the lower tail mirrors the upper one.
    [InlineData(0.5, 3, 0.0)]
    [InlineData(0.025, 2, -4.302653)]
    public void StudentQuantilesMatchTheTables(double p, int df, double expected) =>
        Assert.Equal(expected, Statistics.TQuantile(p, df), 1e-6);

    [Fact]
    public void MeanIntervalOfThreeValuesByHand()
    {
        // {0.1, 0.3, 0.2}: mean 0.2; deviations −0.1, 0.1, 0; Σ = 0.02; s² = 0.02/2 = 0.01, s = 0.1;
        // s/√3 = 0.0577350; half-width t(0.975, 2)·s/√3 = 4.302653 × 0.0577350 = 0.248414 → [−0.048414, 0.448414].
        var values = new[] { 0.1, 0.3, 0.2 };
        var i = Statistics.MeanInterval(values)!.Value;
        Assert.Equal(-0.048414, i.Low, 1e-6);
        Assert.Equal(0.448414, i.High, 1e-6);
        Assert.Equal(0.95, i.Level);
        Assert.Equal(0.248414, Statistics.MeanHalfWidth(values), 1e-6);
        Assert.Equal(DifferenceVerdict.Indistinguishable, i.Verdict);
        // at 90 %: t(0.95, 2) = 0.9/√(2·0.95·0.05) = 0.9/√0.095 = 2.919986; half 2.919986 × 0.0577350 = 0.168586.
        var ninety = Statistics.MeanInterval(values, 0.9)!.Value;
        Assert.Equal(0.2 - 0.168586, ninety.Low, 1e-6);
        Assert.Equal(0.2 + 0.168586, ninety.High, 1e-6);
    }

    [Fact]
    public void PredictionIntervalByHand()
    {
        // {0.1, 0.3, 0.2} (mean 0.2, s 0.1, n 3), one new value: half = t·s·√(1/3 + 1) = 4.302653 × 0.1 × 1.1547005 = 0.496828,
        // twice the confidence half-width (√(4/3)/√(1/3) = 2) → [−0.296828, 0.696828].
        var values = new[] { 0.1, 0.3, 0.2 };
        var one = Statistics.PredictionInterval(values)!.Value;
        Assert.Equal(-0.296828, one.Low, 1e-6);
        Assert.Equal(0.696828, one.High, 1e-6);
        // {1, 2, 4}, the mean of two new values: s = √(7/3), √(1/3 + 1/2) = √(5/6); s·√(5/6) = √(35/18) = 1.3944334;
        // half = 4.302653 × 1.3944334 = 5.999763 around 7/3 = 2.333333 → [−3.666429, 8.333096].
        var two = Statistics.PredictionInterval(OneTwoFour, newValues: 2)!.Value;
        Assert.Equal(-3.666429, two.Low, 1e-5);
        Assert.Equal(8.333096, two.High, 1e-5);
    }

    [Fact]
    public void FewerThanTwoValuesGiveNoInterval()
    {
        Assert.Null(Statistics.MeanInterval(new[] { 0.5 }));
        Assert.Null(Statistics.PredictionInterval(new[] { 0.5 }));
        Assert.Null(Statistics.PredictionInterval(OneTwoFour, newValues: 0));
        Assert.True(double.IsNaN(Statistics.MeanHalfWidth(new[] { 0.5 })));
    }

    [Theory]
    [InlineData(0.1, 0.5, DifferenceVerdict.Higher)]               // wholly above 0
    [InlineData(-0.5, -0.1, DifferenceVerdict.Lower)]              // wholly below 0
    [InlineData(-0.1, 0.2, DifferenceVerdict.Indistinguishable)]   // holds 0
    [InlineData(0.0, 0.3, DifferenceVerdict.Indistinguishable)]    // Low == 0 touches 0: not higher
    [InlineData(-0.3, 0.0, DifferenceVerdict.Indistinguishable)]   // High == 0 touches 0: not lower
    public void VerdictFollowsTheSignOfTheInterval(double low, double high, DifferenceVerdict expected) =>
        Assert.Equal(expected, new Interval(low, high, 0.95).Verdict);

    [Fact]
    public void ContainsIncludesTheEnds()
    {
        var i = new Interval(-1, 2, 0.95);
        Assert.True(i.Contains(-1));
        Assert.True(i.Contains(2));
        Assert.True(i.Contains(0.5));
        Assert.False(i.Contains(2.0000001));
        Assert.False(i.Contains(double.NaN));
    }

    [Fact]
    public void NoValuesAreRefused()
    {
        var none = Array.Empty<double>();
        Assert.Throws<ArgumentException>(() => Statistics.Mean(none));
        Assert.Throws<ArgumentException>(() => Statistics.SampleStd(none));
        Assert.Throws<ArgumentException>(() => Statistics.PopulationStd(none));
        Assert.Throws<ArgumentException>(() => Statistics.PopulationStd(none, 0));
        Assert.Throws<ArgumentException>(() => Statistics.Median(none));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(-0.5)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void LevelsOutsideZeroOneAreRefused(double level)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Statistics.MeanInterval(OneTwoFour, level));
        Assert.Throws<ArgumentOutOfRangeException>(() => Statistics.PredictionInterval(OneTwoFour, 1, level));
        Assert.Throws<ArgumentOutOfRangeException>(() => Statistics.MeanHalfWidth(OneTwoFour, level));
        // even where there are too few values for an interval: a wrong level is the caller's error either way
        Assert.Throws<ArgumentOutOfRangeException>(() => Statistics.MeanInterval(new[] { 1.0 }, level));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void LessThanOneDegreeOfFreedomIsRefused(int df)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Statistics.TQuantile(0.975, df));
        Assert.Equal("df", e.ParamName);
    }
}

/// <summary>
/// The bits promise the refactor relies on: every caller that used to write the formula by hand gets, from the module,
/// the very same doubles (same operations, same order of summation).
/// </summary>
public class StatisticsBitsTests
{
    /// <summary>A few hundred accuracy-like values and a few of other scales, from a fixed seed.</summary>
    static double[] RandomValues(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(i => i % 7 == 0 ? 1e3 * (random.NextDouble() - 0.5) : 0.5 + 0.5 * random.NextDouble()).ToArray();
    }

    static double Formula(IReadOnlyList<double> values, double divisor)
    {
        var mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / divisor);
    }

    static void SameBits(double expected, double actual) =>
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected), BitConverter.DoubleToInt64Bits(actual));

    public static TheoryData<int, int> Sizes => new() { { 2, 1 }, { 3, 2 }, { 17, 3 }, { 300, 4 }, { 301, 5 } };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void StandardDeviationsAreTheHandWrittenFormula(int count, int seed)
    {
        var values = RandomValues(count, seed);
        SameBits(Formula(values, count - 1), Statistics.SampleStd(values));
        SameBits(Formula(values, count), Statistics.PopulationStd(values));
        SameBits(Formula(values, count - 1), Statistics.SampleStd(values.ToList()));     // a list sums as an array does
        SameBits(Formula(values, count), Statistics.PopulationStd(values.ToList()));
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void MeanIsTheLeftToRightSum(int count, int seed)
    {
        var values = RandomValues(count, seed);
        var sum = 0.0;
        foreach (var v in values) sum += v;
        SameBits(sum / count, Statistics.Mean(values));
        SameBits(values.Average(), Statistics.Mean(values));
        SameBits(values.Select(v => new { v }).Average(x => x.v), Statistics.Mean(values));        // the selector form callers had
    }

    [Fact]
    public void TheOrderOfSummationIsTheCallers()
    {
        // Summing a sorted copy may round differently; the module sums in the order it is given, so a caller that
        // summed a sorted copy (the zoo manifest) passes that copy and keeps its bits.
        var values = RandomValues(300, 6);
        var sorted = values.OrderBy(v => v).ToArray();
        SameBits(Formula(sorted, sorted.Length), Statistics.PopulationStd(sorted));
        SameBits(sorted.Average(), Statistics.Mean(sorted));
        var stats = AccuracyStats.Of(values);
        SameBits(sorted.Average(), stats.Mean);
        SameBits(Formula(sorted, sorted.Length), stats.Std);
    }

    [Fact]
    public void MedianOfAnEvenCountIsBothHandWrittenForms()
    {
        var values = RandomValues(300, 7);
        var s = values.OrderBy(v => v).ToArray();
        var n = s.Length;
        SameBits((s[n / 2 - 1] + s[n / 2]) / 2, Statistics.Median(values));
        SameBits(0.5 * (s[n / 2 - 1] + s[n / 2]), Statistics.Median(values));
    }

    [Fact]
    public void MeanIntervalIsTheHandWrittenHalfWidth()
    {
        var values = RandomValues(17, 8);
        var spread = SeedSpread.Of(values);
        var half = Statistics.TQuantile(0.975, values.Length - 1) * spread.Std / Math.Sqrt(values.Length);
        SameBits(half, Statistics.MeanHalfWidth(values));
        SameBits(half, BeyondReport.HalfWidth(spread));                      // the study's caller, once written by hand
        Assert.True(double.IsNaN(BeyondReport.HalfWidth(SeedSpread.Of(new[] { 0.5 }))));
        var i = Statistics.MeanInterval(values)!.Value;
        SameBits(spread.Mean - half, i.Low);
        SameBits(spread.Mean + half, i.High);
    }

    [Fact]
    public void CallersKeepTheirFormulas()
    {
        var values = RandomValues(301, 9);
        var sorted = values.OrderBy(v => v).ToArray();
        var summary = AccuracySummary.Of(values);          // population std over the values as given
        SameBits(values.Average(), summary.Mean);
        SameBits(Formula(values, values.Length), summary.Std);
        SameBits(sorted[150], summary.Median);
        var scaler = ConditionScaler.Fit(ConditionKind.ValAccuracy, values);
        SameBits(values.Average(), scaler.Mean);
        SameBits(Formula(values, values.Length), scaler.Std);
        var rows = values.Select((v, i) => new NoveltyRow("g", i, 0.5, v, 0.1, 0, 1.0, 0)).ToList();
        var group = Assert.Single(GroupNovelty.Summarise(rows));
        SameBits(rows.Average(r => r.TestAcc), group.TestMean);
        SameBits(Formula(values, values.Length - 1), group.TestStd);
        Assert.True(double.IsNaN(Assert.Single(GroupNovelty.Summarise(rows.Take(1))).TestStd));   // one model: NaN, as before
    }
}
