using PDiff.Data;
using PDiff.Evaluation;
using PDiff.Studies;
using Xunit;

namespace PDiff.Tests.Studies;

/// <summary>Notebook 09's family: the calibration slope against 0 and each target's best on validation against the best original are headline.</summary>
public class ConditionalSummaryTests
{
    static readonly ConditionalPlan Plan = new(new[] { -1.0, 0, 1 }, 1, new[] { 0.0, 2 }, new[] { -1.0, 1 }, Models: 4, DdimSteps: 10);

    // Best on validation − best original, per target and seed: z −1 {+2, +3, +4} pt (p 0.0351), z 0 {+1, +2, +3} pt (p 0.0742),
    // z +1 {−1, +1, +3} pt (t = √3/2, p = 1 − t/√(2 + t²) = 0.478). The slope (obtained test per requested point) is {0.5, 0.6, 0.7} over the seeds.
    static readonly Dictionary<double, double[]> BestGain = new() { [-1] = new[] { 0.02, 0.03, 0.04 }, [0] = new[] { 0.01, 0.02, 0.03 }, [1] = new[] { -0.01, 0.01, 0.03 } };
    static readonly double[] Slopes = { 0.5, 0.6, 0.7 };

    static ConditionalSeedResult Seed(int s)
    {
        var zoo = new ConditionalZooRow(s, 10, 0.87, 0.884, 0.88, 0.005, 0.87, 0.875, 0.878, 0.86, 0.98);
        ConditionalSettingRow Row(double z, double w, string? name = null, double gain = 0)
        {
            var target = 0.88 + z * 0.005;
            var test = 0.87 + Slopes[s] * (target - 0.88);
            return new ConditionalSettingRow(s, name ?? ConditionalStudy.SettingName(z, w), z, target, w, 4, target, test, 0.001, test, test, 0.875 + gain, 0.9);
        }
        var rows = Plan.Settings().Select(x => Row(x.Z, x.W, gain: x.W == Plan.Guidance ? BestGain[x.Z][s] : 0)).ToList();
        rows.Add(Row(0, double.NaN, ConditionalStudy.Unconditional));
        return new ConditionalSeedResult(s, zoo, Array.Empty<ConditionalModelRow>(), rows, 0, 0, 0);
    }

    [Fact]
    public void TheSlopeAndTheBestPerTargetAreReadWithHolm()
    {
        var summary = ConditionalSummary.From(new[] { Seed(0), Seed(1), Seed(2) }, Plan);
        var f = summary.Family;
        Assert.Equal(new[] { "calibration slope − 0", "best on validation at z-1 w1 − the best original on validation",
            "best on validation at z0 w1 − the best original on validation", "best on validation at z+1 w1 − the best original on validation" }, f.Headline.Select(c => c.Label));

        // Slope {0.5, 0.6, 0.7}: t = 0.6 · √3 / 0.1, and with 2 degrees of freedom p = 1 − t / √(2 + t²) = 0.0091.
        var slope = summary.ComparisonNamed(ConditionalSummary.SlopeVsZero)!;
        var t = 0.6 * Math.Sqrt(3) / 0.1;
        Assert.Equal(1 - t / Math.Sqrt(2 + t * t), slope.Difference.P, 9);
        // Holm: 0.0091 · 4, then 0.0351 · 3 = 0.105 (its raw "higher" becomes indistinguishable), 0.0742 · 2, 0.478.
        Assert.Equal(4 * slope.Difference.P, f.HolmP(slope), 9);
        Assert.Equal(DifferenceVerdict.Higher, f.Verdict(slope));
        var best = summary.ComparisonNamed("z-1 w1: best on val − best original on val")!;
        Assert.Equal(DifferenceVerdict.Higher, best.Verdict);
        Assert.Equal(3 * (1 - 3 * Math.Sqrt(3) / Math.Sqrt(29)), f.HolmP(best), 9);
        Assert.Equal(DifferenceVerdict.Indistinguishable, f.Verdict(best));
        Assert.Equal(DifferenceVerdict.Lower, f.Verdict(summary.ComparisonNamed(ConditionalSummary.SlopeVsOne)!));
        Assert.False(f.IsHeadline(summary.ComparisonNamed("w 2: mean at z +1 − mean at z -1")!));

        var csv = summary.DifferencesDataFrame();
        var names = csv["comparison"].Cast<string>().ToList();
        Assert.Equal(new[] { ConditionalSummary.SlopeVsZero, ConditionalSummary.SlopeVsOne }, names.TakeLast(2));
        var i = names.IndexOf("z-1 w1: best on val − best original on val");
        Assert.Equal("Higher", csv["verdict"][i]);
        Assert.Equal("headline", csv["role"][i]);
        Assert.Equal("Indistinguishable", csv["family_verdict"][i]);
        Assert.Equal(f.HolmP(best), (double)csv["holm_p"][i]!, 12);
        Assert.Equal("exploratory", csv["role"][names.IndexOf("z-1 w1: mean − originals' mean")]);

        var lines = ConditionalReading.Lines(summary).ToList();
        Assert.Contains("(a) The calibration slope is higher than 0: the obtained accuracy follows the request.", lines);
        Assert.Contains("(b) Asking z +1:", lines);     // target 0.885 lies above the best original's 0.884
        Assert.DoesNotContain("(b) Asking z 0:", lines);
        Assert.Contains("  [headline] best on validation at z+1 w1 is indistinguishable from the best original on validation: +1.00 pt [−3.97, +5.97] over 3 seeds (95 % interval); p = 0.478, Holm-adjusted p = 0.478.", lines);
    }

    [Fact]
    public void OneSeedGivesNoVerdictOnTheRequest()
    {
        var summary = ConditionalSummary.From(new[] { Seed(0) }, Plan);
        Assert.Equal(DifferenceVerdict.OneSeed, summary.Family.Verdict(summary.ComparisonNamed(ConditionalSummary.SlopeVsZero)!));
        Assert.Contains("(a) The calibration slope − 0: one seed, no verdict: whether the obtained accuracy follows the request is not known.", ConditionalReading.Lines(summary));
    }
}
