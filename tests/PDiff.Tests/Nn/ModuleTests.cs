using PDiff.Models;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace PDiff.Tests.Nn;

/// <summary>
/// Modules built the library's way (TorchSharp modules, children registered by name, layers from
/// <see cref="Layers"/>): state-dict names are PyTorch's and PyTorch's key order can be walked, so
/// checkpoints map one to one; state dicts round-trip; loading is strict by default; initialisation
/// follows PyTorch's fan-in bounds and is a function of the seed alone.
/// </summary>
public class ModuleTests
{
    sealed class Block : nn.Module<Tensor, Tensor>
    {
        readonly Conv1d conv1;
        readonly BatchNorm1d bn1;

        public Block(Generator g) : base(nameof(Block))
        {
            conv1 = Layers.Conv1d(2, 3, 3, g, padding: 1, bias: false);
            bn1 = nn.BatchNorm1d(3);
            register_module("conv1", conv1);
            register_module("bn1", bn1);
        }

        public override Tensor forward(Tensor x) => bn1.forward(conv1.forward(x));
    }

    sealed class Block2 : nn.Module<Tensor, Tensor>
    {
        readonly BatchNorm1d bn2;

        public Block2() : base(nameof(Block2))
        {
            bn2 = nn.BatchNorm1d(3);
            register_module("bn2", bn2);
        }

        public override Tensor forward(Tensor x) => bn2.forward(x);
    }

    sealed class Net : nn.Module<Tensor, Tensor>
    {
        readonly Sequential layer1;
        readonly Linear fc;

        public Net(Generator g) : base(nameof(Net))
        {
            layer1 = nn.Sequential(new Block(g), new Block2());
            fc = Layers.Linear(3, 2, g);
            register_module("layer1", layer1);
            register_module("fc", fc);
        }

        public override Tensor forward(Tensor x) => fc.forward(layer1.forward(x).mean(new long[] { 2 }));
    }

    static float[] Values(Tensor t) => t.data<float>().ToArray();

    /// <summary>PyTorch's state_dict() order: each module's parameters, then its buffers, then its children, depth first.</summary>
    static IEnumerable<string> PyTorchOrder(nn.Module m, string prefix = "")
    {
        foreach (var (name, _) in m.named_parameters(recurse: false)) yield return prefix + name;
        foreach (var (name, _) in m.named_buffers(recurse: false)) yield return prefix + name;
        foreach (var (name, child) in m.named_children())
            foreach (var key in PyTorchOrder(child, prefix + name + ".")) yield return key;
    }

    static readonly string[] NetKeysInPyTorchOrder =
    {
        "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var",
        "layer1.0.bn1.num_batches_tracked", "layer1.1.bn2.weight", "layer1.1.bn2.bias", "layer1.1.bn2.running_mean",
        "layer1.1.bn2.running_var", "layer1.1.bn2.num_batches_tracked", "fc.weight", "fc.bias",
    };

    [Fact]
    public void DottedNamesAndStateDictOrderFollowPyTorch()
    {
        using var g = new Generator(1);
        using var net = new Net(g);
        Assert.Equal(new[] { "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.1.bn2.weight", "layer1.1.bn2.bias", "fc.weight", "fc.bias" },
            net.named_parameters().Select(p => p.name));
        // The children, parameters and buffers come in registration order, so PyTorch's order can be
        // walked (lib/Models' ModuleTree does); TorchSharp's own state_dict() has the same keys but lists
        // every parameter before every buffer.
        Assert.Equal(NetKeysInPyTorchOrder, PyTorchOrder(net));
        Assert.Equal(NetKeysInPyTorchOrder.Order(), net.state_dict().Keys.Order());
        Assert.Equal(net.named_parameters().Select(p => p.name), net.state_dict().Keys.Take(7));
        Assert.Equal(2 * 3 * 3 + 3 * 2 * 2 + 3 * 2 + 2, net.parameters().Sum(p => p.numel()));
        using var x = torch.ones(4, 2, 5);
        using var y = net.forward(x);
        Assert.Equal(new long[] { 4, 2 }, y.shape);
    }

    [Fact]
    public void LayerFactoriesUsePyTorchsParameterNames()
    {
        using var g = new Generator(2);
        using var lin = Layers.Linear(3, 2, g, bias: false);
        Assert.Equal(new[] { "weight" }, lin.state_dict().Keys);
        using var ct = Layers.ConvTranspose1d(4, 2, 3, g);
        Assert.Equal(new[] { "weight", "bias" }, ct.state_dict().Keys);
        using var emb = Layers.Embedding(10, 4, g);
        Assert.Equal(new[] { "weight" }, emb.state_dict().Keys);
        using var ln = nn.LayerNorm(new long[] { 4 });
        Assert.Equal(new[] { "weight", "bias" }, ln.state_dict().Keys);
        using var gn = nn.GroupNorm(2, 4);
        Assert.Equal(new[] { "weight", "bias" }, gn.state_dict().Keys);
    }

    [Fact]
    public void StateDictRoundTripReproducesOutputs()
    {
        using var g1 = new Generator(1);
        using var g2 = new Generator(2);
        using var a = Layers.Linear(4, 3, g1);
        using var b = Layers.Linear(4, 3, g2);
        using var x = torch.randn(new long[] { 5, 4 }, generator: g1);
        using var ya = a.forward(x);
        using var yb0 = b.forward(x);
        Assert.False(ya.allclose(yb0));
        b.load_state_dict(a.state_dict());
        using var yb = b.forward(x);
        Assert.Equal(Values(ya), Values(yb));
        Assert.True(b.weight!.requires_grad);
        // Loading copies values: the source stays independent.
        using (torch.no_grad()) a.weight!.add_(1);
        using var yb2 = b.forward(x);
        Assert.Equal(Values(yb), Values(yb2));
    }

    [Fact]
    public void StrictLoadRefusesMissingAndUnexpectedKeys()
    {
        using var g = new Generator(3);
        using var m = Layers.Linear(2, 2, g);
        var before = Values(m.weight!);
        using var w = torch.zeros(2, 2);
        using var extra = torch.zeros(1);
        var src = new Dictionary<string, Tensor> { ["weight"] = w, ["extra"] = extra };
        // TorchSharp's strict refusal names no keys; non-strict loading lists them (lib/Models reports them).
        Assert.ThrowsAny<Exception>(() => m.load_state_dict(src));
        Assert.Equal(before, Values(m.weight!));
        var (missing, unexpected) = m.load_state_dict(src, strict: false);
        Assert.Equal(new[] { "bias" }, missing);
        Assert.Equal(new[] { "extra" }, unexpected);
        Assert.All(Values(m.weight!), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void ShapeMismatchOnLoadIsAnError()
    {
        using var g = new Generator(3);
        using var m = Layers.Linear(2, 2, g);
        var before = Values(m.weight!);
        using var w = torch.zeros(3, 2);
        var ex = Assert.ThrowsAny<Exception>(() => m.load_state_dict(new Dictionary<string, Tensor> { ["weight"] = w }, strict: false));
        Assert.False(string.IsNullOrWhiteSpace(ex.Message));
        Assert.Equal(before, Values(m.weight!));
    }

    [Fact]
    public void DefaultInitialisationBoundsFollowFanIn()
    {
        using var g = new Generator(4);
        using var lin = Layers.Linear(100, 50, g);
        var bound = 1 / Math.Sqrt(100);
        Assert.All(Values(lin.weight!), v => Assert.InRange(v, -bound, bound));
        Assert.True(Values(lin.weight!).Max() > 0.8 * bound);
        Assert.All(Values(lin.bias!), v => Assert.InRange(v, -bound, bound));
        // ConvTranspose1d: weight [in, out, k], fan_in = out·k = 8·7.
        using var ct = Layers.ConvTranspose1d(64, 8, 7, g);
        Assert.Equal(new long[] { 64, 8, 7 }, ct.weight!.shape);
        var ctBound = 1 / Math.Sqrt(8 * 7);
        Assert.All(Values(ct.weight!), v => Assert.InRange(v, -ctBound, ctBound));
        Assert.True(Values(ct.weight!).Max() > 0.9 * ctBound);
        // Conv2d: fan_in = in·kh·kw = 3·3·3.
        using var conv = Layers.Conv2d(3, 16, 3, g);
        var convBound = 1 / Math.Sqrt(27);
        Assert.All(Values(conv.weight!), v => Assert.InRange(v, -convBound, convBound));
        Assert.True(Values(conv.weight!).Max() > 0.9 * convBound);
        using var emb = Layers.Embedding(1000, 12, g);
        using var std = emb.weight!.std();
        Assert.InRange(std.item<float>(), 0.95, 1.05);
    }

    [Fact]
    public void SameSeedGivesSameInitialisation()
    {
        using var g1 = new Generator(9);
        using var g2 = new Generator(9);
        using var a = Layers.Conv2d(3, 4, 3, g1);
        using var noise = torch.randn(100); // the global generator moving in between changes nothing
        using var b = Layers.Conv2d(3, 4, 3, g2);
        Assert.Equal(Values(a.weight!), Values(b.weight!));
        Assert.Equal(Values(a.bias!), Values(b.bias!));
        using var g3 = new Generator(10);
        using var c = Layers.Conv2d(3, 4, 3, g3);
        Assert.NotEqual(Values(a.weight!), Values(c.weight!));
    }

    [Fact]
    public void InitHelpersDrawFromTheirGeneratorOnly()
    {
        // Same seed, same numbers, whatever the global generator does in between.
        float[] Draw(Action<Tensor, Generator> init, bool globalDrawFirst)
        {
            using var g = new Generator(21);
            using var t = torch.empty(1000);
            if (globalDrawFirst) torch.randn(100).Dispose();
            init(t, g);
            return Values(t);
        }
        foreach (var (name, init) in new (string, Action<Tensor, Generator>)[]
                 {
                     ("UniformFanIn", (t, g) => Init.UniformFanIn(t, 16, g)),
                     ("Normal", (t, g) => Init.Normal(t, 0, 0.5, g)),
                     ("TruncNormal", (t, g) => Init.TruncNormal(t, 0.02, g)),
                 })
            Assert.True(Draw(init, false).SequenceEqual(Draw(init, true)), $"Init.{name} did not draw from its generator alone");
    }

    [Fact]
    public void TruncNormalIsCutAtTwoStandardDeviations()
    {
        using var g = new Generator(22);
        using var t = torch.empty(20_000);
        Init.TruncNormal(t, 0.02, g);
        var v = Values(t);
        Assert.All(v, x => Assert.InRange(x, -0.04f, 0.04f));
        // N(0, σ) cut at ±2σ has standard deviation 0.8796σ; its values are not all alike.
        var mean = v.Average();
        var std = Math.Sqrt(v.Select(x => (x - mean) * (x - mean)).Average());
        Assert.InRange(mean, -0.001, 0.001);
        Assert.InRange(std, 0.8796 * 0.02 * 0.97, 0.8796 * 0.02 * 1.03);
    }

    [Fact]
    public void BatchNormTrainingUpdatesRunningStatsWithUnbiasedVariance()
    {
        using var bn = nn.BatchNorm1d(1);
        using var x = torch.tensor(new float[] { 1, 2, 3, 6 }, new long[] { 4, 1 });
        using var y = bn.forward(x);
        // mean 3, biased var 3.5 normalises, unbiased var 14/3 updates (momentum 0.1).
        var expected = new[] { 1, 2, 3, 6 }.Select(v => (float)((v - 3) / Math.Sqrt(3.5 + 1e-5))).ToArray();
        Assert.Equal(expected, Values(y), new FloatNear(1e-5f));
        Assert.Equal(0.1f * 3, Values(bn.running_mean!)[0], 5);
        Assert.Equal(0.9f + 0.1f * 14f / 3f, Values(bn.running_var!)[0], 5);
        Assert.Equal(1L, bn.num_batches_tracked!.item<long>());
        bn.eval();
        using var ye = bn.forward(x);
        var rm = 0.3; var rv = 0.9 + 0.1 * 14.0 / 3;
        Assert.Equal(new[] { 1, 2, 3, 6 }.Select(v => (float)((v - rm) / Math.Sqrt(rv + 1e-5))).ToArray(), Values(ye), new FloatNear(1e-5f));
        Assert.Equal(1L, bn.num_batches_tracked!.item<long>());
    }

    [Fact]
    public void BatchNormRejectsWrongChannelCount()
    {
        using var bn = nn.BatchNorm2d(3);
        using var x = torch.zeros(2, 4, 5, 5);
        var ex = Assert.ThrowsAny<Exception>(() => bn.forward(x));
        Assert.Contains("3", ex.Message);
        Assert.Contains("4", ex.Message);
    }

    [Fact]
    public void ToFloat64KeepsTrainabilityAndValues()
    {
        using var g = new Generator(5);
        using var m = Layers.Linear(3, 2, g);
        var before = Values(m.weight!);
        m.to(ScalarType.Float64);
        Assert.Equal(ScalarType.Float64, m.weight!.dtype);
        Assert.True(m.weight.requires_grad);
        Assert.Equal(before.Select(v => (double)v), m.weight.data<double>().ToArray());
        Assert.Equal(ScalarType.Float64, m.parameters().First().dtype);
    }
}

public sealed class FloatNear(float tol) : IEqualityComparer<float>
{
    public bool Equals(float a, float b) => Math.Abs(a - b) <= tol;
    public int GetHashCode(float v) => 0;
}
