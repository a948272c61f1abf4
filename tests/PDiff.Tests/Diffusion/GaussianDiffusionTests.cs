using PDiff.Diffusion;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PDiff.Tests.Diffusion;

public class GaussianDiffusionTests
{
    // T = 3, β = 0.1, 0.2, 0.3 → ᾱ = 0.9, 0.72, 0.504. Expected values worked out by hand from the
    // formulas in the reference (§3.1 / §3.2), to 9 digits.
    static GaussianDiffusion Tiny() => new(3, 0.1, 0.3);
    static Tensor V(params float[] v) => torch.tensor(v, 1, v.Length);

    static void Near(double[] expected, Tensor actual, double tol = 1e-6)
    {
        var a = actual.reshape(-1).to(ScalarType.Float64).data<double>().ToArray();
        Assert.Equal(expected.Length, a.Length);
        for (var i = 0; i < a.Length; i++) Assert.True(Math.Abs(expected[i] - a[i]) < tol, $"element {i}: expected {expected[i]}, got {a[i]}");
    }

    [Fact]
    public void LinearScheduleMatchesTheReference()
    {
        using var d = new GaussianDiffusion();
        Assert.Equal(1000, d.T);
        Assert.Equal(1e-4, d.Betas[0], 12);
        Assert.Equal(2e-2, d.Betas[999], 12);
        Assert.Equal(1e-4 + (2e-2 - 1e-4) * 500 / 999, d.Betas[500], 12);
        Assert.Equal((1 - 1e-4) * (1 - d.Betas[1]), d.AlphaBars[1], 12);
        Assert.Equal(1.0, d.AlphaBar(-1));
        Assert.InRange(d.AlphaBars[999], 3e-5, 5e-5);  // ≈ 4.04e-5 for linear 1e-4 → 2e-2
        using var t = new GaussianDiffusion(3, 0.1, 0.3);
        Assert.Equal(new[] { 0.9, 0.72, 0.504 }, t.AlphaBars.Select(a => Math.Round(a, 12)));
    }

    [Fact]
    public void ForwardNoisingIsSqrtAbarX0PlusSqrtOneMinusAbarEps()
    {
        using var d = Tiny();
        using var x0 = torch.tensor(new float[] { 0.5f, -2f, 0.5f, -2f }, 2, 2);
        using var eps = torch.tensor(new float[] { 0.5f, 0.25f, 0.5f, 0.25f }, 2, 2);
        using var t = torch.tensor(new long[] { 1, 2 });
        using var xt = d.QSample(x0, t, eps);
        // row 0 at t = 1: √0.72·x0 + √0.28·ε; row 1 at t = 2: √0.504·x0 + √0.496·ε
        Near(new[] { 0.688839200, -1.564768709, Math.Sqrt(0.504) * 0.5 + Math.Sqrt(0.496) * 0.5, Math.Sqrt(0.504) * -2 + Math.Sqrt(0.496) * 0.25 }, xt);
    }

    [Fact]
    public void DdpmFixedSmallStepMatchesHandComputation()
    {
        using var d = Tiny();
        using var xt = V(0.5f, -2f);
        using var eps = V(0.5f, 0.25f);
        using var z = V(0.2f, -0.1f);
        using var next = d.DdpmStep(xt, 2, eps, z, DdpmVariance.FixedSmall, null);
        Near(new[] { 0.425353206, -2.558893257 }, next);
    }

    [Fact]
    public void DdpmFixedLargeClippedStepMatchesHandComputation()
    {
        using var d = Tiny();
        using var xt = V(0.5f, -2f);
        using var eps = V(0.5f, 0.25f);
        using var z = V(0.2f, -0.1f);
        using var x0 = d.PredictX0(xt, 2, eps, 1.0);
        Near(new[] { 0.208279340, -1.0 }, x0);
        using var next = d.DdpmStep(xt, 2, eps, z, DdpmVariance.FixedLarge, 1.0);
        Near(new[] { 0.452592229, -1.0 }, next);
    }

    [Fact]
    public void DdpmLastStepAddsNoNoise()
    {
        using var d = Tiny();
        using var xt = V(0.5f, -2f);
        using var eps = V(0.5f, 0.25f);
        using var next = d.DdpmStep(xt, 0, eps, null, DdpmVariance.FixedSmall, null);
        // t = 0: (x − β₀/√(1−ᾱ₀)·ε)/√α₀ = x̂₀ exactly
        Near(new[] { (0.5 - 0.1 / Math.Sqrt(0.1) * 0.5) / Math.Sqrt(0.9), (-2 - 0.1 / Math.Sqrt(0.1) * 0.25) / Math.Sqrt(0.9) }, next);
    }

    [Fact]
    public void DdimStepMatchesHandComputation()
    {
        using var d = Tiny();
        using var xt = V(0.5f, -2f);
        using var eps = V(0.5f, 0.25f);
        using var z = V(0.2f, -0.1f);
        using var next = d.DdimStep(xt, 2, 0, eps, 0.5, z, null);
        Near(new[] { 0.366858795, -2.853043744 }, next);
        // to the clean end (ᾱ = 1) DDIM returns x̂₀ whatever η is
        using var end = d.DdimStep(xt, 2, -1, eps, 1.0, z, null);
        using var x0 = d.PredictX0(xt, 2, eps, null);
        Assert.True(end.allclose(x0, 1e-6, 1e-6));
    }

    [Fact]
    public void DdimWithEveryStepAndEtaOneIsDdpmFixedSmall()
    {
        using var d = new GaussianDiffusion(10, 1e-3, 0.2);
        using var g = new Generator(3);
        using var xt = torch.randn(new long[] { 4, 6 }, generator: g);
        using var eps = torch.randn(new long[] { 4, 6 }, generator: g);
        using var z = torch.randn(new long[] { 4, 6 }, generator: g);
        foreach (var t in new[] { 9, 5, 1 })
        {
            using var a = d.DdpmStep(xt, t, eps, z, DdpmVariance.FixedSmall, null);
            using var b = d.DdimStep(xt, t, t - 1, eps, 1.0, z, null);
            Assert.True(a.allclose(b, 1e-5, 1e-5), $"t = {t}");
        }
    }

    [Fact]
    public void DdimSpacingStartsAtTheLastStepAndEndsAtTheCleanEnd()
    {
        using var d = new GaussianDiffusion();
        var ts = d.DdimTimesteps(60);
        Assert.Equal(60, ts.Length);
        Assert.Equal(999, ts[0]);                       // V2's spacing starts at 945 (§8-29)
        Assert.All(ts.Zip(ts.Skip(1)), p => Assert.True(p.First > p.Second));
        Assert.InRange(ts[^1], 0, 1000 / 60);           // the sampler's last step goes to ᾱ = 1
        Assert.Equal(Enumerable.Range(0, 1000).Reverse(), d.DdimTimesteps(1000));
        Assert.Throws<ArgumentOutOfRangeException>(() => d.DdimTimesteps(1001));
    }

    /// <summary>Knows x₀ and returns the very noise that turns x₀ into x_t.</summary>
    sealed class Oracle : Denoiser
    {
        readonly Tensor x0;
        readonly GaussianDiffusion d;
        public int Calls;
        public Oracle(Tensor x0, GaussianDiffusion d) : base(x0.size(1)) => (this.x0, this.d) = (x0, d);

        public override Tensor forward(Tensor x, Tensor t)
        {
            Calls++;
            var ts = t.data<long>().ToArray();
            Assert.All(ts, v => Assert.Equal(ts[0], v));
            var ab = d.AlphaBars[ts[0]];
            using var s = x0.mul(Math.Sqrt(ab));
            using var diff = x.sub(s);
            return diff.mul(1 / Math.Sqrt(1 - ab));
        }
    }

    [Theory]
    [InlineData(SamplerKind.Ddpm, DdpmVariance.FixedSmall, 0.0, 0.0)]
    [InlineData(SamplerKind.Ddpm, DdpmVariance.FixedLarge, 0.0, 0.0)]
    [InlineData(SamplerKind.Ddpm, DdpmVariance.FixedLarge, 1.0, 0.0)]
    [InlineData(SamplerKind.Ddim, DdpmVariance.FixedSmall, 0.0, 0.0)]
    [InlineData(SamplerKind.Ddim, DdpmVariance.FixedSmall, 0.0, 0.7)]
    public void AnOracleDenoiserLeadsEverySamplerBackToX0(SamplerKind kind, DdpmVariance variance, double clip, double eta)
    {
        using var d = new GaussianDiffusion();
        using var g = new Generator(11);
        using var x0 = torch.rand(new long[] { 5, 12 }, generator: g).mul(1.6).add(-0.8);
        using var oracle = new Oracle(x0, d);
        var opts = new SamplerOptions(kind, variance, clip > 0 ? clip : null, 25, eta);
        using var x = Sampler.Sample(d, oracle, 5, opts, g);
        Assert.Equal(kind == SamplerKind.Ddpm ? 1000 : 25, oracle.Calls);
        Assert.True(x.allclose(x0, 1e-3, 1e-3), $"max error {x.sub(x0).abs().max().item<float>()}");
    }

    [Fact]
    public void TrainingLossIsEpsilonMse()
    {
        using var d = new GaussianDiffusion(50);
        using var g = new Generator(1);
        using var x0 = torch.randn(new long[] { 64, 8 }, generator: g);
        // A zero predictor's loss is the mean of ε² over 512 draws, ≈ 1.
        using var zero = new ZeroDenoiser(8);
        using var loss = d.TrainingLoss(zero, x0, g);
        Assert.InRange(loss.item<float>(), 0.8, 1.2);
    }

    sealed class ZeroDenoiser(long n) : Denoiser(n)
    {
        public override Tensor forward(Tensor x, Tensor t) => torch.zeros_like(x);
    }
}
