using PDiff.Torch;
using Xunit;
using F = PDiff.Torch.torch.nn.functional;
using static PDiff.Tests.Engine.GradCheck;

namespace PDiff.Tests.Engine;

/// <summary>
/// Autograd against finite differences for every differentiable op the roadmap uses (elementwise maths,
/// activations, reductions, shape and indexing ops). Networks ops (conv, pools, norms, losses) are in
/// <see cref="GradCheckNnTests"/>. Tensors are tiny: the whole set runs in a second or two.
/// </summary>
public class GradCheckTests
{
    static readonly long[] S23 = { 2, 3 };

    public static readonly Dictionary<string, Action> Cases = new()
    {
        // ---- arithmetic, with broadcasting on both sides ----
        ["add broadcast row"] = () => Run(x => x[0].add(x[1], 0.5), Uniform(1, S23), Uniform(2, new long[] { 3 })),
        ["sub broadcast column"] = () => Run(x => x[0].sub(x[1], 2), Uniform(3, S23), Uniform(4, new long[] { 2, 1 })),
        ["mul broadcast both"] = () => Run(x => x[0] * x[1], Uniform(5, new long[] { 2, 1, 3 }), Uniform(6, new long[] { 4, 1 })),
        ["div broadcast"] = () => Run(x => x[0] / x[1], Uniform(7, S23), Uniform(8, new long[] { 3 }, 0.5, 2)),
        ["scalar ops"] = () => Run(x => (2.0 - x[0] * 3.0 + 1.5) / 4.0, Uniform(9, S23)),
        ["pow scalar exponent"] = () => Run(x => x[0].pow(3), Uniform(10, S23)),
        ["pow fractional exponent"] = () => Run(x => x[0].pow(1.5), Uniform(11, S23, 0.2, 2)),
        ["pow tensor exponent"] = () => Run(x => x[0].pow(x[1]), Uniform(12, S23, 0.3, 2), Uniform(13, new long[] { 3 })),

        // ---- unary maths and activations ----
        ["exp"] = () => Run(x => x[0].exp(), Uniform(20, S23)),
        ["log"] = () => Run(x => x[0].log(), Uniform(21, S23, 0.2, 3)),
        ["sqrt"] = () => Run(x => x[0].sqrt(), Uniform(22, S23, 0.2, 3)),
        ["tanh"] = () => Run(x => x[0].tanh(), Uniform(23, S23, -2, 2)),
        ["sigmoid"] = () => Run(x => x[0].sigmoid(), Uniform(24, S23, -3, 3)),
        ["relu"] = () => Run(x => x[0].relu(), AwayFromZero(25, S23)),
        ["leaky_relu"] = () => Run(x => F.leaky_relu(x[0], 0.2), AwayFromZero(26, S23)),
        ["leaky_relu default slope"] = () => Run(x => F.leaky_relu(x[0]), AwayFromZero(27, S23)),
        ["elu"] = () => Run(x => F.elu(x[0]), AwayFromZero(28, S23)),
        ["elu alpha 0.5"] = () => Run(x => F.elu(x[0], 0.5), AwayFromZero(29, S23)),
        ["gelu exact"] = () => Run(x => F.gelu(x[0]), Uniform(30, S23, -3, 3)),
        ["gelu tanh"] = () => Run(x => F.gelu(x[0], tanhApproximation: true), Uniform(31, S23, -3, 3)),
        ["silu"] = () => Run(x => F.silu(x[0]), Uniform(32, S23, -3, 3)),
        ["softmax last dim"] = () => Run(x => x[0].softmax(-1), Uniform(33, new long[] { 2, 4 }, -2, 2)),
        ["softmax dim 0"] = () => Run(x => F.softmax(x[0], 0), Uniform(34, new long[] { 3, 2, 2 }, -2, 2)),
        ["log_softmax"] = () => Run(x => F.log_softmax(x[0], 1), Uniform(35, new long[] { 2, 4 }, -2, 2)),
        ["clamp both bounds"] = () => Run(x => x[0].clamp(-0.5, 0.5), Of(new[] { -0.9, -0.3, 0.1, 0.45, 0.7, -0.6 }, 2, 3)),
        ["clamp min only"] = () => Run(x => x[0].clamp(min: 0.2), Of(new[] { -0.9, -0.3, 0.1, 0.45, 0.7, -0.6 }, 2, 3)),

        // ---- reductions ----
        ["sum all"] = () => Run(x => x[0].sum(), Uniform(40, S23)),
        ["sum dims keepdim"] = () => Run(x => x[0].sum(new long[] { 0, 2 }, keepdim: true), Uniform(41, new long[] { 2, 3, 4 })),
        ["mean all"] = () => Run(x => x[0].mean(), Uniform(42, S23)),
        ["mean dim"] = () => Run(x => x[0].mean(1), Uniform(43, new long[] { 2, 3, 4 })),
        ["std unbiased all"] = () => Run(x => x[0].std(), Uniform(44, S23)),
        ["std biased dim"] = () => Run(x => x[0].std(new long[] { 1 }, unbiased: false), Uniform(45, new long[] { 2, 4 })),
        ["var unbiased dim keepdim"] = () => Run(x => x[0].var(new long[] { 0 }, keepdim: true), Uniform(46, new long[] { 3, 2 })),
        ["var biased all"] = () => Run(x => x[0].var(unbiased: false), Uniform(47, S23)),

        // ---- linear algebra ----
        ["matmul 2d"] = () => Run(x => x[0].matmul(x[1]), Uniform(50, new long[] { 3, 4 }), Uniform(51, new long[] { 4, 2 })),
        ["matmul batched broadcast"] = () => Run(x => x[0].matmul(x[1]), Uniform(52, new long[] { 2, 1, 3, 4 }), Uniform(53, new long[] { 3, 4, 2 })),
        ["matmul vector"] = () => Run(x => x[0].matmul(x[1]), Uniform(54, new long[] { 3 }), Uniform(55, new long[] { 3, 2 })),
        ["linear with bias"] = () => Run(x => F.linear(x[0], x[1], x[2]), Uniform(56, new long[] { 2, 3, 4 }), Uniform(57, new long[] { 5, 4 }), Uniform(58, new long[] { 5 })),
        ["linear without bias"] = () => Run(x => F.linear(x[0], x[1]), Uniform(59, new long[] { 3, 4 }), Uniform(60, new long[] { 2, 4 })),
        ["scaled_dot_product_attention"] = () => Run(x => F.scaled_dot_product_attention(x[0], x[1], x[2]),
            Uniform(61, new long[] { 2, 3, 4 }), Uniform(62, new long[] { 2, 5, 4 }), Uniform(63, new long[] { 2, 5, 2 })),

        // ---- shape ----
        ["cat"] = () => Run(x => torch.cat(new[] { x[0], x[1], x[2] }, 1), Uniform(70, new long[] { 2, 1 }), Uniform(71, S23), Uniform(72, new long[] { 2, 2 })),
        ["stack dim 1"] = () => Run(x => torch.stack(new[] { x[0], x[1] }, 1), Uniform(73, S23), Uniform(74, S23)),
        ["reshape permute transpose"] = () => Run(x => x[0].reshape(3, 2, 2).permute(2, 0, 1).transpose(0, 2).reshape(-1, 3) * x[1],
            Uniform(75, new long[] { 2, 6 }), Uniform(76, new long[] { 4, 3 })),
        ["pad grow and crop"] = () => Run(x => F.pad(x[0], new long[] { 1, 2, -1, 1 }, 0.5), Uniform(77, new long[] { 2, 3, 4 })),

        // ---- indexing ----
        ["slice with step"] = () => Run(x => x[0].slice(1, 1, 6, 2), Uniform(80, new long[] { 2, 7 })),
        ["index_select with repeats"] = () =>
        {
            using var idx = torch.tensor(new long[] { 2, 0, 2, 3 });
            Run(x => x[0].index_select(1, idx), Uniform(81, new long[] { 2, 4 }));
        },
        ["gather"] = () =>
        {
            using var idx = torch.tensor(new long[] { 0, 2, 2, 1, 1, 0 }, 2, 3);
            Run(x => x[0].gather(1, idx), Uniform(82, new long[] { 2, 4 }));
        },
        ["where"] = () =>
        {
            using var cond = torch.tensor(new[] { true, false, true, false, false, true }, 2, 3);
            Run(x => torch.where(cond, x[0], x[1]), Uniform(83, S23), Uniform(84, new long[] { 3 }));
        },
        ["embedding with repeated ids"] = () =>
        {
            using var ids = torch.tensor(new long[] { 0, 2, 2, 4, 1, 0 }, 2, 3);
            Run(x => F.embedding(ids, x[0]), Uniform(85, new long[] { 5, 3 }));
        },
    };

    public static TheoryData<string> Names => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public void AutogradMatchesFiniteDifferences(string op) => Cases[op]();

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
