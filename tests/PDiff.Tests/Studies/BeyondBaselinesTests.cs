using PDiff.Data;
using PDiff.Evaluation;
using PDiff.Studies;
using PDiff.Tests.Evaluation;
using PDiff.Zoo;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PDiff.Tests.Studies;

public class CheckpointAveragesTests
{
    [Fact]
    public void WindowedAveragesEqualTheHandComputedMeans()
    {
        // Rows (1, 10), (2, 20), … (5, 50): every window mean is easy to write down.
        using var x = torch.tensor(new float[] { 1, 10, 2, 20, 3, 30, 4, 40, 5, 50 }).reshape(5, 2);
        using var w2 = CheckpointAverages.Windowed(x, 2);
        Assert.Equal(new long[] { 4, 2 }, w2.shape);
        Assert.Equal(new float[] { 1.5f, 15, 2.5f, 25, 3.5f, 35, 4.5f, 45 }, w2.data<float>().ToArray());
        using var w3s2 = CheckpointAverages.Windowed(x, 3, stride: 2);   // windows [0, 3) and [2, 5)
        Assert.Equal(new float[] { 2, 20, 4, 40 }, w3s2.data<float>().ToArray());
        using var all = CheckpointAverages.Windowed(x, 5);
        Assert.Equal(new float[] { 3, 30 }, all.data<float>().ToArray());
        using var one = CheckpointAverages.Windowed(x, 1);
        Assert.Equal(x.data<float>().ToArray(), one.data<float>().ToArray());
        Assert.Equal(ScalarType.Float32, w2.dtype);
    }

    [Fact]
    public void WindowedAveragesMatchAMeanOverRandomRows()
    {
        using var g = new Generator(3);
        using var x = torch.randn(new long[] { 20, 7 }, ScalarType.Float64, generator: g);
        using var w = CheckpointAverages.Windowed(x, 6, stride: 4);
        Assert.Equal(4, w.size(0));                                       // starts 0, 4, 8, 12
        for (var i = 0; i < 4; i++)
        {
            using var expected = x.narrow(0, 4 * i, 6).mean(new long[] { 0 });
            using var row = w[i];
            Assert.True(row.allclose(expected, rtol: 0, atol: 1e-12), $"window {i}");
        }
    }

    [Fact]
    public void BadWindowsAreRefusedNamingTheArgument()
    {
        using var x = torch.zeros(4, 3);
        Assert.Equal("window", Assert.Throws<ArgumentOutOfRangeException>(() => CheckpointAverages.Windowed(x, 0)).ParamName);
        Assert.Equal("window", Assert.Throws<ArgumentOutOfRangeException>(() => CheckpointAverages.Windowed(x, 5)).ParamName);
        Assert.Equal("stride", Assert.Throws<ArgumentOutOfRangeException>(() => CheckpointAverages.Windowed(x, 2, 0)).ParamName);
        using var flat = torch.zeros(12);
        var e = Assert.Throws<ArgumentException>(() => CheckpointAverages.Windowed(flat, 2));
        Assert.Equal("checkpoints", e.ParamName);
        Assert.Contains("[12]", e.Message);
    }
}

public class LatentMixerTests
{
    // A linear encoder and a non-linear decoder: interpolating latents is then not the same as interpolating decodes.
    sealed class Toy : IDisposable
    {
        public readonly Tensor Encoder, Decoder;
        public readonly LatentMixer Mixer;

        public Toy()
        {
            using var g = new Generator(11);
            Encoder = torch.randn(new long[] { 5, 3 }, ScalarType.Float64, generator: g);
            Decoder = torch.randn(new long[] { 3, 5 }, ScalarType.Float64, generator: g);
            Mixer = new LatentMixer(v => v.matmul(Encoder), z => z.matmul(Decoder).tanh());
        }

        public void Dispose() { Encoder.Dispose(); Decoder.Dispose(); }
    }

    [Fact]
    public void InterpolationAtZeroAndOneReturnsTheEndpointsDecodes()
    {
        using var toy = new Toy();
        var (mixer, b) = (toy.Mixer, toy.Decoder);
        using var g = new Generator(5);
        using var va = torch.randn(new long[] { 4, 5 }, ScalarType.Float64, generator: g);
        using var vb = torch.randn(new long[] { 4, 5 }, ScalarType.Float64, generator: g);
        using var za = mixer.Encode(va);
        using var zb = mixer.Encode(vb);
        using var da = mixer.Decode(za);
        using var db = mixer.Decode(zb);
        using var at0 = mixer.Interpolate(za, zb, 0);
        using var at1 = mixer.Interpolate(za, zb, 1);
        Assert.Equal(da.data<double>().ToArray(), at0.data<double>().ToArray());
        Assert.Equal(db.data<double>().ToArray(), at1.data<double>().ToArray());

        using var half = mixer.Interpolate(za, zb, 0.5);
        using var mid = za.add(zb).div(2).matmul(b).tanh();
        Assert.True(half.allclose(mid, rtol: 0, atol: 1e-12));
        using var meanOfDecodes = da.add(db).div(2);
        Assert.False(half.allclose(meanOfDecodes, rtol: 0, atol: 1e-3));   // the mixing happens in latent space
        using var beyond = mixer.Interpolate(za, zb, 2);                      // extrapolation: 2·z_b − z_a
        using var expected = zb.mul(2).sub(za).matmul(b).tanh();
        Assert.True(beyond.allclose(expected, rtol: 0, atol: 1e-12));
    }

    [Fact]
    public void LatentAveragesDecodeTheMeanOfDistinctRandomLatents()
    {
        using var toy = new Toy();
        var (mixer, b) = (toy.Mixer, toy.Decoder);
        using var g = new Generator(6);
        using var z = torch.randn(new long[] { 10, 3 }, ScalarType.Float64, generator: g);
        using var mix = mixer.Average(z, count: 7, of: 4, seed: 9);
        Assert.Equal(new long[] { 7, 5 }, mix.Vectors.shape);
        Assert.Equal(7, mix.Sources.Count);
        for (var i = 0; i < 7; i++)
        {
            var src = mix.Sources[i];
            Assert.Equal(4, src.Distinct().Count());
            Assert.All(src, s => Assert.InRange(s, 0, 9));
            using var idx = torch.tensor(src.Select(s => (long)s).ToArray());
            using var expected = z.index_select(0, idx).mean(new long[] { 0 }, keepdim: true).matmul(b).tanh();
            using var row = mix.Vectors.narrow(0, i, 1);
            Assert.True(row.allclose(expected, rtol: 0, atol: 1e-12), $"model {i}");
        }
        using var again = mixer.Average(z, 7, 4, 9);
        Assert.Equal(mix.Vectors.data<double>().ToArray(), again.Vectors.data<double>().ToArray());                      // same seed, same draws
        using var all = mixer.Average(z, 2, 10, 1);                           // every latent: both models equal
        Assert.True(all.Vectors[0].allclose(all.Vectors[1], rtol: 0, atol: 1e-12));
    }

    [Fact]
    public void BadInputIsRefusedNamingTheArgument()
    {
        using var toy = new Toy();
        var (mixer, b) = (toy.Mixer, toy.Decoder);
        using var z3 = torch.zeros(new long[] { 2, 3 }, ScalarType.Float64);
        using var z4 = torch.zeros(new long[] { 2, 4 }, ScalarType.Float64);
        Assert.Equal("latentsB", Assert.Throws<ArgumentException>(() => mixer.Interpolate(z3, z4, 0.5)).ParamName);
        Assert.Equal("alpha", Assert.Throws<ArgumentOutOfRangeException>(() => mixer.Interpolate(z3, z3, double.NaN)).ParamName);
        Assert.Equal("of", Assert.Throws<ArgumentOutOfRangeException>(() => mixer.Average(z3, 1, 3, 0)).ParamName);
        Assert.Equal("count", Assert.Throws<ArgumentOutOfRangeException>(() => mixer.Average(z3, 0, 1, 0)).ParamName);
        using var flat = torch.zeros(5);
        Assert.Equal("vectors", Assert.Throws<ArgumentException>(() => mixer.Encode(flat)).ParamName);
        var broken = new LatentMixer(v => v.sum(), z => z);
        using var v2 = torch.zeros(2, 5);
        Assert.Throws<InvalidOperationException>(() => broken.Encode(v2));
        Assert.Throws<ArgumentNullException>(() => new LatentMixer(null!, z => z));
    }
}

public class GroupNoveltyTests
{
    static WrongSet Bits(int length, params int[] wrong)
    {
        var flags = new bool[length];
        foreach (var i in wrong) flags[i] = true;
        return WrongSet.FromBools(flags);
    }

    [Fact]
    public void MaxIouOnATinyConstructedExample()
    {
        var originals = new[] { Bits(8, 0, 1), Bits(8, 2, 3), Bits(8, 0) };
        var candidates = new[] { Bits(8, 0, 1, 2), Bits(8, 5, 6), Bits(8, 2, 3) };
        var m = GroupNovelty.MaxIou(originals, candidates);
        // {0,1,2}: 2/3 with {0,1}, 1/4 with {2,3}, 1/3 with {0}. {5,6}: 0 with all (first index wins). {2,3}: itself.
        Assert.Equal(new[] { 2.0 / 3, 0, 1 }, m.Value);
        Assert.Equal(new[] { 0, 0, 1 }, m.NearestOriginal);
        // Leave-one-out among the originals: {0,1} vs {2,3} 0, vs {0} 1/2; {2,3}: 0 everywhere; {0} vs {0,1}: 1/2.
        var own = GroupNovelty.MaxIou(originals, originals, leaveOneOut: true);
        Assert.Equal(new[] { 0.5, 0, 0.5 }, own.Value);
        Assert.Equal(new[] { 2, 0, 0 }, own.NearestOriginal);
        Assert.Equal("candidates", Assert.Throws<ArgumentException>(() => GroupNovelty.MaxIou(originals, candidates.Take(2).ToList(), leaveOneOut: true)).ParamName);
        Assert.Equal("originals", Assert.Throws<ArgumentException>(() => GroupNovelty.MaxIou(Array.Empty<WrongSet>(), candidates)).ParamName);
    }

    [Fact]
    public void CopiesOfOriginalsAreFoundAndFarVectorsAreNot()
    {
        using var problem = new LinearProblem();
        using var originals = problem.Originals(6);
        using var copies = originals.narrow(0, 2, 3).clone();
        using var far = originals.narrow(0, 0, 2).add(5.0);
        var rows = GroupNovelty.Measure(problem, originals, new[] { ("copies", copies), ("far", far) });
        Assert.Equal(6 + 3 + 2, rows.Count);
        var c = rows.Where(r => r.Group == "copies").ToList();
        Assert.All(c, r => Assert.Equal(1.0, r.MaxIouToOriginals));
        Assert.Equal(new[] { 2, 3, 4 }, c.Select(r => r.NearestByL2));
        Assert.All(c, r => Assert.Equal(0.0, r.MinL2ToOriginals, 6));
        var f = rows.Where(r => r.Group == "far").ToList();
        Assert.All(f, r => Assert.True(r.MinL2ToOriginals > 5, $"min L2 {r.MinL2ToOriginals}"));
        // Originals are measured leave-one-out: never their own distance 0.
        Assert.All(rows.Where(r => r.Group == GroupNovelty.Originals), r => Assert.True(r.MinL2ToOriginals > 0));
        var summary = GroupNovelty.Summarise(rows);
        Assert.Equal(new[] { GroupNovelty.Originals, "copies", "far" }, summary.Select(s => s.Group));
        Assert.Equal(1.0, summary[1].MeanMaxIou);
        Assert.Equal(c.Average(r => r.TestAcc), summary[1].TestMean, 12);
    }

    [Fact]
    public void BadGroupsAreRefusedNamingTheArgument()
    {
        using var problem = new LinearProblem();
        using var originals = problem.Originals(3);
        using var wrongWidth = torch.zeros(2, 5);
        Assert.Equal("groups", Assert.Throws<ArgumentException>(() => GroupNovelty.Measure(problem, originals, new[] { ("x", wrongWidth) })).ParamName);
        Assert.Equal("groups", Assert.Throws<ArgumentException>(() => GroupNovelty.Measure(problem, originals, new[] { (GroupNovelty.Originals, originals) })).ParamName);
        Assert.Equal("groups", Assert.Throws<ArgumentException>(() => GroupNovelty.Measure(problem, originals, new[] { ("a", originals), ("a", originals) })).ParamName);
        using var one = originals.narrow(0, 0, 1);
        Assert.Equal("originals", Assert.Throws<ArgumentException>(() => GroupNovelty.Measure(problem, one, Array.Empty<(string, Tensor)>())).ParamName);
    }
}

public class BeyondReportTests
{
    // Three seeds of group means: (test accuracy, mean max IoU, mean min L2) per group.
    static BeyondSeed Seed(int s, params (string Group, double Acc, double Iou, double L2)[] groups) =>
        new(s, Array.Empty<NoveltyRow>(), groups.Select(g => new NoveltyGroup(g.Group, 10, g.Acc, g.Acc, 0.001, g.Iou, g.L2)).ToList(),
            new Dictionary<string, double>(), Array.Empty<string>());

    static IReadOnlyList<BeyondSeed> ThreeSeeds() => Enumerable.Range(0, 3).Select(s =>
    {
        var shift = 0.002 * s;   // seeds differ; the paired differences do not (up to a little noise)
        return Seed(s,
            ("average16", 0.870 + shift, 0.93, 1.0), ("gaussian", 0.869 + shift, 0.92, 2.4),
            (BeyondBaselines.SwaPDiff, 0.875 + shift + 0.0002 * s, 0.90, 2.5),          // better on every axis
            (BeyondBaselines.FineTuned, 0.876 + shift - 0.0001 * s, 0.95, 0.5),         // more accurate, but closer
            (BeyondBaselines.LatentAverageOriginals, 0.870 + shift + (s == 1 ? 0.003 : -0.002), 0.90, 3.0)); // as accurate
    }).ToList();

    [Fact]
    public void VerdictsFollowTheIntervalsAndTheNoveltyCriterion()
    {
        var r = new BeyondReport(ThreeSeeds(), "average16");
        Assert.True(r.Verdict(BeyondBaselines.SwaPDiff, "average16").Beats);
        Assert.True(r.Verdict(BeyondBaselines.SwaPDiff, "gaussian").Beats);
        var ft = r.Verdict(BeyondBaselines.FineTuned, "average16");
        Assert.True(ft.MoreAccurate);
        Assert.True(ft.Closer);        // max IoU +0.02 on every seed: higher
        Assert.False(ft.Beats);
        Assert.Equal("does not beat it: accuracy higher, but closer to the originals", ft.Conclusion);
        var la = r.Verdict(BeyondBaselines.LatentAverageOriginals, "average16");
        Assert.Equal(DifferenceVerdict.Indistinguishable, la.AccuracyVerdict);
        Assert.False(la.Beats);
        Assert.Contains("[headline] mean test accuracy of the latent mean of originals is indistinguishable from that of the average of 16: ", r.Sentence(la));
        Assert.EndsWith("→ the latent mean of originals does not beat it: accuracy indistinguishable.", r.Sentence(la));
        Assert.Equal(new[] { BeyondBaselines.SwaPDiff }, r.Winners);
        Assert.Equal(3 * 2, r.Verdicts.Count);   // three candidates present × two baselines
        Assert.Equal(0.005, r.Verdict(BeyondBaselines.SwaPDiff, "average16").Accuracy.Difference.Mean, 3);
        // The family: the six candidate accuracies are headline; the 12 novelty comparisons exploratory (no p-diff group here).
        Assert.Equal(6, r.Family.Headline.Count);
        Assert.Equal(12, r.Family.Exploratory.Count);
        var chart = r.AccuracyVsMaxIou();
        Assert.Equal(5, chart.Data.Count);
    }

    [Fact]
    public void HolmAndTheNoveltyIntervalsDecideNotTheRawIntervalOrAPointEstimate()
    {
        // Latent mean of originals − average of 16 = {+0.02, +0.03, +0.04} pt: raw p = 0.0351 (interval above 0), but five
        // other headline p-values lie below it, four of them near 0 (SWA and fine-tune, against both baselines) and one at 1
        // (latent mean − Gaussian = {−0.01, 0, +0.01} pt), so Holm multiplies it by 2: 0.0702, not "higher".
        // Its max IoU − the average's is {+0.01, −0.01, +0.005}: a positive mean, but the interval spans 0, so not closer.
        var seeds = Enumerable.Range(0, 3).Select(s =>
        {
            var shift = 0.002 * s;
            var la = 0.870 + shift + 0.0002 + 0.0001 * s;
            return Seed(s,
                ("average16", 0.870 + shift, 0.93, 1.0), ("gaussian", 0.8703 + shift, 0.92, 2.4),
                (BeyondBaselines.SwaPDiff, 0.875 + shift + 0.0002 * s, 0.90, 2.5),
                (BeyondBaselines.FineTuned, 0.876 + shift - 0.0001 * s, 0.95, 0.5),
                (BeyondBaselines.LatentAverageOriginals, la, new[] { 0.94, 0.92, 0.935 }[s], 3.0));
        }).ToList();
        var r = new BeyondReport(seeds, "average16");
        var v = r.Verdict(BeyondBaselines.LatentAverageOriginals, "average16");
        Assert.Equal(DifferenceVerdict.Higher, v.Accuracy.Verdict);
        Assert.Equal(1 - 3 * Math.Sqrt(3) / Math.Sqrt(29), v.Accuracy.Difference.P, 6);
        Assert.Equal(2 * v.Accuracy.Difference.P, r.Family.HolmP(v.Accuracy), 12);
        Assert.Equal(DifferenceVerdict.Indistinguishable, v.AccuracyVerdict);
        Assert.False(v.MoreAccurate);
        Assert.True(v.MaxIou.Difference.Mean > 0);
        Assert.Equal(DifferenceVerdict.Indistinguishable, v.MaxIou.Verdict);
        Assert.True(v.NoCloser);
        Assert.False(v.Beats);
        var csv = r.ToDifferencesFrame();
        var row = Enumerable.Range(0, (int)csv.Rows.Count).Single(i => (string)csv["candidate"][i] == BeyondBaselines.LatentAverageOriginals
            && (string)csv["baseline"][i] == "average16" && (string)csv["quantity"][i] == "test_acc");
        Assert.Equal("higher", csv["verdict"][row]);
        Assert.Equal("headline", csv["role"][row]);
        Assert.Equal("indistinguishable", csv["family_verdict"][row]);
        Assert.Equal(r.Family.HolmP(v.Accuracy), (double)csv["holm_p"][row]!, 12);
        Assert.Equal("exploratory", csv["role"][row + 1]);
        Assert.True(double.IsNaN((double)csv["holm_p"][row + 1]!));
        Assert.Equal(new[] { BeyondBaselines.SwaPDiff }, r.Winners);
        Assert.StartsWith("Reading: SWA p-diff beats both the average of 16 and the per-coordinate Gaussian over 3 seeds", BeyondReading.Conclusion(r));
        var none = new BeyondReport(seeds.Select(x => x with { Groups = x.Groups.Where(g => g.Group != BeyondBaselines.SwaPDiff).ToList() }).ToList(), "average16");
        Assert.StartsWith("Reading: no candidate beats both the average of 16 and the per-coordinate Gaussian over 3 seed(s)", BeyondReading.Conclusion(none));
    }

    [Fact]
    public void AReportWithoutTheBaselinesIsRefused()
    {
        var seeds = new[] { Seed(0, ("average16", 0.87, 0.9, 1.0), (BeyondBaselines.SwaPDiff, 0.88, 0.9, 1.0)) };
        Assert.Equal("seeds", Assert.Throws<ArgumentException>(() => new BeyondReport(seeds, "average16")).ParamName);
        Assert.Equal("PerGroup", Assert.Throws<ArgumentOutOfRangeException>(() => new BeyondOptions { PerGroup = 1 }.Validate()).ParamName);
    }
}
