using PDiff.Data;
using PDiff.Evaluation;
using PDiff.Storage;
using PDiff.Studies;
using Xunit;

namespace PDiff.Tests.Studies;

/// <summary>
/// The main result's family on a hand-made summary: which comparisons are headline, Holm's correction applied to
/// them, the two checks decided by the whole interval, and the columns the family adds to the files and the README.
/// Every group holds one model, so its mean, best on validation and best on test are that model's accuracy.
/// </summary>
public class MainResultFamilyTests
{
    static GroupSummary One(string group, double acc) => GroupSummary.From(group, new[] { acc }, new[] { acc });

    /// <summary>
    /// Originals and ensemble 0.80 on every seed; p-diff 0.80 + <paramref name="gap"/>; average4 0.81 and gaussian 0.71,
    /// so p-diff − average = gap − 0.01 and p-diff − gaussian = gap + 0.09.
    /// </summary>
    static SeedSummary Summary(params double[] gap) => SeedSummary.From("t", "smoke", Enumerable.Range(0, gap.Length).ToList(),
        gap.Select(g => (IReadOnlyList<IReadOnlyList<GroupSummary>>)new[]
        {
            new[] { One(Evaluator.Original, 0.80), One(Evaluator.Ensemble, 0.80), One(Evaluator.Generated, 0.80 + g), One("average4", 0.81), One("gaussian", 0.71) },
        }).ToList(),
        gap.Select(_ => 0.80).ToList());

    // Gaps {2, 3, 4} pt: p-diff − originals (mean and both bests) {2, 3, 4} pt, p = 1 − 3√3/√29 = 0.0351, raw higher;
    // p-diff − average {1, 2, 3} pt, p = 1 − 2√3/√14 = 0.0742; p-diff − gaussian {11, 12, 13} pt, p = 1 − 12√3/√434 = 0.00231.
    // Holm over the four headline p: 4 · 0.00231 = 0.00924, then max(…, 3 · 0.0351) = 0.1053 for both 0.0351 and 0.0742.
    static readonly double POriginal = 1 - 3 * Math.Sqrt(3) / Math.Sqrt(29), PAverage = 1 - 2 * Math.Sqrt(3) / Math.Sqrt(14), PGaussian = 1 - 12 * Math.Sqrt(3) / Math.Sqrt(434);

    [Fact]
    public void TheFourClaimsAreHeadlineWithHolmAndTheRestExploratory()
    {
        var family = Summary(0.02, 0.03, 0.04).Family();
        Assert.Equal(new[] { "p-diff mean − originals' mean", "p-diff mean − average-of-n-originals baseline's mean", "p-diff mean − per-coordinate Gaussian's mean",
            "p-diff best chosen on validation − best original chosen on validation" }, family.Headline.Select(c => c.Label));
        Assert.Equal(new[] { "p-diff mean − weight average", "p-diff best chosen on test (the paper's way) − best original chosen on test" }, family.Exploratory.Select(c => c.Label));

        var mean = family["p-diff mean − originals' mean"];
        Assert.Equal(POriginal, mean.Difference.P, 6);
        Assert.Equal(DifferenceVerdict.Higher, mean.Verdict);
        Assert.Equal(3 * POriginal, family.HolmP(mean), 6);
        Assert.Equal(DifferenceVerdict.Indistinguishable, family.HolmVerdict(mean));
        Assert.Equal(3 * POriginal, family.HolmP(family["p-diff mean − average-of-n-originals baseline's mean"]), 6);
        var gaussian = family["p-diff mean − per-coordinate Gaussian's mean"];
        Assert.Equal(4 * PGaussian, family.HolmP(gaussian), 6);
        Assert.Equal(DifferenceVerdict.Higher, family.HolmVerdict(gaussian));
        Assert.True(PAverage > POriginal);

        var lines = Summary(0.02, 0.03, 0.04).Sentences().ToList();
        Assert.Equal(1 + 4 + 2, lines.Count);
        Assert.StartsWith("t, the main result over 3 seeds: 4 headline comparisons, read with Holm's correction at α = 0.05; 2 more intervals are exploratory", lines[0]);
        Assert.Equal("[headline] p-diff mean is indistinguishable from originals' mean: +3.00 pt [+0.52, +5.48] over 3 seeds (95 % interval); p = 0.035, Holm-adjusted p = 0.105.", lines[1]);
        Assert.Equal("[exploratory] p-diff mean is higher than weight average: +3.00 pt [+0.52, +5.48] over 3 seeds (95 % interval).", lines[5]);
    }

    [Fact]
    public void AbsentBaselinesLeaveFewerHeadlineComparisons()
    {
        // Without the average and Gaussian groups the family holds the two claims on the originals only.
        var s = SeedSummary.From("t", "smoke", new[] { 0, 1 },
            new[] { 0.01, 0.02 }.Select(g => (IReadOnlyList<IReadOnlyList<GroupSummary>>)new[] { new[] { One(Evaluator.Original, 0.8), One(Evaluator.Generated, 0.8 + g) } }).ToList(),
            new[] { 0.8, 0.8 });
        var family = s.Family();
        Assert.Equal(2, family.Headline.Count);
        Assert.Single(family.Exploratory);
        Assert.Equal(SeedSummary.Exploratory, SeedSummary.RoleOf("pdiff_mean_vs_ensemble"));
        Assert.Equal(SeedSummary.Headline, SeedSummary.RoleOf("pdiff_mean_vs_gaussian"));
    }

    [Fact]
    public void ChecksAreDecidedByTheWholeInterval()
    {
        // [+0.52, +5.48] pt: inside ±1 pt at its low end only (undecided), wholly above −0.3 pt (pass).
        var checks = MainResult.Checks(Summary(0.02, 0.03, 0.04));
        Assert.Equal(new[] { "check 1", "check 2" }, checks.Select(c => c.Name));
        Assert.Equal(new[] { CheckOutcome.Undecided, CheckOutcome.Pass }, checks.Select(c => c.Outcome));
        Assert.StartsWith("check 2 [PASS] p-diff best chosen on validation − best original chosen on validation: +3.00 pt [+0.52, +5.48] over 3 seeds; required ≥ −0.30 pt", checks[1].ToString());
        // {−0.2, −0.1, 0} pt: [−0.35, +0.15] lies within ±1 pt (pass) but reaches above and below −0.3 pt (undecided).
        Assert.Equal(new[] { CheckOutcome.Pass, CheckOutcome.Undecided }, MainResult.Checks(Summary(-0.002, -0.001, 0)).Select(c => c.Outcome));
        // {−12, −11, −10} pt: wholly below −1 pt and below −0.3 pt.
        Assert.All(MainResult.Checks(Summary(-0.12, -0.11, -0.10)), c => Assert.Equal(CheckOutcome.Fail, c.Outcome));
        // One seed: no interval, nothing decided.
        Assert.All(MainResult.Checks(Summary(0.0)), c => Assert.Equal(CheckOutcome.Undecided, c.Outcome));
    }

    [Fact]
    public void TheFilesKeepTheirColumnsAndAddTheFamilys()
    {
        var s = Summary(0.02, 0.03, 0.04);
        var frame = s.DifferencesDataFrame();
        Assert.Equal(new[] { "comparison", "label", "seed0", "seed1", "seed2", "mean", "std", "ci_low", "ci_high", "verdict", "p", "role", "holm_p", "holm_verdict" },
            frame.Columns.Select(c => c.Name));
        var i = Enumerable.Range(0, (int)frame.Rows.Count).First(r => (string)frame["comparison"][r] == "pdiff_mean_vs_original_mean");
        Assert.Equal("higher", frame["verdict"][i]);
        Assert.Equal("headline", frame["role"][i]);
        Assert.Equal(3 * POriginal, (double)frame["holm_p"][i]!, 6);
        Assert.Equal("indistinguishable", frame["holm_verdict"][i]);
        var e = Enumerable.Range(0, (int)frame.Rows.Count).First(r => (string)frame["comparison"][r] == "pdiff_mean_vs_ensemble");
        Assert.Equal("exploratory", frame["role"][e]);
        Assert.True(double.IsNaN((double)frame["holm_p"][e]!));
        Assert.Equal("", frame["holm_verdict"][e]);

        var dir = Path.Combine(Path.GetTempPath(), "pdiff-family-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (var folder = OwnedFolder.Claim(dir, ResultsFolders.Kind)) s.Write(folder);
            var csv = Csv.Parse(File.ReadAllText(Path.Combine(dir, SeedSummary.DifferencesCsv)));
            Assert.Equal(frame.Columns.Select(c => c.Name), csv.Header);
            using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, SeedSummary.SummaryJson)));
            var first = json.RootElement.GetProperty("differences")[0];
            Assert.Equal("headline", first.GetProperty("role").GetString());
            Assert.Equal(3 * POriginal, first.GetProperty("holm_p").GetDouble(), 6);
            Assert.Equal("indistinguishable", first.GetProperty("holm_verdict").GetString());
            Assert.Equal("higher", first.GetProperty("verdict").GetString());
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void TheReadmeBlockSaysWhichRowsAreHeadlineAndGivesHolmBesideTheRawInterval()
    {
        var md = MainResult.Markdown(Summary(0.02, 0.03, 0.04), null, "results/x");
        Assert.Contains("The 4 headline rows", md);
        Assert.Contains("The other 2 rows are exploratory", md);
        Assert.Contains("| comparison | role | per seed | mean [95 % interval] | reading (raw interval) | p | Holm p | verdict |", md);
        Assert.Contains("| p-diff mean − originals' mean | headline | +2.00 / +3.00 / +4.00 | +3.00 [+0.52, +5.48] | higher | 0.035 | 0.105 | indistinguishable (Holm) |", md);
        Assert.Contains("| p-diff mean − weight average | exploratory | +2.00 / +3.00 / +4.00 | +3.00 [+0.52, +5.48] | higher | 0.035 |  | higher (exploratory) |", md);
        Assert.Contains("| p-diff mean − per-coordinate Gaussian's mean | headline | +11.00 / +12.00 / +13.00 | +12.00 [+9.52, +14.48] | higher | 0.002 | 0.009 | higher (Holm) |", md);
    }
}
