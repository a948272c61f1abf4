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
        Assert.True(r.Compare(BeyondBaselines.SwaPDiff, "average16").Beats);
        Assert.True(r.Compare(BeyondBaselines.SwaPDiff, "gaussian").Beats);
        var ft = r.Compare(BeyondBaselines.FineTuned, "average16");
        Assert.True(ft.MoreAccurate);
        Assert.False(ft.NoCloser);
        Assert.False(ft.Beats);
        var la = r.Compare(BeyondBaselines.LatentAverageOriginals, "average16");
        Assert.Equal(DifferenceVerdict.Indistinguishable, la.Accuracy.Verdict);
        Assert.False(la.Beats);
        Assert.Contains("indistinguishable", la.Sentence());
        Assert.Equal(new[] { BeyondBaselines.SwaPDiff }, r.Winners);
        Assert.Equal(3 * 2, r.Verdicts.Count);   // three candidates present × two baselines
        Assert.Equal(0.005, r.Compare(BeyondBaselines.SwaPDiff, "average16").Accuracy.Mean, 3);
        var chart = r.AccuracyVsMaxIou();
        Assert.Equal(5, chart.Data.Count);
    }

    [Fact]
    public void AReportWithoutTheBaselinesIsRefused()
    {
        var seeds = new[] { Seed(0, ("average16", 0.87, 0.9, 1.0), (BeyondBaselines.SwaPDiff, 0.88, 0.9, 1.0)) };
        Assert.Equal("seeds", Assert.Throws<ArgumentException>(() => new BeyondReport(seeds, "average16")).ParamName);
        Assert.Equal("PerGroup", Assert.Throws<ArgumentOutOfRangeException>(() => new BeyondOptions { PerGroup = 1 }.Validate()).ParamName);
    }
}
