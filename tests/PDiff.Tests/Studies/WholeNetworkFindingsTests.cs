using PDiff.Data;
using PDiff.Evaluation;
using PDiff.Studies;
using Xunit;

namespace PDiff.Tests.Studies;

/// <summary>Notebook 08's family (headline per task: generated against the originals and the Gaussian) and its run-against-run contrasts.</summary>
public class WholeNetworkFindingsTests
{
    /// <summary>A task over three seeds: each group's one model scores the given test accuracy.</summary>
    internal static SeedSummary Summary(string task, Dictionary<string, double[]> perSeed) => SeedSummary.From(task, "smoke", new[] { 0, 1, 2 },
        Enumerable.Range(0, 3).Select(s => (IReadOnlyList<IReadOnlyList<GroupSummary>>)new[]
        {
            (IReadOnlyList<GroupSummary>)perSeed.Select(kv => GroupSummary.From(kv.Key, new[] { kv.Value[s] }, new[] { kv.Value[s] })).ToList(),
        }).ToList(), new[] { 0.8, 0.8, 0.8 });

    static double[] Plus(double[] a, params double[] d) => a.Select((x, i) => x + d[i]).ToArray();

    static readonly double[] Originals = { 0.80, 0.81, 0.79 };

    [Fact]
    public void HeadlineComparisonsAreReadWithHolmAcrossTasks()
    {
        // Task a: generated − originals {−2, −3, −4} pt (raw p 0.0351, lower), − Gaussian {+1, +2, +3} pt (p 0.0742).
        // Task b: generated − originals −50 pt on every seed (p 0), − Gaussian {+2, +3, +4} pt (p 0.0351, raw higher).
        // Holm over the four: 0 → 0; the two 0.0351 → 3 · 0.0351 = 0.105; 0.0742 → max(0.105, 0.0742): none below 0.05 but b's −50.
        var genA = Plus(Originals, -0.02, -0.03, -0.04);
        var genB = Plus(Originals, -0.5, -0.5, -0.5);
        var a = Summary("a", new() { [Evaluator.Original] = Originals, [Evaluator.Generated] = genA, ["gaussian"] = Plus(genA, -0.01, -0.02, -0.03) });
        var b = Summary("b", new() { [Evaluator.Original] = Originals, [Evaluator.Generated] = genB, ["gaussian"] = Plus(genB, -0.02, -0.03, -0.04), [Evaluator.Ensemble] = Originals });
        var family = WholeNetworkFindings.Family(new[] { ("a", a), ("b", b) }, Array.Empty<WholeNetworkRow>());

        Assert.Equal(new[] { "a: p-diff mean − originals' mean", "a: p-diff mean − per-coordinate Gaussian's mean",
            "b: p-diff mean − originals' mean", "b: p-diff mean − per-coordinate Gaussian's mean" }, family.Headline.Select(c => c.Label));
        Assert.Equal(new[] { "b: p-diff mean − weight average", "b: the weight average − the originals' mean" },
            family.Exploratory.Select(c => c.Label).Where(l => l.Contains("weight")));
        Assert.Equal(0.0, family["b: the weight average − the originals' mean"].Difference.Mean, 12);   // b's weight average scores as its originals
        var p = 1 - 3 * Math.Sqrt(3) / Math.Sqrt(29);
        var aOrig = family["a: p-diff mean − originals' mean"];
        Assert.Equal(DifferenceVerdict.Lower, aOrig.Verdict);
        Assert.Equal(3 * p, family.HolmP(aOrig), 9);
        Assert.Equal(DifferenceVerdict.Indistinguishable, family.HolmVerdict(aOrig));
        Assert.Equal(3 * p, family.HolmP(family["b: p-diff mean − per-coordinate Gaussian's mean"]), 9);
        Assert.Equal(DifferenceVerdict.Lower, family.HolmVerdict(family["b: p-diff mean − originals' mean"]));
        Assert.StartsWith("[headline] a: p-diff mean is indistinguishable from originals' mean: −3.00 pt [−5.48, −0.52] over 3 seeds",
            WholeNetworkFindings.SentencesFor(family, "a").First());
        Assert.All(WholeNetworkFindings.SentencesFor(family, "b"), s => Assert.Contains("] b: ", s));
        // Two headline; against the weight average and both best picks; the weight average against the originals.
        Assert.Equal(2 + 3 + 1, WholeNetworkFindings.SentencesFor(family, "b").Count());
    }

    [Fact]
    public void NoveltyIsPairedOverSeedsAgainstTheOriginalsOwn()
    {
        SeedSpread S(params double[] v) => SeedSpread.Of(v);
        var rows = new[]
        {
            new WholeNetworkRow("a", 100, Evaluator.Original, S(0.8, 0.8, 0.8), S(0.8, 0.8, 0.8), S(0.50, 0.50, 0.50), S(5, 6, 7)),
            new WholeNetworkRow("a", 100, Evaluator.Generated, S(0.2, 0.2, 0.2), S(0.2, 0.2, 0.2), S(0.40, 0.42, 0.41), S(5, 7, 9)),
        };
        var c = WholeNetworkFindings.Novelty("a", rows).ToList();
        // Max IoU {−0.10, −0.08, −0.09}: mean −0.09, s 0.01, half-width 4.302653 · 0.01 / √3 = 0.0248.
        Assert.Equal("a: generated mean max IoU to the originals is lower than the originals' own (leave-one-out): −0.090 [−0.115, −0.065] over 3 seeds (95 % interval)",
            c[0].Sentence());
        // Min L2 {0, 1, 2}: mean 1, s 1, interval 1 ± 2.48: indistinguishable.
        Assert.Equal(DifferenceVerdict.Indistinguishable, c[1].Verdict);
        Assert.Empty(WholeNetworkFindings.Novelty("b", rows));
    }

    [Fact]
    public void RunsArePairedSeedBySeedAndTheirContrastToo()
    {
        var unaligned = Summary("t", new() { [Evaluator.Generated] = new[] { 0.20, 0.30, 0.25 }, ["gaussian"] = new[] { 0.11, 0.12, 0.13 } });
        var aligned = Summary("t", new() { [Evaluator.Generated] = new[] { 0.23, 0.35, 0.29 }, ["gaussian"] = new[] { 0.25, 0.26, 0.27 } });
        var gauss = WholeNetworkContrasts.Between("the Gaussian's mean", "on aligned zoos", aligned, "on unaligned zoos", unaligned, "gaussian");
        Assert.Equal("the Gaussian's mean on aligned zoos is higher than that on unaligned zoos: +14.00 pt [+14.00, +14.00] over 3 seeds (95 % interval)", gauss.Sentence());

        // Aligned − unaligned, generated: {+3, +5, +4} pt at "more steps", {+2, +3, +1} pt at "fewer": contrast {+1, +2, +3} pt.
        var fewerUnaligned = Summary("t", new() { [Evaluator.Generated] = new[] { 0.10, 0.10, 0.10 } });
        var fewerAligned = Summary("t", new() { [Evaluator.Generated] = new[] { 0.12, 0.13, 0.11 } });
        var contrast = WholeNetworkContrasts.Interaction("the aligned − unaligned difference of the generated mean", "at 2,000 steps", (aligned, unaligned),
            "at 300 steps", (fewerAligned, fewerUnaligned), Evaluator.Generated);
        Assert.Equal("the aligned − unaligned difference of the generated mean at 2,000 steps is indistinguishable from that at 300 steps: +2.00 pt [−0.48, +4.48] over 3 seeds (95 % interval)",
            contrast.Sentence());

        var twoSeeds = SeedSummary.From("t", "smoke", new[] { 0, 1 }, new[] { 0, 1 }.Select(_ => (IReadOnlyList<IReadOnlyList<GroupSummary>>)new[]
            { (IReadOnlyList<GroupSummary>)new[] { GroupSummary.From("gaussian", new[] { 0.1 }, new[] { 0.1 }) } }).ToList(), new[] { 0.8, 0.8 });
        Assert.Throws<ArgumentException>(() => WholeNetworkContrasts.Between("x", "a", aligned, "b", twoSeeds, "gaussian"));
        Assert.Equal("group", Assert.Throws<ArgumentException>(() => WholeNetworkContrasts.Between("x", "a", aligned, "b", unaligned, "average*")).ParamName);
    }
}

/// <summary>Notebook 11's family: per task and sampler, generated against the originals (mean, best on validation) headline.</summary>
public class FullV2FindingsTests
{
    [Fact]
    public void OneSeedGivesNoVerdictAndTheHeadlineIsNamed()
    {
        var one = SeedSummary.From("t", "smoke", new[] { 0 }, new[] { (IReadOnlyList<IReadOnlyList<GroupSummary>>)new[]
        {
            (IReadOnlyList<GroupSummary>)new[]
            {
                GroupSummary.From(Evaluator.Original, new[] { 0.80, 0.82 }, new[] { 0.79, 0.83 }),
                GroupSummary.From(Evaluator.Generated, new[] { 0.81, 0.815 }, new[] { 0.805, 0.812 }),
                GroupSummary.From(Evaluator.Ensemble, new[] { 0.84 }, new[] { 0.845 }),
            },
        } }, new[] { 0.8 });
        var family = FullV2Findings.Family(new[] { ("fmnist, DDPM", one), ("fmnist, DDIM", one) });
        Assert.Equal(4, family.Headline.Count);
        Assert.Equal("fmnist, DDPM: p-diff best chosen on validation − best original chosen on validation", family.Headline[1].Label);
        Assert.Contains("fmnist, DDIM: p-diff mean − weight average", family.Exploratory.Select(c => c.Label));
        Assert.All(family.Headline, c => Assert.Equal(DifferenceVerdict.OneSeed, family.HolmVerdict(c)));
        // Best on validation: generated 0.812 (val 0.815) − original 0.83 (val 0.82) = −1.8 pt.
        Assert.Equal("[headline] fmnist, DDPM: p-diff best chosen on validation − best original chosen on validation: one seed, no verdict: −1.80 pt (one seed); p = –, Holm-adjusted p = –.",
            family.Sentence(family.Headline[1]));
    }
}
