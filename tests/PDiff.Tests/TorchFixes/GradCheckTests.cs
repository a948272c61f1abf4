using TorchSharp;
using Xunit;
using static PDiff.Tests.TorchFixes.GradCheck;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Tests.TorchFixes;

/// <summary>
/// The finite-difference checker itself: it must pass a correct gradient and catch a wrong or a missing
/// one, or a gradient test of our own layers built on it proves nothing. (libtorch's own ops are
/// TorchSharp's and PyTorch's to test; we check only what we compose.)
/// </summary>
public class GradCheckTests
{
    static readonly long[] S23 = { 2, 3 };

    [Fact]
    public void CheckerPassesACorrectGradient()
    {
        // A small composite with broadcasting, a reduction and a non-linearity, like our layers.
        Run(x => F.layer_norm(x[0].matmul(x[1]).tanh() + x[2], new long[] { 2 }).mul(x[0].sum(1, keepdim: true)),
            Uniform(1, new long[] { 3, 4 }), Uniform(2, new long[] { 4, 2 }), Uniform(3, new long[] { 2 }));
    }

    [Fact]
    public void CheckerCatchesAWrongGradient()
    {
        // d/dx (x · stop_grad(x)) is x for autograd but 2x numerically: the checker must say so.
        var ex = Assert.Throws<GradCheckException>(() => Run(x =>
        {
            var d = x[0].detach();
            return x[0] * d;
        }, Uniform(90, S23, 0.5, 1)));
        Assert.Contains("6 gradient element(s) disagree", ex.Message);
        Assert.Contains("input 0 [2, 3] element 0", ex.Message);
    }

    [Fact]
    public void CheckerCatchesAMissingGradient()
    {
        // An input the output depends on only through a detached path gets no gradient at all.
        Assert.Throws<GradCheckException>(() => Run(x => x[0].detach().exp() + x[1], Uniform(91, S23), Uniform(92, S23)));
    }

    [Fact]
    public void CheckerRefusesFloat32Outputs()
    {
        var ex = Assert.Throws<GradCheckException>(() => Run(x => x[0].to(ScalarType.Float32), Uniform(93, S23)));
        Assert.Contains("float64", ex.Message);
    }
}
