using PDiff.Diffusion;
using PDiff.Zoo;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PDiff.Tests.Diffusion;

public class ParamNormalizerTests
{
    static readonly SubsetLayout Layout = new(new[]
    {
        new TensorSpec("bn.weight", new long[] { 4 }),
        new TensorSpec("bn.bias", new long[] { 4 }),
        new TensorSpec("bn.running_mean", new long[] { 4 }),
        new TensorSpec("bn.running_var", new long[] { 4 }),
    });

    // Two checkpoints, by hand.
    static Tensor TwoCheckpoints() => torch.tensor(new float[]
    {
        1.0f, 1.1f, 0.9f, 1.2f,   0.1f, -0.1f, 0.0f, 0.2f,   0.5f, 0.4f, 0.6f, 0.3f,   2.0f, 1.0f, 4.0f, 3.0f,
        1.1f, 1.0f, 0.8f, 1.3f,   0.2f, -0.2f, 0.1f, 0.1f,   0.4f, 0.5f, 0.7f, 0.2f,   1.0f, 2.0f, 3.0f, 6.0f,
    }, 2, 16);

    [Fact]
    public void PerTensorStatisticsAreAveragesOfPerCheckpointScalars()
    {
        using var v = TwoCheckpoints();
        var n = ParamNormalizer.Fit(v, Layout, NormalizationKind.PerTensor);
        var w = n.Tensors[0];
        Assert.Equal((1.05 + 1.05) / 2, w.Mean, 6);
        static double Std(params double[] x) { var m = x.Average(); return Math.Sqrt(x.Sum(a => (a - m) * (a - m)) / (x.Length - 1)); }
        Assert.Equal((Std(1.0, 1.1, 0.9, 1.2) + Std(1.1, 1.0, 0.8, 1.3)) / 2, w.Std, 6);
        var rv = n.Tensors[3];
        Assert.True(rv.IsRunningVar);
        // p_k = 0.95·mean(v_k): 0.95·2.5 and 0.95·3.0; y_k = ln(v_k/p_k + 0.05)
        Assert.Equal(0.95 * (2.5 + 3.0) / 2, rv.P, 6);
        double[] Y(double[] v, double p) => v.Select(a => Math.Log(a / p + 0.05)).ToArray();
        var y1 = Y(new[] { 2.0, 1, 4, 3 }, 0.95 * 2.5);
        var y2 = Y(new[] { 1.0, 2, 3, 6 }, 0.95 * 3.0);
        Assert.Equal((y1.Average() + y2.Average()) / 2, rv.Mean, 6);
        Assert.Equal((Std(y1) + Std(y2)) / 2, rv.Std, 6);
        Assert.Equal(new long[] { 0, 4, 8, 12 }, n.Tensors.Select(t => t.Offset));
    }

    [Fact]
    public void NormalizeThenDenormalizeIsTheIdentityIncludingRunningVar()
    {
        using var v = TwoCheckpoints();
        var n = ParamNormalizer.Fit(v, Layout, NormalizationKind.PerTensor);
        using var x = n.Normalize(v);
        using var back = n.Denormalize(x);
        Assert.True(back.allclose(v, 1e-5, 1e-6), $"max error {back.sub(v).abs().max().item<float>()}");
        // the forward transform is a per-tensor z-score: weight entries (θ − m)/s
        var w = n.Tensors[0];
        Assert.Equal((1.2 - w.Mean) / w.Std, x[0][3].item<float>(), 4);
        var rv = n.Tensors[3];
        Assert.Equal((Math.Log(4.0 / rv.P + 0.05) - rv.Mean) / rv.Std, x[0][14].item<float>(), 4);
    }

    [Fact]
    public void DenormalizedRunningVarIsClampedAsV2Does()
    {
        using var v = TwoCheckpoints();
        var n = ParamNormalizer.Fit(v, Layout, NormalizationKind.PerTensor);
        using var x = torch.full(new long[] { 1, 16 }, -50.0);
        using var back = n.Denormalize(x);
        // e^{−50·s+m} − 0.05 < 0.001 → 0.001·p
        Assert.Equal(0.001 * n.Tensors[3].P, back[0][12].item<float>(), 6);
    }

    [Fact]
    public void StatisticsRoundTripThroughJson()
    {
        using var v = TwoCheckpoints();
        var n = ParamNormalizer.Fit(v, Layout, NormalizationKind.PerTensor);
        var json = n.ToJson();
        var m = ParamNormalizer.FromJson(json);
        Assert.Equal(json, m.ToJson());
        using var a = n.Normalize(v);
        using var b = m.Normalize(v);
        Assert.True(a.allclose(b, 0, 0));
        Assert.Throws<ArgumentException>(() => ParamNormalizer.FromJson(json.Replace("\"Offset\": 4", "\"Offset\": 5")));
    }

    [Fact]
    public void NoneIsTheIdentityAndShapesAreChecked()
    {
        using var v = TwoCheckpoints();
        var n = ParamNormalizer.Fit(v, Layout, NormalizationKind.None);
        using var x = n.Normalize(v);
        Assert.True(x.allclose(v, 0, 0));
        using var wrong = torch.zeros(2, 15);
        var e = Assert.Throws<ArgumentException>(() => n.Normalize(wrong));
        Assert.Contains("[M, 16]", e.Message);
    }

    [Fact]
    public void ConstantAndSingleElementTensorsDoNotDivideByZero()
    {
        var layout = new SubsetLayout(new[] { new TensorSpec("a", new long[] { 3 }), new TensorSpec("scale", new long[] { 1 }) });
        using var v = torch.tensor(new float[] { 1, 1, 1, 0.5f, 1, 1, 1, 0.7f }, 2, 4);
        var n = ParamNormalizer.Fit(v, layout, NormalizationKind.PerTensor);
        Assert.Equal(1.0, n.Tensors[0].Std);
        Assert.Equal(1.0, n.Tensors[1].Std);
        using var x = n.Normalize(v);
        using var back = n.Denormalize(x);
        Assert.True(back.allclose(v, 1e-6, 1e-6));
    }

    [Fact]
    public void NonPositiveRunningVarIsRejected()
    {
        using var v = TwoCheckpoints();
        using var bad = v.clone();
        bad[1][13].fill_(0);
        var e = Assert.Throws<ArgumentException>(() => ParamNormalizer.Fit(bad, Layout, NormalizationKind.PerTensor));
        Assert.Contains("bn.running_var", e.Message);
    }
}
