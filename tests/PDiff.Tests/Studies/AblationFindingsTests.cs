using PDiff.Data;
using PDiff.Evaluation;
using PDiff.Studies;
using Xunit;

namespace PDiff.Tests.Studies;

/// <summary>
/// The families of notebooks 02 (K) and 04 (noise) on hand-made rows over three seeds: which comparisons are headline,
/// Holm's correction on them, and the exploratory rest. Differences {a − 1, a, a + 1} pt have p = 1 − a√3/√(3a² + 2).
/// </summary>
public class AblationFindingsTests
{
    static AblationSeedRow Row(string setting, params double[] means)
    {
        var seed0 = new AblationRow(setting, 1, 0.8, 0.8, 0.8, means[0], means[0], means[0], means[0], 0);
        var spread = SeedSpread.Of(means);
        return new AblationSeedRow(setting, seed0, spread, spread, spread, spread, SeedSpread.Of(means.Select(_ => 0.8).ToList()));
    }

    static double P(double a) => 1 - a * Math.Sqrt(3) / Math.Sqrt(3 * a * a + 2);

    [Fact]
    public void TheKFamilyHeadsWithLargestMinusSmallestAndKeepsTheRestExploratory()
    {
        var rows = new[] { Row("K=10", 0.80, 0.80, 0.80), Row("K=50", 0.81, 0.82, 0.83), Row("K=200", 0.82, 0.83, 0.84) };
        var ranges = new[] { SeedSpread.Of(new[] { 0.05, 0.06, 0.07 }), SeedSpread.Of(new[] { 0.05, 0.05, 0.05 }), SeedSpread.Of(new[] { 0.06, 0.08, 0.10 }) };
        var family = AblationFindings.KFamily(rows, ranges);
        var headline = Assert.Single(family.Headline);
        Assert.Equal("generated mean (K=200) − generated mean (K=10)", headline.Label);
        // A family of one: Holm's p is the raw p ({2, 3, 4} pt: 0.0351), higher.
        Assert.Equal(P(3), family.HolmP(headline), 6);
        Assert.Equal(DifferenceVerdict.Higher, family.HolmVerdict(headline));
        Assert.Equal(new[] { "generated mean (K=50) − generated mean (K=10)", "generated mean (K=200) − generated mean (K=50)", "max-IoU range (K=200) − max-IoU range (K=10)" },
            family.Exploratory.Select(c => c.Label));
        // Ranges {6, 8, 10} − {5, 6, 7} = {1, 2, 3} pt: indistinguishable.
        Assert.Equal("[exploratory] max-IoU range (K=200) is indistinguishable from max-IoU range (K=10): +2.00 pt [−0.48, +4.48] over 3 seeds (95 % interval).",
            family.Sentences().Last());
        Assert.StartsWith("K ablation over 3 seeds: 1 headline comparison, read with Holm's correction at α = 0.05; 3 more intervals are exploratory", family.Statement());

        Assert.Throws<ArgumentException>(() => AblationFindings.KFamily(rows.Take(1).ToList(), ranges.Take(1).ToList()));
        Assert.Throws<ArgumentException>(() => AblationFindings.KFamily(rows, ranges.Take(2).ToList()));
    }

    [Fact]
    public void TheNoiseFamilyReadsTheThreeNoiseRowsAgainstNoNoiseWithHolm()
    {
        var rows = new[]
        {
            Row("no noise", 0.80, 0.80, 0.80), Row("input only", 0.81, 0.82, 0.83), Row("latent only", 0.82, 0.83, 0.84),
            Row("both", 0.91, 0.92, 0.93), Row("both, σz=1", 0.90, 0.91, 0.92),
        };
        var family = AblationFindings.NoiseFamily(rows);
        Assert.Equal(new[] { "generated mean (latent only) − generated mean (no noise)", "generated mean (input only) − generated mean (no noise)",
            "generated mean (both) − generated mean (no noise)" }, family.Headline.Select(c => c.Label));
        // Sorted p: both 0.00231, latent 0.0351, input 0.0742 → Holm 3 · 0.00231 = 0.0069, max(0.0069, 2 · 0.0351) = 0.0702, max(0.0702, 0.0742).
        var (latent, input, both) = (family.Headline[0], family.Headline[1], family.Headline[2]);
        Assert.Equal(3 * P(12), family.HolmP(both), 6);
        Assert.Equal(2 * P(3), family.HolmP(latent), 6);
        Assert.Equal(P(2), family.HolmP(input), 6);
        Assert.Equal(DifferenceVerdict.Higher, latent.Verdict);
        Assert.Equal(new[] { DifferenceVerdict.Indistinguishable, DifferenceVerdict.Indistinguishable, DifferenceVerdict.Higher },
            family.Headline.Select(family.HolmVerdict));
        Assert.Equal(new[] { "generated mean (latent only) − generated mean (input only)", "generated mean (both, σz=1) − generated mean (both)" },
            family.Exploratory.Select(c => c.Label));
        Assert.Equal(DifferenceVerdict.Lower, family.Exploratory[1].Verdict);

        var missing = Assert.Throws<ArgumentException>(() => AblationFindings.NoiseFamily(rows.Where(r => r.Setting != "both").ToList()));
        Assert.Contains("no setting 'both'", missing.Message);
    }
}
