using PDiff.Evaluation;
using PDiff.Zoo;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PDiff.Tests.Evaluation;

public class BaselineTests
{
    // A BatchNorm-like subset: weight, bias, running_var and a one-element tensor that V2 leaves alone.
    static readonly SubsetLayout BnLayout = new(new[]
    {
        new TensorSpec("bn.weight", new long[] { 1500 }),
        new TensorSpec("bn.bias", new long[] { 1500 }),
        new TensorSpec("bn.running_var", new long[] { 1500 }),
        new TensorSpec("bn.scale", new long[] { 1 }),
    });

    static Tensor BnOriginals(int k, ulong seed = 3)
    {
        using var g = new Generator(seed);
        using var w = torch.randn(new long[] { k, 1500 }, generator: g).mul(0.2).add(1.0);
        using var b = torch.randn(new long[] { k, 1500 }, generator: g).mul(0.05);
        using var v = torch.rand(new long[] { k, 1500 }, generator: g).mul(2.0).add(0.1);
        using var s = torch.full(new long[] { k, 1 }, 7.0);
        return torch.cat(new[] { w, b, v, s }, 1);
    }

    static double[] Col(Tensor t, int row, long start, long len)
    {
        using var r = t[row];
        using var s = r.narrow(0, start, len);
        using var d = s.to(ScalarType.Float64);
        return d.data<double>().ToArray();
    }

    static double Std(double[] x)
    {
        var m = x.Average();
        return Math.Sqrt(x.Sum(v => (v - m) * (v - m)) / (x.Length - 1));
    }

    [Fact]
    public void RelativeNoiseAtZeroSigmaIsIdentity()
    {
        using var o = BnOriginals(5);
        using var g = Baselines.RelativeNoise(o, BnLayout, 0.0, 5, seed: 11);
        Assert.Equal("relnoise_0", g.Name);
        for (var i = 0; i < 5; i++)
        {
            var src = g.Sources[i].Single();
            var a = Col(g.Vectors, i, 0, BnLayout.Length);
            var b = Col(o, src, 0, BnLayout.Length);
            for (var j = 0; j < a.Length; j++) Assert.Equal(b[j], a[j], 5);   // running_var through log and exp: float32 rounding only
        }
        // Five picks from five originals: a permutation.
        Assert.Equal(Enumerable.Range(0, 5), g.Sources.Select(s => s[0]).OrderBy(v => v));
    }

    [Fact]
    public void RelativeNoiseScalesWithEachTensorsOwnStd()
    {
        const double sigma = 0.05;
        using var o = BnOriginals(4);
        using var g = Baselines.RelativeNoise(o, BnLayout, sigma, 4, seed: 12);
        for (var i = 0; i < 4; i++)
        {
            var src = g.Sources[i][0];
            foreach (var (start, name) in new[] { (0L, "weight"), (1500L, "bias") })
            {
                var before = Col(o, src, start, 1500);
                var after = Col(g.Vectors, i, start, 1500);
                var unit = sigma * Std(before);
                var z = before.Zip(after, (x, y) => (y - x) / unit).ToArray();
                Assert.InRange(Std(z), 0.93, 1.07);            // N(0, 1) in the tensor's own z-score units
                Assert.InRange(Math.Abs(z.Average()), 0, 0.1);
            }
            // running_var: noise in log space, so it stays positive and ≥ 0.001·0.95·mean.
            var rv = Col(g.Vectors, i, 3000, 1500);
            var p = 0.95 * Col(o, src, 3000, 1500).Average();
            Assert.All(rv, v => Assert.True(v >= 0.001 * p * 0.9999));
            Assert.NotEqual(Col(o, src, 3000, 1500), rv);
            Assert.Equal(7.0, Col(g.Vectors, i, 4500, 1)[0]);   // one-element tensor untouched
        }
    }

    [Fact]
    public void PicksCycleThroughASeededPermutation()
    {
        using var o = BnOriginals(3);
        using var g = Baselines.RelativeNoise(o, BnLayout, 0.01, 7, seed: 5);
        var s = g.Sources.Select(x => x[0]).ToArray();
        Assert.Equal(Enumerable.Range(0, 3), s.Take(3).OrderBy(v => v));
        Assert.Equal(s.Take(3).Concat(s.Take(3)).Append(s[0]), s);
        using var again = Baselines.RelativeNoise(o, BnLayout, 0.01, 7, seed: 5);
        Assert.Equal(g.Vectors.data<float>().ToArray(), again.Vectors.data<float>().ToArray());   // same seed, same bits
        using var other = Baselines.RelativeNoise(o, BnLayout, 0.01, 7, seed: 6);
        Assert.NotEqual(g.Vectors.data<float>().ToArray(), other.Vectors.data<float>().ToArray());
    }

    [Fact]
    public void AbsoluteNoiseHasTheRequestedStdAndHandlesRunningVarExplicitly()
    {
        using var o = BnOriginals(6);
        var ex = Assert.Throws<ArgumentException>(() => Baselines.AbsoluteNoise(o, BnLayout, 0.06, 6, seed: 1));
        Assert.Contains("bn.running_var", ex.Message);
        Assert.Contains("LeaveUnchanged", ex.Message);

        using var g = Baselines.AbsoluteNoise(o, BnLayout, 0.12, 6, seed: 1, RunningVarPolicy.LeaveUnchanged);
        Assert.Equal("absnoise_0.12", g.Name);
        var diffs = new List<double>();
        for (var i = 0; i < 6; i++)
        {
            var src = g.Sources[i][0];
            diffs.AddRange(Col(g.Vectors, i, 0, 3000).Zip(Col(o, src, 0, 3000), (a, b) => a - b));
            Assert.Equal(Col(o, src, 3000, 1500), Col(g.Vectors, i, 3000, 1500));   // running_var bit for bit
        }
        Assert.InRange(Std(diffs.ToArray()), 0.12 * 0.97, 0.12 * 1.03);
        Assert.InRange(diffs.Average(), -0.005, 0.005);

        var plain = new SubsetLayout(new[] { new TensorSpec("w", new long[] { 4501 }) });
        using var h = Baselines.AbsoluteNoise(o, plain, 0.06, 2, seed: 1);                  // no running_var: Reject is fine
        Assert.Equal(2, h.Count);
    }

    [Fact]
    public void AverageIsTheMeanOfDistinctRecordedOriginals()
    {
        using var gen = new Generator(8);
        using var o = torch.randn(new long[] { 20, 12 }, generator: gen);
        using var g = Baselines.Average(o, count: 5, of: 16, seed: 9);
        Assert.Equal("average16", g.Name);
        var all = o.data<float>().ToArray();
        for (var i = 0; i < 5; i++)
        {
            var src = g.Sources[i];
            Assert.Equal(16, src.Length);
            Assert.Equal(16, src.Distinct().Count());
            Assert.All(src, s => Assert.InRange(s, 0, 19));
            var row = Col(g.Vectors, i, 0, 12);
            for (var j = 0; j < 12; j++)
                Assert.Equal(src.Average(s => (double)all[s * 12 + j]), row[j], 5);
        }
        Assert.NotEqual(g.Sources[0].OrderBy(v => v), g.Sources[1].OrderBy(v => v));
        Assert.Throws<ArgumentOutOfRangeException>(() => Baselines.Average(o, 5, of: 21));
    }

    [Fact]
    public void GaussianSamplesMatchTheFittedMoments()
    {
        // Originals with known, different per-coordinate means and spreads.
        using var gen = new Generator(10);
        using var z = torch.randn(new long[] { 30, 4 }, generator: gen);
        using var scale = torch.tensor(new float[] { 0.1f, 1f, 3f, 0.01f });
        using var shift = torch.tensor(new float[] { 5f, -1f, 0f, 0.5f });
        using var o = z.mul(scale).add(shift);
        using var g = Baselines.Gaussian(o, count: 6000, seed: 4);
        using var od = o.to(ScalarType.Float64);
        using var fitMean = od.mean(new long[] { 0 });
        using var fitStd = od.std(new long[] { 0 }, unbiased: true);
        using var gd = g.Vectors.to(ScalarType.Float64);
        using var sMean = gd.mean(new long[] { 0 });
        using var sStd = gd.std(new long[] { 0 });
        var (fm, fs, sm, ss) = (fitMean.data<double>().ToArray(), fitStd.data<double>().ToArray(), sMean.data<double>().ToArray(), sStd.data<double>().ToArray());
        for (var j = 0; j < 4; j++)
        {
            Assert.InRange(sm[j] - fm[j], -4 * fs[j] / Math.Sqrt(6000), 4 * fs[j] / Math.Sqrt(6000));
            Assert.InRange(ss[j] / fs[j], 0.96, 1.04);
        }
        Assert.All(g.Sources, s => Assert.Empty(s));
    }

    [Fact]
    public void WeightAverageIsTheElementwiseMean()
    {
        using var o = torch.tensor(new float[] { 1, 2, 3, 4, 5, 9 }, 3, 2);
        using var e = Baselines.WeightAverage(o);
        Assert.Equal(new long[] { 1, 2 }, e.shape);
        Assert.Equal(new float[] { 3, 5 }, e.data<float>().ToArray());
    }

    [Fact]
    public void FineTunedContinuesTrainingFromRecordedOriginalsReproducibly()
    {
        using var p = new LinearProblem();
        using var o = p.Originals(6);
        using var g = Baselines.FineTuned(o, p.FineTune, count: 3, steps: 5, seed: 21);
        Assert.Equal(3, g.Count);
        var seeds = (ulong[])g.Settings["model_seeds"];
        // Re-running the recipe from the recorded original with the recorded seed gives the same vector.
        using var start = o[g.Sources[0][0]].clone();
        using var gi = new Generator(seeds[0]);
        using var again = p.FineTune(start, 5, gi);
        Assert.Equal(again.data<float>().ToArray(), Col(g.Vectors, 0, 0, p.Layout.Length).Select(v => (float)v));
        Assert.NotEqual(start.data<float>().ToArray(), again.data<float>().ToArray());   // it really trained

        var ex = Assert.Throws<InvalidOperationException>(() => Baselines.FineTuned(o, (v, s, r) => torch.zeros(2), 1, 1, 0));
        Assert.Contains("must return", ex.Message);
    }

    [Fact]
    public void LayoutMismatchIsReported()
    {
        using var o = torch.zeros(3, 10);
        var ex = Assert.Throws<ArgumentException>(() => Baselines.RelativeNoise(o, BnLayout, 0.1, 1, 0));
        Assert.Contains("4501", ex.Message);
    }
}
