using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Tests.TorchFixes;

/// <summary>Small cases worked out by hand (the arithmetic is in the comments), in float64: PyTorch's
/// conventions (unbiased by default, biased variance to normalise, smoothing over all classes) hold.</summary>
public class HandComputedTests
{
    static Tensor D(double[] v, params long[] shape) => shape.Length == 0 ? torch.tensor(v) : torch.tensor(v, shape);

    static double[] V(Tensor t) => t.data<double>().ToArray();

    static void Near(double expected, Tensor t, double tol = 1e-12) => Assert.Equal(expected, t.item<double>(), tol);

    [Fact]
    public void StdAndVarOfOneToFour()
    {
        // mean 2.5, squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5: unbiased 5/3, biased 5/4.
        using var x = D(new double[] { 1, 2, 3, 4 });
        using var vu = x.var();
        using var vb = x.var(new long[] { 0 }, unbiased: false);
        using var su = x.std();
        using var sb = x.std(unbiased: false);
        Near(5.0 / 3, vu);
        Near(1.25, vb);
        Near(Math.Sqrt(5.0 / 3), su);
        Near(Math.Sqrt(1.25), sb);
        // Pitfall: TorchSharp 0.107's var(unbiased: false) without dimensions (Tensor.var and torch.var)
        // ignores the flag and returns the unbiased 5/3; std is right. Pass the dimensions, as above.
        // If this line fails, TorchSharp fixed it and either form may be used.
        using var vbNoDims = x.var(unbiased: false);
        Near(5.0 / 3, vbNoDims);
    }

    [Fact]
    public void SoftmaxOfLogsIsTheNormalisedValues()
    {
        // softmax(log 1, log 2, log 3) = (1, 2, 3) / 6.
        using var x = D(new[] { 0, Math.Log(2), Math.Log(3) });
        using var p = x.softmax(0);
        Assert.Equal(new[] { 1 / 6.0, 2 / 6.0, 3 / 6.0 }, V(p), new Tol(1e-15));
        using var lp = x.log_softmax(0);
        Assert.Equal(new[] { Math.Log(1 / 6.0), Math.Log(2 / 6.0), Math.Log(0.5) }, V(lp), new Tol(1e-15));
    }

    [Fact]
    public void CrossEntropyOfEqualLogitsIsLogC()
    {
        // Equal logits give p = 1/C for every class, so the loss is log C with or without smoothing.
        using var logits = torch.zeros(new long[] { 2, 5 }, ScalarType.Float64);
        using var target = torch.tensor(new long[] { 1, 4 });
        using var l0 = F.cross_entropy(logits, target);
        using var l1 = F.cross_entropy(logits, target, label_smoothing: 0.3);
        Near(Math.Log(5), l0);
        Near(Math.Log(5), l1);
        // Logits (0, ln 3) with target 0: p0 = 1/4, loss ln 4. With smoothing ε = 0.2 over C = 2 the target
        // is (0.9, 0.1): loss = −0.9 ln(1/4) − 0.1 ln(3/4).
        using var l2 = D(new[] { 0, Math.Log(3) }, 1, 2);
        using var t2 = torch.tensor(new long[] { 0 });
        using var ce = F.cross_entropy(l2, t2);
        using var ces = F.cross_entropy(l2, t2, label_smoothing: 0.2);
        Near(Math.Log(4), ce);
        Near(-0.9 * Math.Log(0.25) - 0.1 * Math.Log(0.75), ces);
    }

    [Fact]
    public void MseLossReductions()
    {
        // Differences (1, −2, 3): squares 1, 4, 9, sum 14, mean 14/3.
        using var a = D(new double[] { 1, 0, 5 });
        using var b = D(new double[] { 0, 2, 2 });
        using var mean = F.mse_loss(a, b);
        using var sum = F.mse_loss(a, b, nn.Reduction.Sum);
        using var none = F.mse_loss(a, b, nn.Reduction.None);
        Near(14.0 / 3, mean);
        Near(14, sum);
        Assert.Equal(new double[] { 1, 4, 9 }, V(none));
    }

    [Fact]
    public void BatchNormTrainingStepByHand()
    {
        // One channel, x = (1, 2, 3, 4): batch mean 2.5, biased variance 1.25 normalises, unbiased 5/3
        // updates the running variance: rm = 0.9·0 + 0.1·2.5 = 0.25, rv = 0.9·1 + 0.1·5/3.
        using var x = D(new double[] { 1, 2, 3, 4 }, 4, 1);
        using var rm = torch.zeros(new long[] { 1 }, ScalarType.Float64);
        using var rv = torch.ones(new long[] { 1 }, ScalarType.Float64);
        using var y = F.batch_norm(x, rm, rv, training: true);
        var s = Math.Sqrt(1.25 + 1e-5);
        Assert.Equal(new[] { -1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s }, V(y), new Tol(1e-12));
        Near(0.25, rm);
        Near(0.9 + 0.1 * 5 / 3.0, rv);
        // Eval mode uses the running statistics and leaves them alone.
        using var e = F.batch_norm(x, rm, rv, training: false);
        var se = Math.Sqrt(0.9 + 0.1 * 5 / 3.0 + 1e-5);
        Assert.Equal(new[] { 0.75 / se, 1.75 / se, 2.75 / se, 3.75 / se }, V(e), new Tol(1e-12));
        Near(0.25, rm);
    }

    [Fact]
    public void InstanceNormUsesBiasedVariancePerRow()
    {
        // Row (0, 2): mean 1, biased variance 1, so y = (−1, 1)/√(1 + 1e-5); rows are independent.
        using var x = D(new double[] { 0, 2, 10, 14 }, 1, 2, 2);
        using var y = F.instance_norm(x);
        var s1 = Math.Sqrt(1 + 1e-5);
        var s2 = Math.Sqrt(4 + 1e-5);
        Assert.Equal(new[] { -1 / s1, 1 / s1, -2 / s2, 2 / s2 }, V(y), new Tol(1e-12));
    }

    [Fact]
    public void Conv1dDifferenceKernelAndTransposedConvolution()
    {
        // Kernel (1, −1) computes x[i] − x[i+1].
        using var x = D(new double[] { 1, 4, 9, 16 }, 1, 1, 4);
        using var w = D(new double[] { 1, -1 }, 1, 1, 2);
        using var y = F.conv1d(x, w);
        Assert.Equal(new double[] { -3, -5, -7 }, V(y));
        // Transposed, stride 2, kernel (1, 1): each input spreads into two outputs.
        using var u = D(new double[] { 1, 2, 3 }, 1, 1, 3);
        using var k = D(new double[] { 1, 1 }, 1, 1, 2);
        using var z = F.conv_transpose1d(u, k, stride: 2);
        Assert.Equal(new double[] { 1, 1, 2, 2, 3, 3 }, V(z));
    }

    [Fact]
    public void GeluEluAndPoolsAtKnownPoints()
    {
        using var x = D(new double[] { -1, 0, 2 });
        using var g = F.gelu(x);
        // gelu(x) = x Φ(x): Φ(−1) = 0.15865525393145707, Φ(2) = 0.9772498680518208.
        Assert.Equal(new[] { -0.15865525393145707, 0, 2 * 0.9772498680518208 }, V(g), new Tol(1e-12));
        using var e = F.elu(x, 1.0);
        Assert.Equal(new[] { Math.Exp(-1) - 1, 0, 2 }, V(e), new Tol(1e-15));
        using var img = D(Enumerable.Range(0, 16).Select(i => (double)i).ToArray(), 1, 1, 4, 4);
        using var mp = F.max_pool2d(img, 2);
        Assert.Equal(new double[] { 5, 7, 13, 15 }, V(mp));
        using var ap = F.avg_pool2d(img, 2);
        Assert.Equal(new double[] { 2.5, 4.5, 10.5, 12.5 }, V(ap));
        using var gp = F.adaptive_avg_pool2d(img, new long[] { 1, 1 });
        Near(7.5, gp);
    }

    [Fact]
    public void ItemKeepsLargeInt64ExactAndRefusesTheWrongElementType()
    {
        // 2^53 + 1 has no double; reading it through one would give 2^53.
        using var big = torch.tensor(new[] { (1L << 53) + 1 });
        Assert.Equal((1L << 53) + 1, big.item<long>());
        using var max = torch.tensor(new[] { long.MaxValue });
        Assert.Equal(long.MaxValue, max.item<long>());
        // Reading a float tensor as an integer is an error, not a silent conversion; converting first
        // truncates toward zero.
        using var f = torch.tensor(new[] { 2.7, -2.7 });
        using var f0 = f[0];
        Assert.Throws<ArgumentException>(() => f0.item<long>());
        using var asLong = f.to(ScalarType.Int64);
        Assert.Equal(new long[] { 2, -2 }, asLong.data<long>().ToArray());
        Assert.Equal(2.7, f0.item<double>());
    }

    sealed class Tol(double tol) : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= tol;
        public int GetHashCode(double v) => 0;
    }
}
