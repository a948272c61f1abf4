using System.Text.Json;
using PDiff.Data;
using PDiff.Evaluation;
using PDiff.Models;
using PDiff.Studies;
using PDiff.Tests.Serialization;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Studies;

/// <summary>
/// The families of notebooks 03 (location), 05 (memorization) and 07 (bring your own) over pipeline seeds: which
/// comparisons each builds, their hand-worked intervals and verdicts (raw and Holm's), the paper's ordering of
/// locations read from the contrasts, the t-SNE mixing, and the family table and files.
/// </summary>
public class SeedFamiliesTests
{
    // t(0.975, df 2) = 4.302653; with 3 seeds the 95 % half-width is 4.302653 · s / √3. For t = 5√3 (df 2) the two-sided
    // p is 1 − t / √(2 + t²) = 1 − 8.660254 / √77 = 0.013072; for t = 3√3, 1 − 5.196152 / √29 = 0.035099; for t = √3/2, 0.477767.
    const double T975 = 4.302653;

    static AblationRow Row(string subset, double originalMean, double mean, double originalBestVal = 0.9, double bestVal = 0.9) =>
        new(subset, 1, originalMean, 0.9, originalBestVal, 0.9, bestVal, mean, mean, 0);

    /// <summary>Location a loses 1.0 ± 0.2 pt to its originals, location b gains 0.5 ± 0.1 pt; the seeds move both levels.</summary>
    static LocationGaps TwoLocations() => LocationGaps.From(new[] { "a", "b" }, new[]
    {
        new[] { Row("a", 0.810, 0.800, 0.90, 0.91), Row("b", 0.700, 0.705) },
        new[] { Row("a", 0.832, 0.820, 0.91, 0.92), Row("b", 0.720, 0.726) },
        new[] { Row("a", 0.798, 0.790, 0.89, 0.90), Row("b", 0.690, 0.694) },
    });

    [Fact]
    public void LocationGapsAreHeadlineAndTheirContrastsExploratory()
    {
        var g = TwoLocations();
        Assert.Equal(new[] { "the generated mean at a − its own originals' mean", "the generated mean at b − its own originals' mean" }, g.Family.Headline.Select(c => c.Label));
        Assert.Equal(3, g.Family.Exploratory.Count);   // two bests on validation, one contrast
        var a = g.MeanGaps[0].Difference;
        Assert.Equal(new[] { -0.010, -0.012, -0.008 }, a.Differences.Select(d => Math.Round(d, 12)));
        Assert.Equal(-0.010, a.Mean, 12);
        Assert.Equal(-0.010 - T975 * 0.002 / Math.Sqrt(3), a.Low, 6);
        Assert.Equal("the generated mean at a is lower than its own originals' mean: −1.00 pt [−1.50, −0.50] over 3 seeds (95 % interval)", g.MeanGaps[0].Sentence());
        // Both headline p-values are 0.013072; Holm doubles the smaller of two equal ones: 0.026144, still below 0.05.
        Assert.Equal(0.013072, a.P, 5);
        Assert.Equal(0.026144, g.Family.HolmP(g.MeanGaps[1]), 5);
        Assert.Equal(DifferenceVerdict.Lower, g.Family.HolmVerdict(g.MeanGaps[0]));
        Assert.Equal(DifferenceVerdict.Higher, g.Family.HolmVerdict(g.MeanGaps[1]));
        // Best on validation: a's generated best is 1 pt above its best original on every seed.
        Assert.Equal(0.01, g.BestGaps[0].Difference.Mean, 12);
        // The contrast, gap a − gap b, per seed: −0.015, −0.018, −0.012.
        var contrast = Assert.Single(g.Contrasts);
        Assert.Equal("the gap at a − the gap at b", contrast.Label);
        Assert.Equal(-0.015, contrast.Difference.Mean, 12);
        Assert.Equal(0.003, contrast.Difference.Std, 12);
        Assert.Equal(DifferenceVerdict.Lower, contrast.Verdict);
        Assert.Contains("[exploratory] the gap at a is lower than the gap at b: −1.50 pt", string.Join("\n", g.Family.Sentences()));
    }

    [Fact]
    public void TheOrderingOfLocationsFollowsTheContrastsFromEitherSide()
    {
        var g = TwoLocations();
        Assert.Equal(("b", DifferenceVerdict.Lower), Assert.Single(g.AgainstOthers("a")));
        Assert.Equal(("a", DifferenceVerdict.Higher), Assert.Single(g.AgainstOthers("b")));   // listed as a − b, read from b's side
        Assert.Equal("The gap at a (exploratory contrasts, uncorrected): lower against b — the verdicts put b above a, unlike the paper's ordering.", g.Ordering("a"));
        Assert.Equal("The gap at b (exploratory contrasts, uncorrected): higher against a — the verdicts put b first, as the paper's ordering does.", g.Ordering("b"));
        Assert.Equal("last-two-norms did not run: no ordering against it to read.", g.Ordering("last-two-norms"));

        // Gaps that move apart by seed: the contrast spans 0 and the verdicts order nothing.
        var mixed = LocationGaps.From(new[] { "a", "b" }, new[]
        {
            new[] { Row("a", 0.80, 0.80), Row("b", 0.80, 0.81) },
            new[] { Row("a", 0.80, 0.80), Row("b", 0.80, 0.79) },
            new[] { Row("a", 0.80, 0.80), Row("b", 0.80, 0.80) },
        });
        Assert.Equal(DifferenceVerdict.Indistinguishable, mixed.Contrasts[0].Verdict);
        Assert.EndsWith("indistinguishable against b — the verdicts do not order a above the other locations.", mixed.Ordering("a"));
    }

    [Fact]
    public void LocationRowsMustComeOnePerLocationInOrder()
    {
        Assert.Throws<ArgumentException>(() => LocationGaps.From(new[] { "a", "b" }, new[] { new[] { Row("b", 0.8, 0.8), Row("a", 0.8, 0.8) } }));
        Assert.Throws<ArgumentException>(() => LocationGaps.From(new[] { "a", "b" }, new[] { new[] { Row("a", 0.8, 0.8) } }));
        Assert.Throws<ArgumentException>(() => LocationGaps.From(new[] { "a" }, Array.Empty<AblationRow[]>()));
        // One location: a headline gap, no contrast, nothing to order.
        var one = LocationGaps.From(new[] { "a" }, new[] { new[] { Row("a", 0.8, 0.8) }, new[] { Row("a", 0.8, 0.81) } });
        Assert.Empty(one.Contrasts);
        Assert.Equal("Only one location ran: no ordering of locations to read.", one.Ordering("a"));
    }

    static EmbeddingResult Embedding(string[] groups, double[] x, double[] y) =>
        new(new Embedding2D("tsne", x, y, new Dictionary<string, double>()), "latent", groups, Enumerable.Range(0, groups.Length).ToArray());

    [Fact]
    public void TsneMixingCountsGeneratedNearestNeighboursAmongTheEmbeddedGroups()
    {
        var g = Evaluator.Generated;
        var o = Evaluator.Original;
        // Two clusters far apart: every generated point's nearest neighbour is generated; random mixing gives (3 − 1)/(6 − 1).
        var apart = TsneMixing.Of(Embedding(new[] { g, g, g, o, o, o }, new[] { 0, 0, 1, 10, 10, 11.0 }, new[] { 0, 1, 0, 10, 11, 10.0 }), new[] { g, o })!;
        Assert.Equal((1.0, 0.4), (apart.Share, apart.Chance));
        // Interleaved on a line (g at 0, 2, 4; o at 1, 3, 5): every generated point's nearest is an original, ties to the first in order.
        // A point of a group left out (at 2.1, next to the generated point at 2) does not count.
        var mixed = TsneMixing.Of(Embedding(new[] { g, o, g, o, g, o, "relnoise_0.05" }, new[] { 0, 1, 2, 3, 4, 5, 2.1 }, new double[7]), new[] { g, o })!;
        Assert.Equal((0.0, 0.4), (mixed.Share, mixed.Chance));
        var withNoise = TsneMixing.Of(Embedding(new[] { g, o, g, o, g, o, "relnoise_0.05" }, new[] { 0, 1, 2, 3, 4, 5, 2.1 }, new double[7]), new[] { g, o, "relnoise_0.05" })!;
        Assert.Equal((0.0, 2.0 / 6), (withNoise.Share, withNoise.Chance));
        Assert.Null(TsneMixing.Of(Embedding(new[] { g, o, o }, new[] { 0, 1, 2.0 }, new double[3]), new[] { g, o }));
    }

    static GroupNumbers G(string name, double acc, double maxIou, double bestVal = 0.9, int count = 4) => new(name, count, acc, bestVal, maxIou);

    /// <summary>
    /// Three seeds: generated max IoU 0.90/0.91/0.92 against the originals' leave-one-out 0.93/0.95/0.94 (−0.03 ± 0.01);
    /// generated–generated 0.85/0.86/0.84 against origin–origin 0.80/0.82/0.78 (+0.05 ± 0.01); accuracy −0.1 ± 0.2 pt.
    /// The fine-tuned group is missing from seed 2, so no comparison uses it.
    /// </summary>
    static MemorizationSummary Memorization()
    {
        var gen = new[] { 0.870, 0.872, 0.868 };
        var genMax = new[] { 0.90, 0.91, 0.92 };
        var noiseMax = new[] { 0.97, 0.99, 0.98 };
        var share = new[] { 0.9, 0.8, 1.0 };
        var oo = new[] { 0.80, 0.82, 0.78 };
        var gg = new[] { 0.85, 0.86, 0.84 };
        var loo = new[] { 0.93, 0.95, 0.94 };
        return MemorizationSummary.From(Enumerable.Range(0, 3).Select(s => new MemorizationNumbers(s, oo[s], gg[s], 0.80, genMax[s], loo[s],
            new[] { G(Evaluator.Original, 0.871, loo[s], count: 10), G(Evaluator.Generated, gen[s], genMax[s], count: 8), G("relnoise_0.05", 0.871 + 0.001 * s, noiseMax[s]) }
                .Concat(s < 2 ? new[] { G("finetuned", 0.87, 0.99) } : Array.Empty<GroupNumbers>()).ToList(),
            new TsneMixing(share[s], 0.4))).ToList());
    }

    [Fact]
    public void MemorizationFamilyReadsItsHeadlineWithHolm()
    {
        var m = Memorization();
        Assert.Equal(new[] { Evaluator.Original, Evaluator.Generated, "relnoise_0.05" }, m.Groups);
        var f = m.MemorizationFamily();
        var h = f.Headline;
        Assert.Equal("the generated models' max IoU to the originals − the originals' max IoU to the other originals (leave-one-out)", h[0].Label);
        Assert.Equal(-0.03, h[0].Difference.Mean, 12);
        Assert.Equal(0.035099, h[0].Difference.P, 5);
        Assert.Equal(0.05, h[1].Difference.Mean, 12);
        Assert.Equal(-0.001, h[2].Difference.Mean, 12);
        // Holm over p = 0.035099, 0.013072, 0.477767: 3 × 0.013072 = 0.039216; max(2 × 0.035099, that) = 0.070198; then 0.477767.
        Assert.Equal(0.070198, f.HolmP(h[0]), 5);
        Assert.Equal(0.039216, f.HolmP(h[1]), 5);
        Assert.Equal(0.477767, f.HolmP(h[2]), 5);
        // The raw interval of the max IoU excludes 0, Holm's correction does not: the headline sentence says indistinguishable.
        Assert.Equal(DifferenceVerdict.Lower, h[0].Verdict);
        Assert.Equal(DifferenceVerdict.Indistinguishable, f.HolmVerdict(h[0]));
        Assert.Equal(DifferenceVerdict.Higher, f.HolmVerdict(h[1]));
        var sentences = f.Sentences().ToList();
        Assert.StartsWith("[headline] the generated models' max IoU to the originals is indistinguishable from the originals' max IoU to the other originals (leave-one-out): −0.030 [−0.055, −0.005] over 3 seeds", sentences[1]);
        // Exploratory: the relative-noise group in max IoU and accuracy, and the t-SNE mixing (0.5 ± 0.1 above chance).
        Assert.Equal(new[]
        {
            "the generated models' max IoU to the originals − that of noise, relative σ 0.05",
            "the generated models' mean accuracy − that of noise, relative σ 0.05",
            "the share of generated t-SNE points with a generated nearest neighbour − the share under random mixing",
        }, f.Exploratory.Select(c => c.Label));
        Assert.Equal(-0.07, f.Exploratory[0].Difference.Mean, 12);
        Assert.Equal(0.5, f.Exploratory[2].Difference.Mean, 12);
        Assert.Equal(DifferenceVerdict.Higher, f.Exploratory[2].Verdict);
    }

    [Fact]
    public void MemorizationStatisticsCarryEverySeedAndThePapersNumbers()
    {
        var m = Memorization();
        var sim = m.Similarity();
        Assert.Equal(7, sim.Count);   // five IoU statistics and the two t-SNE shares
        Assert.Equal(new[] { 0.80, 0.82, 0.78 }, sim[0].Spread.Values);
        Assert.Equal((0.968, 0.784), (sim[0].PaperV1, sim[0].V2Log));
        Assert.Equal(0.94, sim[4].Spread.Mean, 12);
        var frame = m.SimilarityDataFrame();
        Assert.Equal(1 + 3 + 3, frame.Columns.Count);
        Assert.Equal(90.0, (double)frame.Columns["seed0"][5]!, 9);   // the t-SNE share reads in %
        Assert.Equal("0.800 ± 0.020", frame.Columns["mean ± std (3 seeds)"][0]);
        var groups = m.GroupsDataFrame();
        Assert.Equal(3, groups.Rows.Count);
        Assert.Equal("87.00 ± 0.20", groups.Columns["test mean % ± std"][1]);
        Assert.Equal("relnoise_0.05", m.GroupName("relnoise*"));
        Assert.Throws<KeyNotFoundException>(() => m.GroupName("finetuned"));
    }

    [Fact]
    public void ImportFamilyPutsTheOriginalsAverageAndGaussianInTheHeadline()
    {
        var seeds = Enumerable.Range(0, 2).Select(s => new MemorizationNumbers(s, 0.8, 0.85, 0.8, 0.9 + 0.01 * s, 0.95, new[]
        {
            G(Evaluator.Original, 0.95, 0.95), G(Evaluator.Generated, 0.951 + 0.001 * s, 0.9 + 0.01 * s), G(Evaluator.Ensemble, 0.952, 0.96, count: 1),
            G("relnoise_0.05", 0.94, 0.97), G("average4", 0.953, 0.96), G("gaussian", 0.90, 0.80),
        })).ToList();
        var f = MemorizationSummary.From(seeds).ImportFamily();
        Assert.Equal(new[]
        {
            "the generated models' mean accuracy − the originals' mean accuracy",
            "the generated models' mean accuracy − that of average of 4",
            "the generated models' mean accuracy − that of per-coordinate Gaussian",
        }, f.Headline.Select(c => c.Label));
        Assert.Equal(new[] { 0.001, 0.002 }, f.Headline[0].Difference.Differences.Select(d => Math.Round(d, 12)));
        // Best on validation, the other groups' accuracy (the weight average spelled out), then the max IoUs.
        Assert.Equal(1 + 2 + 1 + 4, f.Exploratory.Count);
        Assert.Contains(f.Exploratory, c => c.Label == "the generated models' mean accuracy − that of the weight average (ensemble)");
        Assert.Contains(f.Exploratory, c => c.Label == "the generated models' max IoU to the originals − that of per-coordinate Gaussian");
        Assert.Throws<ArgumentException>(() => MemorizationSummary.From(new[] { new MemorizationNumbers(0, 0.8, 0.8, 0.8, 0.9, 0.9, new[] { G(Evaluator.Original, 0.9, 0.9) }) }));
        Assert.Throws<ArgumentException>(() => MemorizationSummary.From(new[] { seeds[0], seeds[0] }));
    }

    [Fact]
    public void OurVerdictIsSetBesideThePapersDirection()
    {
        Assert.Equal("the same direction as paper v1", MemorizationSummary.AgainstPaper(DifferenceVerdict.Lower, DifferenceVerdict.Lower, "paper v1"));
        Assert.Equal("paper v1 put it lower; these seeds cannot tell", MemorizationSummary.AgainstPaper(DifferenceVerdict.Indistinguishable, DifferenceVerdict.Lower, "paper v1"));
        Assert.Equal("paper v1 put it the other way (lower)", MemorizationSummary.AgainstPaper(DifferenceVerdict.Higher, DifferenceVerdict.Lower, "paper v1"));
    }

    [Fact]
    public void TheFamilyTableAndFilesHoldEverySeed()
    {
        var f = Memorization().MemorizationFamily();
        var frame = FamilyTables.WithSeeds(f, new[] { 0, 1, 2 });
        Assert.Equal(7 + 3, frame.Columns.Count);
        Assert.Equal(6, frame.Rows.Count);
        Assert.Equal(-0.03, (double)frame.Columns["seed0"][0]!, 12);     // IoU: unscaled
        Assert.Equal(-0.1, (double)frame.Columns["seed0"][2]!, 9);       // accuracy: points
        Assert.Equal("indistinguishable (Holm)", frame.Columns["verdict"][0]);
        Assert.Throws<ArgumentException>(() => FamilyTables.WithSeeds(f, new[] { 0, 1 }));

        using var tmp = new TempDir();
        using (var folder = ResultsFolders.Claim(tmp.Path, "test", planned: FamilyTables.FileNames))
            FamilyTables.Write(f, new[] { 0, 1, 2 }, folder);
        Assert.StartsWith("role,comparison,", File.ReadLines(Path.Combine(tmp.Path, FamilyTables.FamilyCsv)).First());
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Path, FamilyTables.FamilyJson)));
        var c = doc.RootElement.GetProperty("comparisons");
        Assert.Equal(6, c.GetArrayLength());
        Assert.Equal("headline", c[0].GetProperty("role").GetString());
        Assert.Equal(0.070198, c[0].GetProperty("holm_p").GetDouble(), 5);
        Assert.Equal("indistinguishable", c[0].GetProperty("verdict").GetString());
        Assert.Equal(new[] { -0.03, -0.04, -0.02 }, c[0].GetProperty("values").EnumerateArray().Select(v => Math.Round(v.GetDouble(), 12)));
        Assert.Equal(JsonValueKind.Null, c[3].GetProperty("holm_p").ValueKind);
        Assert.Equal("lower", c[3].GetProperty("verdict").GetString());
    }

    [Fact]
    public void TheIntervalChartDrawsHeadlineAndExploratoryApart()
    {
        var f = Memorization().MemorizationFamily();
        var fig = FamilyTables.Intervals(f, f.Headline.Concat(f.Exploratory).Where(c => c.Unit.Length == 0), "t", "IoU");
        Assert.Equal(2, fig.Data.Count);
        var headline = Assert.IsType<PDiff.Plots.Scatter>(fig.Data[0]);
        Assert.Equal("headline", headline.Name);
        Assert.Equal(new[] { f.Headline[0].A + " −<br>" + f.Headline[0].B, f.Headline[1].A + " −<br>" + f.Headline[1].B }, (string[])headline.Y!);
        Assert.Equal(-0.03, ((double[])headline.X!)[0], 12);
        Assert.Equal(T975 * 0.01 / Math.Sqrt(3), ((double[])headline.ErrorX!.Array!)[0], 5);
        var exploratory = Assert.IsType<PDiff.Plots.Scatter>(fig.Data[1]);
        Assert.Equal(new[] { FamilyTables.AxisLabel(f.Exploratory[0]) }, (string[])exploratory.Y!);
    }

    [Fact]
    public void TheStudiesEvaluateAsTheirSingleSeedNotebooksDid()
    {
        // Notebook 05: the profile's evaluation with p-diff's own baselines (relative noise, fine-tuned) and the t-SNE.
        var smoke = ProfileDefaults.EvaluationFor(Profile.Smoke);
        var m = PDiff.Studies.Memorization.EvaluationFor(Profile.Smoke);
        Assert.True(m.Tsne);
        Assert.Empty(m.Baselines.AbsoluteNoiseSigmas);
        Assert.Equal((0, 0), (m.Baselines.AverageCount, m.Baselines.GaussianCount));
        Assert.Equal(smoke.Baselines.RelativeNoiseSigmas, m.Baselines.RelativeNoiseSigmas);
        Assert.Equal((smoke.Baselines.RelativeNoiseCount, smoke.Baselines.FineTunedCount, smoke.Baselines.FineTuneSteps),
            (m.Baselines.RelativeNoiseCount, m.Baselines.FineTunedCount, m.Baselines.FineTuneSteps));
        Assert.Equal((smoke.WriteIouMatrix, smoke.Pca, smoke.EmbeddingMaxPerGroup), (m.WriteIouMatrix, m.Pca, m.EmbeddingMaxPerGroup));
        Assert.True(PDiff.Studies.Memorization.Embedded("relnoise_0.15"));
        Assert.False(PDiff.Studies.Memorization.Embedded("finetuned"));

        // Notebook 07: no fine-tuned baseline, averages of at most K originals.
        var quick = ProfileDefaults.EvaluationFor(Profile.Quick);
        var i = ImportedZooSeeds.EvaluationFor(Profile.Quick, 40);
        Assert.Equal((0, quick.Baselines.AverageOf), (i.Baselines.FineTunedCount, i.Baselines.AverageOf));
        Assert.Equal(3, ImportedZooSeeds.EvaluationFor(Profile.Quick, 3).Baselines.AverageOf);
        Assert.Equal(quick.Baselines.GaussianCount, i.Baselines.GaussianCount);
    }

    [Fact]
    public void AnImportedZooIsKnownByItsContentNotItsCreationStamp()
    {
        var m = new ZooManifest
        {
            Task = "byo", Dataset = "mnist", Model = new ModelSpec { Arch = "mlp" }, BaseSha256 = "b",
            Subset = new SubsetRecord("classifier", Array.Empty<TensorSpec>(), 0), Created = "2026-12-01T00:00:00Z",
            Checkpoints = new[] { new CheckpointRecord(0, "c0", 0, 0, 0.9, 0.9, Sha256: "h0"), new CheckpointRecord(1, "c1", 1, 0, 0.9, 0.9, Sha256: "h1") },
        };
        string Print(ZooManifest x) => ResultsFolders.Fingerprint(ImportedZooSeeds.Content(x));
        Assert.Equal(Print(m), Print(m with { Created = "2026-12-02T00:00:00Z", Seconds = new Dictionary<string, double> { ["import"] = 3 } }));
        Assert.NotEqual(Print(m), Print(m with { Checkpoints = new[] { m.Checkpoints[0], m.Checkpoints[1] with { Sha256 = "other" } } }));
        Assert.NotEqual(Print(m), Print(m with { BaseSha256 = "c" }));
    }
}
