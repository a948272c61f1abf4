using PDiff.Torch;
using Xunit;
using F = PDiff.Torch.torch.nn.functional;
using static PDiff.Tests.Engine.GradCheck;

namespace PDiff.Tests.Engine;

/// <summary>
/// Autograd against finite differences for the network ops: convolutions (stride, padding, groups, the
/// V2 autoencoder's transposed convolution), pools, the four normalisations in training and eval mode,
/// and the losses.
/// </summary>
public class GradCheckNnTests
{
    public static readonly Dictionary<string, Action> Cases = new()
    {
        // ---- convolutions ----
        ["conv1d stride 2 padding 1 groups 2"] = () => Run(x => F.conv1d(x[0], x[1], x[2], stride: 2, padding: 1, groups: 2),
            Uniform(1, new long[] { 2, 4, 7 }), Uniform(2, new long[] { 6, 2, 3 }), Uniform(3, new long[] { 6 })),
        ["conv1d dilation 2 no bias"] = () => Run(x => F.conv1d(x[0], x[1], dilation: 2, padding: 2),
            Uniform(4, new long[] { 1, 2, 6 }), Uniform(5, new long[] { 3, 2, 3 })),
        ["conv2d stride 2 padding 1"] = () => Run(x => F.conv2d(x[0], x[1], x[2], stride: 2, padding: 1),
            Uniform(6, new long[] { 2, 2, 5, 5 }), Uniform(7, new long[] { 3, 2, 3, 3 }), Uniform(8, new long[] { 3 })),
        ["conv2d groups 2"] = () => Run(x => F.conv2d(x[0], x[1], groups: 2),
            Uniform(9, new long[] { 1, 4, 4, 4 }), Uniform(10, new long[] { 2, 2, 3, 3 })),
        // The V2 parameter autoencoder's decoder layer: kernel 7, stride 2, padding 3, output padding 1
        // doubles the length (5 → 10).
        ["conv_transpose1d V2 shape"] = () => Run(x =>
            {
                var y = F.conv_transpose1d(x[0], x[1], x[2], stride: 2, padding: 3, outputPadding: 1);
                if (y.size(-1) != 10) throw new GradCheckException($"conv_transpose1d length {y.size(-1)}, expected 10");
                return y;
            },
            Uniform(11, new long[] { 2, 3, 5 }), Uniform(12, new long[] { 3, 2, 7 }), Uniform(13, new long[] { 2 })),
        ["conv_transpose1d groups"] = () => Run(x => F.conv_transpose1d(x[0], x[1], stride: 2, groups: 2),
            Uniform(14, new long[] { 1, 4, 3 }), Uniform(15, new long[] { 4, 1, 3 })),

        // ---- pools ----
        ["max_pool2d"] = () => Run(x => F.max_pool2d(x[0], 2), Distinct(20, new long[] { 1, 2, 4, 4 })),
        ["max_pool2d stride 1 padding 1"] = () => Run(x => F.max_pool2d(x[0], 3, stride: 1, padding: 1), Distinct(21, new long[] { 1, 1, 4, 5 })),
        ["avg_pool2d"] = () => Run(x => F.avg_pool2d(x[0], 2), Uniform(22, new long[] { 1, 2, 4, 4 })),
        ["avg_pool2d padding counts pad"] = () => Run(x => F.avg_pool2d(x[0], 3, stride: 2, padding: 1), Uniform(23, new long[] { 1, 1, 5, 5 })),
        ["adaptive_avg_pool2d uneven windows"] = () => Run(x => F.adaptive_avg_pool2d(x[0], 2, 3), Uniform(24, new long[] { 1, 2, 5, 7 })),
        ["adaptive_avg_pool2d global"] = () => Run(x => F.adaptive_avg_pool2d(x[0], 1, 1), Uniform(25, new long[] { 2, 2, 3, 3 })),

        // ---- normalisation ----
        ["batch_norm training affine"] = () => Run(x => F.batch_norm(x[0], null, null, x[1], x[2], training: true),
            Uniform(30, new long[] { 4, 3 }), Uniform(31, new long[] { 3 }), Uniform(32, new long[] { 3 })),
        ["batch_norm training with running stats"] = () => Run(x =>
            {
                // Fresh statistics each evaluation: the in-place update must not leak into the next one.
                using var rm = torch.zeros(new long[] { 3 }, ScalarType.Float64);
                using var rv = torch.ones(new long[] { 3 }, ScalarType.Float64);
                return F.batch_norm(x[0], rm, rv, x[1], x[2], training: true);
            },
            Uniform(33, new long[] { 2, 3, 4 }), Uniform(34, new long[] { 3 }), Uniform(35, new long[] { 3 })),
        ["batch_norm eval"] = () =>
        {
            using var rm = torch.tensor(new[] { 0.1, -0.2, 0.3 });
            using var rv = torch.tensor(new[] { 0.5, 1.5, 2.0 });
            Run(x => F.batch_norm(x[0], rm, rv, x[1], x[2], training: false),
                Uniform(36, new long[] { 2, 3, 4 }), Uniform(37, new long[] { 3 }), Uniform(38, new long[] { 3 }));
        },
        ["instance_norm"] = () => Run(x => F.instance_norm(x[0]), Uniform(40, new long[] { 2, 3, 5 })),
        ["instance_norm affine"] = () => Run(x => F.instance_norm(x[0], weight: x[1], bias: x[2]),
            Uniform(41, new long[] { 2, 2, 4 }), Uniform(42, new long[] { 2 }), Uniform(43, new long[] { 2 })),
        ["group_norm"] = () => Run(x => F.group_norm(x[0], 2, x[1], x[2]),
            Uniform(44, new long[] { 2, 4, 3 }), Uniform(45, new long[] { 4 }), Uniform(46, new long[] { 4 })),
        ["layer_norm last dim"] = () => Run(x => F.layer_norm(x[0], new long[] { 4 }, x[1], x[2]),
            Uniform(47, new long[] { 2, 3, 4 }), Uniform(48, new long[] { 4 }), Uniform(49, new long[] { 4 })),
        ["layer_norm two dims no affine"] = () => Run(x => F.layer_norm(x[0], new long[] { 3, 4 }), Uniform(50, new long[] { 2, 3, 4 })),

        // ---- losses ----
        ["cross_entropy mean"] = () => CrossEntropy(Reduction.Mean, 0),
        ["cross_entropy sum"] = () => CrossEntropy(Reduction.Sum, 0),
        ["cross_entropy none"] = () => CrossEntropy(Reduction.None, 0),
        ["cross_entropy label smoothing"] = () => CrossEntropy(Reduction.Mean, 0.1),
        ["mse_loss mean"] = () => Run(x => F.mse_loss(x[0], x[1]), Uniform(60, new long[] { 2, 3 }), Uniform(61, new long[] { 2, 3 })),
        ["mse_loss sum"] = () => Run(x => F.mse_loss(x[0], x[1], Reduction.Sum), Uniform(62, new long[] { 4 }), Uniform(63, new long[] { 4 })),
        ["mse_loss none"] = () => Run(x => F.mse_loss(x[0], x[1], Reduction.None), Uniform(64, new long[] { 2, 2 }), Uniform(65, new long[] { 2, 2 })),
    };

    static void CrossEntropy(Reduction reduction, double smoothing)
    {
        using var target = torch.tensor(new long[] { 3, 0, 1 });
        Run(x => F.cross_entropy(x[0], target, reduction, smoothing), Uniform(55, new long[] { 3, 4 }, -2, 2));
    }

    public static TheoryData<string> Names => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public void AutogradMatchesFiniteDifferences(string op) => Cases[op]();
}
