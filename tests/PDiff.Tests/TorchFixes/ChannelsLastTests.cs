using PDiff.Diffusion;
using PDiff.Models;
using PDiff.TorchFixes;
using TorchSharp;
using TorchSharp.Modules;
using PDiff.Tests.Diffusion;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Tests.TorchFixes;

/// <summary>
/// The channels-last layer helpers (our own code, not stock layers): the same values and gradients as
/// the plain 1-D modules, finite-difference gradients, the channels-last layout kept (the point of them),
/// and clear errors. ConvTranspose1d runs as one oneDNN deconvolution in libtorch 2.10, so the former
/// polyphase rewrite is gone; its cases are kept here against the stock op.
/// </summary>
public class ChannelsLastTests
{
    // (in, out, k, stride, padding, output_padding, length): V2's decoder block, V1's k5/s5 fold, a kernel
    // shorter than the stride, and cases where output_padding reaches beyond the last input's footprint.
    public static TheoryData<int, int, int, int, int, int, int> Cases => new()
    {
        { 32, 16, 7, 2, 3, 1, 9 },
        { 4, 6, 5, 5, 0, 0, 3 },
        { 3, 2, 2, 3, 0, 2, 5 },
        { 2, 3, 4, 2, 0, 1, 4 },
        { 3, 3, 3, 1, 1, 0, 6 },
        { 2, 2, 5, 3, 4, 2, 7 },
    };

    static Tensor Rand(Generator g, params long[] shape) => randn(shape, generator: g);

    // In float64: libtorch 2.10's float transposed convolution is wrong for some of these small shapes on
    // our machine (see ChannelsLast's remarks), while the float64 path is exact; what is tested here is
    // that the channels-last call computes the module's transposed convolution, whatever the arguments.
    [Theory]
    [MemberData(nameof(Cases))]
    public void TransposedConvValuesAndGradientsEqualTheModule(int cin, int cout, int k, int s, int p, int op, int len)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(5);
        var ct = Layers.ConvTranspose1d(cin, cout, k, g, s, p, op).to(ScalarType.Float64);
        var x1 = randn(new long[] { 3, cin, len }, ScalarType.Float64, generator: g).requires_grad_();
        var x2 = x1.detach().clone().requires_grad_();

        var native = ct.forward(x1);
        var mine = ChannelsLast.ConvTranspose(ChannelsLast.From3d(x2), ct).select(2, 0);
        Assert.Equal(native.shape, mine.shape);
        Assert.True(native.allclose(mine, 1e-10, 1e-10), $"max diff {native.sub(mine).abs().max().item<double>()}");

        var r = randn(native.shape, ScalarType.Float64, generator: g);
        native.mul(r).sum().backward();
        var (gw, gb) = (ct.weight.grad!.clone(), ct.bias!.grad!.clone());
        ct.zero_grad();
        mine.mul(r).sum().backward();
        Assert.True(x1.grad!.allclose(x2.grad!, 1e-10, 1e-10), "input gradient");
        Assert.True(gw.allclose(ct.weight.grad!, 1e-10, 1e-10), "weight gradient");
        Assert.True(gb.allclose(ct.bias!.grad!, 1e-10, 1e-10), "bias gradient");
    }

    /// <summary>The transposed convolutions of the V1 (small, medium) and V2 decoders, in float32 as training runs them, against float64.</summary>
    [Theory]
    [InlineData(32, 256, 7, 2, 3, 1, 32)]      // V2 (N = 2048 has length 64 here; halved to keep the test short)
    [InlineData(256, 256, 7, 2, 3, 1, 64)]
    [InlineData(256, 128, 7, 2, 3, 1, 128)]
    [InlineData(128, 64, 7, 2, 3, 1, 256)]
    [InlineData(64, 64, 7, 2, 3, 1, 512)]
    [InlineData(4, 4, 7, 2, 3, 1, 2)]          // the tests' tiny V2 autoencoders
    [InlineData(8, 16, 7, 2, 3, 1, 8)]
    [InlineData(4, 4, 5, 5, 0, 0, 3)]          // V1 medium, N = 2048 (the 256-channel block at length 99 left out for time)
    [InlineData(256, 256, 5, 5, 0, 0, 19)]
    [InlineData(8, 8, 5, 5, 0, 0, 499)]
    [InlineData(2, 2, 3, 3, 0, 0, 25)]         // V1 small, N = 2048
    [InlineData(2, 2, 3, 3, 0, 0, 2)]          // V1 small on the tests' 192-number zoo
    [InlineData(64, 64, 3, 3, 0, 0, 8)]
    [InlineData(8, 8, 3, 3, 0, 0, 80)]
    public void TransposedConvOnPDiffShapesMatchesFloat64(int cin, int cout, int k, int s, int p, int op, int len)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(11);
        using var ct = Layers.ConvTranspose1d(cin, cout, k, g, s, p, op);
        foreach (var batch in new[] { 8, 1 })
        {
            var x = randn(new long[] { batch, cin, len }, generator: g);
            var want = F.conv_transpose1d(x.to(ScalarType.Float64), ct.weight.to(ScalarType.Float64), ct.bias!.to(ScalarType.Float64), s, p, op);
            var tol = 1e-5 * want.abs().max().item<double>();
            using (no_grad())
            {
                var plain = ct.forward(x).to(ScalarType.Float64);
                var fast = ChannelsLast.ConvTranspose(ChannelsLast.From3d(x), ct);
                Assert.True(ChannelsLast.IsChannelsLast(fast) || cout == 1, $"layout lost: strides [{string.Join(", ", fast.stride())}]");
                Assert.True(plain.allclose(want, 0, tol), $"module, batch {batch}: max error {plain.sub(want).abs().max().item<double>()}");
                Assert.True(fast.select(2, 0).to(ScalarType.Float64).allclose(want, 0, tol), $"channels-last, batch {batch}: max error {fast.select(2, 0).to(ScalarType.Float64).sub(want).abs().max().item<double>()}");
            }
        }
    }

    [Theory]
    [InlineData(1, 8, 7, 1, 3, 16)]      // OneDimCNN's first block
    [InlineData(8, 4, 7, 2, 3, 16)]      // OneDimVAE's encoder
    [InlineData(4, 4, 5, 5, 0, 25)]      // V1's fold
    public void ConvValuesAndGradientsEqualTheNativeModule(int cin, int cout, int k, int s, int p, int len)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(6);
        using var conv = Layers.Conv1d(cin, cout, k, g, s, p);
        var x1 = Rand(g, 3, cin, len).requires_grad_();
        var x2 = x1.detach().clone().requires_grad_();
        // The reference in float64: libtorch 2.10's own float32 kernel gives wrong input gradients for
        // output channels that are not a multiple of 16 on our CPU (see PDiff.TorchFixes.SafeConv).
        var native = F.conv1d(x1.to(ScalarType.Float64), conv.weight!.to(ScalarType.Float64), conv.bias!.to(ScalarType.Float64), s, p).to(ScalarType.Float32);
        var mine = ChannelsLast.Conv(ChannelsLast.From3d(x2), conv);
        Assert.True(ChannelsLast.IsChannelsLast(mine), $"layout lost: strides [{string.Join(", ", mine.stride())}]");
        Assert.True(native.allclose(mine.select(2, 0), 1e-5, 1e-5));
        var r = Rand(g, native.shape);
        native.mul(r).sum().backward();
        var gw = conv.weight.grad!.clone();
        conv.zero_grad();
        mine.select(2, 0).mul(r).sum().backward();
        Assert.True(x1.grad!.allclose(x2.grad!, 1e-4, 1e-5), "input gradient");
        Assert.True(gw.allclose(conv.weight.grad!, 1e-4, 1e-5), "weight gradient");
    }

    [Fact]
    public void BatchNormMatchesBatchNorm1dInTrainAndEvalAndKeepsTheLayout()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(7);
        using var a = nn.BatchNorm1d(4);
        using var b = nn.BatchNorm1d(4);
        var x = Rand(g, 5, 4, 9).mul(2).add(1);
        for (var i = 0; i < 3; i++)
        {
            var ya = a.forward(x);
            var yb = ChannelsLast.BatchNorm(ChannelsLast.From3d(x), b);
            Assert.True(ChannelsLast.IsChannelsLast(yb));
            Assert.True(ya.allclose(yb.select(2, 0), 1e-5, 1e-6), $"train step {i}");
        }
        Assert.True(a.running_mean!.allclose(b.running_mean!, 1e-6, 1e-7));
        Assert.True(a.running_var!.allclose(b.running_var!, 1e-6, 1e-7));
        Assert.Equal(a.num_batches_tracked!.item<long>(), b.num_batches_tracked!.item<long>());
        a.eval();
        b.eval();
        Assert.True(a.forward(x).allclose(ChannelsLast.BatchNorm(ChannelsLast.From3d(x), b).select(2, 0), 1e-5, 1e-6), "eval");
        Assert.Equal(3, b.num_batches_tracked!.item<long>());
    }

    [Fact]
    public void GradientsMatchFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(9);
        var conv = Layers.Conv1d(3, 2, 5, g, 2, 2).to(ScalarType.Float64);
        var ct = Layers.ConvTranspose1d(3, 2, 7, g, 2, 3, 1).to(ScalarType.Float64);
        var bn = nn.BatchNorm1d(3).to(ScalarType.Float64);
        using (no_grad())
        {
            bn.weight!.uniform_(0.5, 1.5, generator: g);
            bn.bias!.uniform_(-0.5, 0.5, generator: g);
        }
        var x = randn(new long[] { 2, 3, 1, 6 }, ScalarType.Float64, generator: g).requires_grad_();
        Tensor CL() => ChannelsLast.Contiguous(x);

        FiniteDifferences.Check(() => ChannelsLast.Conv(CL(), conv), ("x", x), ("weight", conv.weight), ("bias", conv.bias!));
        FiniteDifferences.Check(() => ChannelsLast.ConvTranspose(CL(), ct), ("x", x), ("weight", ct.weight), ("bias", ct.bias!));
        FiniteDifferences.Check(() => ChannelsLast.BatchNorm(CL(), bn), ("x", x), ("weight", bn.weight!), ("bias", bn.bias!));
        bn.eval();
        FiniteDifferences.Check(() => ChannelsLast.BatchNorm(CL(), bn), ("x", x), ("weight", bn.weight!), ("bias", bn.bias!));
        FiniteDifferences.Check(() => ChannelsLast.PerSampleNorm(CL(), bn), ("x", x), ("weight", bn.weight!), ("bias", bn.bias!));

        // SafeConv's detours: one input channel (re-strided kernel) with padded output channels, a
        // stride-1 transposed conv run as a flipped conv, and the padded path on [B, C, L].
        var first = Layers.Conv1d(1, 4, 5, g, 1, 2).to(ScalarType.Float64);
        var x1 = randn(new long[] { 2, 1, 1, 6 }, ScalarType.Float64, generator: g).requires_grad_();
        FiniteDifferences.Check(() => ChannelsLast.Conv(x1, first), ("x", x1), ("weight", first.weight), ("bias", first.bias!));
        var ct1 = Layers.ConvTranspose1d(3, 2, 3, g, 1, 1).to(ScalarType.Float64);
        FiniteDifferences.Check(() => ChannelsLast.ConvTranspose(CL(), ct1), ("x", x), ("weight", ct1.weight), ("bias", ct1.bias!));
        var x3 = randn(new long[] { 2, 3, 6 }, ScalarType.Float64, generator: g).requires_grad_();
        var narrow = Layers.Conv1d(3, 2, 3, g, 1, 1).to(ScalarType.Float64);
        FiniteDifferences.Check(() => SafeConv.Conv(x3, narrow), ("x", x3), ("weight", narrow.weight), ("bias", narrow.bias!));
        FiniteDifferences.Check(() => SafeConv.ConvTranspose(x3, ct1), ("x", x3), ("weight", ct1.weight), ("bias", ct1.bias!));
    }

    [Fact]
    public void ModulesKeepPyTorchWeightShapes()
    {
        using var g = new Generator(1);
        using var m = Layers.ConvTranspose1d(8, 4, 7, g, 2, 3, 1);
        Assert.Equal(new long[] { 8, 4, 7 }, m.weight.shape);
        using var x = randn(new long[] { 2, 8, 16 }, generator: g);
        using var fast = ChannelsLast.ConvTranspose(ChannelsLast.From3d(x), m);
        using var slow = m.forward(x);
        Assert.Equal(new long[] { 2, 4, 1, 32 }, fast.shape);
        Assert.True(fast.select(2, 0).allclose(slow, 1e-5, 1e-5));
    }

    [Fact]
    public void ContiguousMakesChannelsLastMemoryWithTheSameValues()
    {
        using var scope = NewDisposeScope();
        var x = arange(24, ScalarType.Float32).reshape(2, 3, 1, 4);
        Assert.False(ChannelsLast.IsChannelsLast(x));
        var y = ChannelsLast.Contiguous(x);
        Assert.True(ChannelsLast.IsChannelsLast(y));
        Assert.Equal(new long[] { 12, 1, 12, 3 }, y.stride());
        Assert.True(y.allclose(x, 0, 0));
    }

    [Fact]
    public void BadArgumentsNameTheProblem()
    {
        using var g = new Generator(2);
        using var conv = Layers.Conv1d(3, 4, 3, g, 1, 1);
        using var x = zeros(2, 5, 1, 8);
        var e = Assert.Throws<ArgumentException>(() => ChannelsLast.Conv(x, conv));
        Assert.Contains("[B, 3, 1, L]", e.Message);
        Assert.Contains("[2, 5, 1, 8]", e.Message);
        using var bn = nn.BatchNorm1d(4);
        e = Assert.Throws<ArgumentException>(() => ChannelsLast.BatchNorm(x, bn));
        Assert.Contains("BatchNorm1d(4)", e.Message);
        using var reflect = nn.Conv1d(5, 2, 3, padding: 1, padding_mode: PaddingModes.Reflect);
        Assert.Throws<NotSupportedException>(() => ChannelsLast.Conv(x, reflect));
    }
}
