using PDiff.Nn;
using PDiff.Torch;
using Xunit;

namespace PDiff.Tests.Nn;

public class ModuleTests
{
    sealed class Block : Module
    {
        public Block(Generator g)
        {
            RegisterModule("conv1", new Conv1d(2, 3, 3, g, padding: 1, bias: false));
            RegisterModule("bn1", new BatchNorm1d(3));
        }
    }

    sealed class Net : Module
    {
        public Net(Generator g)
        {
            RegisterModule("layer1", new Sequential(new Block(g), new Block2(g)));
            RegisterModule("fc", new Linear(3, 2, g));
        }
    }

    sealed class Block2 : Module
    {
        public Block2(Generator g) => RegisterModule("bn2", new BatchNorm1d(3));
    }

    [Fact]
    public void DottedNamesAndStateDictOrderFollowPyTorch()
    {
        using var g = new Generator(1);
        using var net = new Net(g);
        Assert.Equal(new[] { "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.1.bn2.weight", "layer1.1.bn2.bias", "fc.weight", "fc.bias" },
            net.named_parameters().Select(p => p.Name));
        Assert.Equal(new[]
        {
            "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var",
            "layer1.0.bn1.num_batches_tracked", "layer1.1.bn2.weight", "layer1.1.bn2.bias", "layer1.1.bn2.running_mean",
            "layer1.1.bn2.running_var", "layer1.1.bn2.num_batches_tracked", "fc.weight", "fc.bias",
        }, net.state_dict().Select(kv => kv.Key));
        Assert.Equal(2 * 3 * 3 + 3 * 2 * 2 + 3 * 2 + 2, net.parameter_count());
    }

    [Fact]
    public void StateDictRoundTripReproducesOutputs()
    {
        using var g1 = new Generator(1);
        using var g2 = new Generator(2);
        using var a = new Linear(4, 3, g1);
        using var b = new Linear(4, 3, g2);
        using var x = torch.randn(new long[] { 5, 4 }, g1);
        using var ya = a.forward(x);
        using var yb0 = b.forward(x);
        Assert.False(ya.allclose(yb0));
        b.load_state_dict(a.state_dict());
        using var yb = b.forward(x);
        Assert.Equal(ya.data<float>(), yb.data<float>());
        Assert.True(b.weight.requires_grad);
    }

    [Fact]
    public void StrictLoadNamesMissingAndUnexpectedKeys()
    {
        using var g = new Generator(3);
        using var m = new Linear(2, 2, g);
        using var w = torch.zeros(2, 2);
        using var extra = torch.zeros(1);
        var src = new[] { new KeyValuePair<string, Tensor>("weight", w), new KeyValuePair<string, Tensor>("extra", extra) };
        var ex = Assert.Throws<KeyNotFoundException>(() => m.load_state_dict(src));
        Assert.Contains("missing keys [bias]", ex.Message);
        Assert.Contains("unexpected keys [extra]", ex.Message);
        var r = m.load_state_dict(src, strict: false);
        Assert.Equal(new[] { "bias" }, r.MissingKeys);
        Assert.Equal(new[] { "extra" }, r.UnexpectedKeys);
        Assert.All(m.weight.data<float>(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void ShapeMismatchOnLoadNamesKeyAndShapes()
    {
        using var g = new Generator(3);
        using var m = new Linear(2, 2, g);
        using var w = torch.zeros(3, 2);
        var ex = Assert.Throws<ArgumentException>(() => m.load_state_dict(new[] { new KeyValuePair<string, Tensor>("weight", w) }, strict: false));
        Assert.Contains("'weight' has shape [3, 2]", ex.Message);
        Assert.Contains("expects [2, 2]", ex.Message);
    }

    [Fact]
    public void DefaultInitialisationBoundsFollowFanIn()
    {
        using var g = new Generator(4);
        using var lin = new Linear(100, 50, g);
        var bound = 1 / Math.Sqrt(100);
        Assert.All(lin.weight.data<float>(), v => Assert.InRange(v, -bound, bound));
        Assert.True(lin.weight.data<float>().Max() > 0.8 * bound);
        // ConvTranspose1d: weight [in, out, k], fan_in = out·k = 8·7.
        using var ct = new ConvTranspose1d(64, 8, 7, g);
        Assert.Equal(new long[] { 64, 8, 7 }, ct.weight.shape);
        var ctBound = 1 / Math.Sqrt(8 * 7);
        Assert.All(ct.weight.data<float>(), v => Assert.InRange(v, -ctBound, ctBound));
        Assert.True(ct.weight.data<float>().Max() > 0.9 * ctBound);
        using var emb = new Embedding(1000, 12, g);
        using var std = emb.weight.std();
        Assert.InRange(std.item<float>(), 0.95, 1.05);
    }

    [Fact]
    public void SameSeedGivesSameInitialisation()
    {
        using var g1 = new Generator(9);
        using var g2 = new Generator(9);
        using var a = new Conv2d(3, 4, 3, g1);
        using var b = new Conv2d(3, 4, 3, g2);
        Assert.Equal(a.weight.data<float>(), b.weight.data<float>());
    }

    [Fact]
    public void BatchNormTrainingUpdatesRunningStatsWithUnbiasedVariance()
    {
        using var bn = new BatchNorm1d(1);
        using var x = torch.tensor(new float[] { 1, 2, 3, 6 }, 4, 1);
        using var y = bn.forward(x);
        // mean 3, biased var 3.5, unbiased var 14/3.
        var expected = new[] { 1, 2, 3, 6 }.Select(v => (float)((v - 3) / Math.Sqrt(3.5 + 1e-5))).ToArray();
        Assert.Equal(expected, y.data<float>(), new FloatNear(1e-5f));
        Assert.Equal(0.1f * 3, bn.running_mean!.data<float>()[0], 5);
        Assert.Equal(0.9f + 0.1f * 14f / 3f, bn.running_var!.data<float>()[0], 5);
        Assert.Equal(1L, bn.num_batches_tracked!.item<long>());
        bn.eval();
        using var ye = bn.forward(x);
        var rm = 0.3; var rv = 0.9 + 0.1 * 14.0 / 3;
        Assert.Equal(new[] { 1, 2, 3, 6 }.Select(v => (float)((v - rm) / Math.Sqrt(rv + 1e-5))).ToArray(), ye.data<float>(), new FloatNear(1e-5f));
        Assert.Equal(1L, bn.num_batches_tracked!.item<long>());
    }

    [Fact]
    public void BatchNormRejectsWrongChannelCount()
    {
        using var bn = new BatchNorm2d(3);
        using var x = torch.zeros(2, 4, 5, 5);
        var ex = Assert.Throws<ArgumentException>(() => bn.forward(x));
        Assert.Contains("[2, 4, 5, 5]", ex.Message);
    }

    [Fact]
    public void ToFloat64KeepsTrainabilityAndValues()
    {
        using var g = new Generator(5);
        using var m = new Linear(3, 2, g);
        var before = m.weight.data<float>();
        m.to(ScalarType.Float64);
        Assert.Equal(ScalarType.Float64, m.weight.dtype);
        Assert.True(m.weight.requires_grad);
        Assert.Equal(before.Select(v => (double)v), m.weight.data<double>());
    }

    [Fact]
    public void DropoutIsSeededAndScales()
    {
        using var g1 = new Generator(7);
        using var g2 = new Generator(7);
        using var d1 = new Dropout(0.5, g1);
        using var d2 = new Dropout(0.5, g2);
        using var x = torch.ones(1000);
        using var a = d1.forward(x);
        using var b = d2.forward(x);
        Assert.Equal(a.data<float>(), b.data<float>());
        Assert.All(a.data<float>(), v => Assert.True(v == 0f || v == 2f));
        d1.eval();
        using var c = d1.forward(x);
        Assert.All(c.data<float>(), v => Assert.Equal(1f, v));
    }
}

public sealed class FloatNear(float tol) : IEqualityComparer<float>
{
    public bool Equals(float a, float b) => Math.Abs(a - b) <= tol;
    public int GetHashCode(float v) => 0;
}
