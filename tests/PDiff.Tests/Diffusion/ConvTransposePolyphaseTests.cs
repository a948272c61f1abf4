using PDiff.Nn;
using PDiff.Torch;
using Xunit;
using F = PDiff.Torch.torch.nn.functional;

namespace PDiff.Tests.Diffusion;

public class ConvTransposePolyphaseTests
{
    // (in, out, k, stride, padding, output_padding, length): V2's decoder block, V1's k5/s5 fold, a kernel
    // shorter than the stride, and cases where output_padding reaches beyond the polyphase output.
    public static TheoryData<int, int, int, int, int, int, int> Cases => new()
    {
        { 32, 16, 7, 2, 3, 1, 9 },
        { 4, 6, 5, 5, 0, 0, 3 },
        { 3, 2, 2, 3, 0, 2, 5 },
        { 2, 3, 4, 2, 0, 1, 4 },
        { 3, 3, 3, 1, 1, 0, 6 },
        { 2, 2, 5, 3, 4, 2, 7 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ValuesAndGradientsEqualTheNativeOp(int cin, int cout, int k, int s, int p, int op, int len)
    {
        using var scope = torch.NewDisposeScope();
        using var g = new Generator(5);
        var x1 = torch.randn(new long[] { 3, cin, len }, g).requires_grad_();
        var w1 = torch.randn(new long[] { cin, cout, k }, g).requires_grad_();
        var b1 = torch.randn(new long[] { cout }, g).requires_grad_();
        var (x2, w2, b2) = (x1.detach().requires_grad_(), w1.detach().requires_grad_(), b1.detach().requires_grad_());

        var native = F.conv_transpose1d(x1, w1, b1, s, p, op);
        var mine = ConvTransposePolyphase.Forward(x2, w2, b2, s, p, op);
        Assert.Equal(native.shape, mine.shape);
        Assert.True(native.allclose(mine, 1e-5, 1e-5), $"max diff {native.sub(mine).abs().max().item<float>()}");

        var r = torch.randn(native.shape, g);
        native.mul(r).sum().backward();
        mine.mul(r).sum().backward();
        Assert.True(x1.grad!.allclose(x2.grad!, 1e-4, 1e-5), "input gradient");
        Assert.True(w1.grad!.allclose(w2.grad!, 1e-4, 1e-5), "weight gradient");
        Assert.True(b1.grad!.allclose(b2.grad!, 1e-4, 1e-5), "bias gradient");
    }

    [Fact]
    public void GradientMatchesFiniteDifferences()
    {
        using var scope = torch.NewDisposeScope();
        using var g = new Generator(9);
        var x = torch.randn(new long[] { 2, 3, 5 }, g, ScalarType.Float64).requires_grad_();
        var w = torch.randn(new long[] { 3, 2, 7 }, g, ScalarType.Float64).requires_grad_();
        var b = torch.randn(new long[] { 2 }, g, ScalarType.Float64).requires_grad_();
        var r = torch.randn(new long[] { 2, 2, 10 }, g, ScalarType.Float64);
        double Loss() { using (torch.no_grad()) return ConvTransposePolyphase.Forward(x, w, b, 2, 3, 1).mul(r).sum().item<double>(); }
        ConvTransposePolyphase.Forward(x, w, b, 2, 3, 1).mul(r).sum().backward();
        const double h = 1e-6;
        foreach (var (t, name) in new[] { (x, "x"), (w, "w"), (b, "b") })
        {
            var grad = t.grad!.reshape(-1).data<double>();
            using var flat = t.detach().reshape(-1);          // shares storage with t
            for (var i = 0; i < grad.Length; i += Math.Max(1, grad.Length / 9))
            {
                using var e = flat.narrow(0, i, 1);
                var v = e.item<double>();
                using (torch.no_grad()) e.fill_(v + h);
                var up = Loss();
                using (torch.no_grad()) e.fill_(v - h);
                var down = Loss();
                using (torch.no_grad()) e.fill_(v);
                Assert.True(Math.Abs((up - down) / (2 * h) - grad[i]) < 1e-6 * Math.Max(1, Math.Abs(grad[i])), $"d/d{name}[{i}]: numeric {(up - down) / (2 * h)}, analytic {grad[i]}");
            }
        }
    }

    [Fact]
    public void ModuleKeepsPyTorchWeightShapeAndUsesTheFastPath()
    {
        using var g = new Generator(1);
        using var m = new ConvTranspose1d(8, 4, 7, g, 2, 3, 1);
        Assert.Equal(new long[] { 8, 4, 7 }, m.weight.shape);
        using var x = torch.randn(new long[] { 2, 8, 16 }, g);
        using var fast = m.forward(x);
        m.UseNative = true;
        using var slow = m.forward(x);
        Assert.Equal(new long[] { 2, 4, 32 }, fast.shape);
        Assert.True(fast.allclose(slow, 1e-5, 1e-5));
    }

    [Fact]
    public void BadArgumentsNameTheProblem()
    {
        using var x = torch.zeros(2, 3, 4);
        using var w = torch.zeros(4, 2, 3);
        var e = Assert.Throws<ArgumentException>(() => ConvTransposePolyphase.Forward(x, w, null, 2, 0, 0));
        Assert.Contains("weight [3, out, k]", e.Message);
        using var w2 = torch.zeros(3, 2, 3);
        Assert.Throws<ArgumentException>(() => ConvTransposePolyphase.Forward(x, w2, null, 2, 0, 2));
    }
}
