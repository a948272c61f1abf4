using PDiff.Data;
using PDiff.Evaluation;
using Xunit;

namespace PDiff.Tests.Evaluation;

/// <summary>
/// The verdict rule as notebooks use it: one sentence per verdict, a family's Holm correction beside the raw intervals,
/// and PASS/FAIL checks decided by the whole interval. Values worked by hand in the comments.
/// </summary>
public class ComparisonFamilyTests
{
    // {1, 2, 3} pt: mean 2, s = 1, 95 % interval 2 ± 4.302653/√3 = [−0.484, +4.484], p = 1 − 2√3/√14 = 0.0742.
    static readonly double[] Spans = { 0.01, 0.02, 0.03 };
    // {2, 3, 4} pt: mean 3, interval [+0.516, +5.484], p = 1 − 3√3/√29 = 0.0351.
    static readonly double[] Above = { 0.02, 0.03, 0.04 };

    static Comparison Of(string a, string b, double[] d) => new(a, b, PairedDifference.Of($"{a}-{b}", d, new double[d.Length]));

    [Fact]
    public void EachVerdictHasItsOneSentence()
    {
        Assert.Equal("p-diff is higher than originals: +3.00 pt [+0.52, +5.48] over 3 seeds (95 % interval)", Of("p-diff", "originals", Above).Sentence());
        Assert.Equal("p-diff is lower than originals: −3.00 pt [−5.48, −0.52] over 3 seeds (95 % interval)",
            Of("p-diff", "originals", Above.Select(x => -x).ToArray()).Sentence());
        Assert.Equal("p-diff is indistinguishable from originals: +2.00 pt [−0.48, +4.48] over 3 seeds (95 % interval)", Of("p-diff", "originals", Spans).Sentence());
        Assert.Equal("p-diff − originals: one seed, no verdict: +2.00 pt (one seed)", Of("p-diff", "originals", new[] { 0.02 }).Sentence());
    }

    [Fact]
    public void HolmCanTurnARawHigherIntoIndistinguishableAndSaysBoth()
    {
        // Sorted p: 0.0351, 0.0742 → Holm: 2 · 0.0351 = 0.0702, then max(0.0702, 0.0742) = 0.0742: neither below 0.05.
        var above = Of("A", "B", Above);
        var spans = Of("C", "D", Spans);
        var family = new ComparisonFamily("main", new[] { spans, above });
        Assert.Equal(DifferenceVerdict.Higher, above.Verdict);
        Assert.Equal(2 * (1 - 3 * Math.Sqrt(3) / Math.Sqrt(29)), family.HolmP(above), 12);
        Assert.Equal(1 - 2 * Math.Sqrt(3) / Math.Sqrt(14), family.HolmP(spans), 12);
        Assert.Equal(DifferenceVerdict.Indistinguishable, family.HolmVerdict(above));
        var lines = family.Sentences().ToList();
        Assert.StartsWith("main: 2 headline comparisons, read with Holm's correction at α = 0.05; no other interval", lines[0]);
        Assert.Equal("[headline] A is indistinguishable from B: +3.00 pt [+0.52, +5.48] over 3 seeds (95 % interval); p = 0.035, Holm-adjusted p = 0.070.", lines[2]);
        var table = family.ToDataFrame();
        Assert.Equal("higher", table["raw verdict"][1]);
        Assert.Equal("indistinguishable (Holm)", table["verdict"][1]);
    }

    [Fact]
    public void AFamilyOfOneIsTheRawRuleAndExploratoryRowsAreLabelled()
    {
        var above = Of("A", "B", Above);
        var family = new ComparisonFamily("one", new[] { above }, new[] { Of("C", "D", Spans) });
        Assert.Equal(DifferenceVerdict.Higher, family.HolmVerdict(above));
        Assert.Contains("1 more interval is exploratory", family.Statement());
        Assert.Equal("[exploratory] C is indistinguishable from D: +2.00 pt [−0.48, +4.48] over 3 seeds (95 % interval).", family.Sentences().Last());
        Assert.Throws<ArgumentException>(() => family.HolmP(family["C − D"]));
    }

    [Fact]
    public void OneComparisonIsReadByItsRole()
    {
        // Headline {Above, Spans}: Holm turns Above's raw "higher" into "indistinguishable" (p 0.035 → 0.070, as above);
        // the exploratory copy of Above keeps its raw "higher".
        var above = Of("A", "B", Above);
        var spans = Of("C", "D", Spans);
        var aside = Of("E", "F", Above);
        var family = new ComparisonFamily("main", new[] { spans, above }, new[] { aside });
        Assert.True(family.IsHeadline(above));
        Assert.False(family.IsHeadline(aside));
        Assert.Equal(DifferenceVerdict.Indistinguishable, family.Verdict(above));
        Assert.Equal(DifferenceVerdict.Higher, family.Verdict(aside));
        Assert.Equal("[headline] A is indistinguishable from B: +3.00 pt [+0.52, +5.48] over 3 seeds (95 % interval); p = 0.035, Holm-adjusted p = 0.070.", family.Sentence(above));
        Assert.Equal("[exploratory] E is higher than F: +3.00 pt [+0.52, +5.48] over 3 seeds (95 % interval).", family.Sentence(aside));
        Assert.Equal(family.Sentences().Skip(1), new[] { spans, above, aside }.Select(family.Sentence));
        Assert.Throws<ArgumentException>(() => family.Verdict(Of("G", "H", Above)));
        // +2 pt on every seed: no spread, p = 0, written "p < 0.001" (not "p = < 0.001").
        var sure = Of("G", "H", new[] { 0.02, 0.02, 0.02 });
        Assert.EndsWith("; p < 0.001, Holm-adjusted p < 0.001.", new ComparisonFamily("sure", new[] { sure }).Sentence(sure));
    }

    [Fact]
    public void AFamilyRefusesNoHeadlineAndAComparisonStatedTwice()
    {
        Assert.Throws<ArgumentException>(() => new ComparisonFamily("empty", Array.Empty<Comparison>()));
        Assert.Throws<ArgumentException>(() => new ComparisonFamily("twice", new[] { Of("A", "B", Above) }, new[] { Of("A", "B", Spans) }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ComparisonFamily("alpha", new[] { Of("A", "B", Above) }, alpha: 1));
    }

    [Fact]
    public void AnIntervalTouchingTheThresholdLeavesTheCheckUndecided()
    {
        var c = Of("p-diff best", "best original", Spans);
        var low = c.Difference.Low;
        // The shifted interval starts exactly at 0: "higher" needs it to lie above 0, so touching is not enough.
        Assert.Equal(0.0, c.Difference.Minus(low).Low);
        Assert.Equal(DifferenceVerdict.Indistinguishable, c.Difference.Minus(low).Verdict);
        Assert.Equal(CheckOutcome.Undecided, ThresholdCheck.AtLeast("check", c, low).Outcome);
        Assert.Equal(CheckOutcome.Pass, ThresholdCheck.AtLeast("check", c, low - 1e-9).Outcome);
        Assert.Equal(CheckOutcome.Fail, ThresholdCheck.AtLeast("check", c, c.Difference.High + 1e-9).Outcome);
        // The same on the other side: an interval ending exactly at 0 is not "lower".
        Assert.Equal(DifferenceVerdict.Indistinguishable, c.Difference.Minus(c.Difference.High).Verdict);
    }

    [Fact]
    public void AMeanInsideTheMarginDoesNotPassWhenItsIntervalReachesOut()
    {
        // [−0.48, +4.48] pt: inside ±5 pt passes, ±3 pt is undecided although the mean (+2) lies inside, and {10, 11, 12}
        // pt ([+8.5, +13.5]) lies wholly outside ±3 pt: fail.
        var c = Of("p-diff mean", "originals' mean", Spans);
        Assert.Equal(CheckOutcome.Pass, ThresholdCheck.Within("check 1", c, 0.05).Outcome);
        var undecided = ThresholdCheck.Within("check 1", c, 0.03);
        Assert.Equal(CheckOutcome.Undecided, undecided.Outcome);
        Assert.Equal("check 1 [UNDECIDED] p-diff mean − originals' mean: +2.00 pt [−0.48, +4.48] over 3 seeds; required within ±3.00 pt for the whole 95 % interval (the interval reaches across the threshold).",
            undecided.ToString());
        Assert.Equal(CheckOutcome.Fail, ThresholdCheck.Within("check 1", Of("a", "b", new[] { 0.10, 0.11, 0.12 }), 0.03).Outcome);
        Assert.Equal(CheckOutcome.Undecided, ThresholdCheck.Within("check 1", Of("a", "b", new[] { 0.001 }), 0.03).Outcome);
        Assert.Throws<ArgumentOutOfRangeException>(() => ThresholdCheck.Within("check 1", c, 0));
    }
}
