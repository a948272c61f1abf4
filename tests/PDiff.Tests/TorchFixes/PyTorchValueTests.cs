using System.Text.Json;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static PDiff.Tests.TorchFixes.Fixtures;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Tests.TorchFixes;

/// <summary>
/// TorchSharp's ops against values PyTorch 1.13 computed on the same inputs (fixtures/engine/*.json, written
/// by make_fixtures.py): the defaults our numbers depend on (biased/unbiased variance, BatchNorm momentum
/// and running statistics, eps, label smoothing, GELU variants) are PyTorch's, not just self-consistent.
/// float32 throughout; 1e-5 allows for a different thread count or libtorch 2.10's kernels changing the
/// order of a reduction.
/// </summary>
public class PyTorchValueTests
{
    static TheoryData<string> NamesOf(string file) => new(Cases(file).Keys);
    public static TheoryData<string> ReductionCases => NamesOf("reductions.json");
    public static TheoryData<string> BatchNormCases => NamesOf("batch_norm.json");
    public static TheoryData<string> NormCases => NamesOf("norms.json");
    public static TheoryData<string> ConvCases => NamesOf("conv.json");
    public static TheoryData<string> ActivationCases => NamesOf("activations.json");
    public static TheoryData<string> LossCases => NamesOf("losses.json");
    public static TheoryData<string> PoolDistanceCases => NamesOf("pools_distances.json");

    static long[] Longs(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt64()).ToArray();

    [Theory]
    [MemberData(nameof(ReductionCases))]
    public void StdAndVar(string name)
    {
        var c = Cases("reductions.json")[name];
        using var scope = torch.NewDisposeScope();
        var x = Input(c, "x");
        var dims = Longs(Arg(c, "dims"));
        var unbiased = Arg(c, "unbiased").GetBoolean();
        var keepdim = Arg(c, "keepdim").GetBoolean();
        var y = Arg(c, "op").GetString() == "std" ? x.std(dims, unbiased, keepdim) : x.var(dims, unbiased, keepdim);
        AssertClose(Output(c, "y"), y, what: name);
    }

    [Theory]
    [MemberData(nameof(BatchNormCases))]
    public void BatchNormOutputAndRunningStatistics(string name)
    {
        var c = Cases("batch_norm.json")[name];
        using var scope = torch.NewDisposeScope();
        var x = Input(c, "x");
        var rm = Input(c, "running_mean");
        var rv = Input(c, "running_var");
        var w = HasInput(c, "weight") ? Input(c, "weight") : null;
        var b = HasInput(c, "bias") ? Input(c, "bias") : null;
        var y = F.batch_norm(x, rm, rv, w, b, Arg(c, "training").GetBoolean(), Arg(c, "momentum").GetDouble(), Arg(c, "eps").GetDouble());
        AssertClose(Output(c, "y"), y, what: name + " output");
        // Training updates the running statistics in place (momentum 0.1, unbiased variance); eval leaves them.
        AssertClose(Output(c, "running_mean"), rm, what: name + " running_mean");
        AssertClose(Output(c, "running_var"), rv, what: name + " running_var");
    }

    [Theory]
    [MemberData(nameof(NormCases))]
    public void InstanceGroupAndLayerNorm(string name)
    {
        var c = Cases("norms.json")[name];
        using var scope = torch.NewDisposeScope();
        var x = Input(c, "x");
        var w = HasInput(c, "weight") ? Input(c, "weight") : null;
        var b = HasInput(c, "bias") ? Input(c, "bias") : null;
        var y = Arg(c, "op").GetString() switch
        {
            "instance_norm" => F.instance_norm(x, weight: w, bias: b),
            "group_norm" => F.group_norm(x, Arg(c, "groups").GetInt64(), w, b),
            "layer_norm" => F.layer_norm(x, Longs(Arg(c, "normalized_shape")), w, b),
            var op => throw new NotSupportedException(op),
        };
        AssertClose(Output(c, "y"), y, what: name);
    }

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void ConvTranspose1d(string name)
    {
        var c = Cases("conv.json")[name];
        using var scope = torch.NewDisposeScope();
        var b = HasInput(c, "bias") ? Input(c, "bias") : null;
        var y = F.conv_transpose1d(Input(c, "x"), Input(c, "weight"), b, stride: Arg(c, "stride").GetInt64(), padding: Arg(c, "padding").GetInt64(),
            output_padding: Arg(c, "output_padding").GetInt64(), groups: Arg(c, "groups").GetInt64());
        AssertClose(Output(c, "y"), y, what: name);
    }

    [Theory]
    [MemberData(nameof(ActivationCases))]
    public void ActivationsAndSoftmax(string name)
    {
        var c = Cases("activations.json")[name];
        using var scope = torch.NewDisposeScope();
        var x = Input(c, "x");
        var y = Arg(c, "op").GetString() switch
        {
            "gelu" => F.gelu(x, Arg(c, "approximate").GetString() == "tanh" ? GELU.Approximate.tanh : GELU.Approximate.none),
            "elu" => F.elu(x, Arg(c, "alpha").GetDouble()),
            "softmax" => F.softmax(x, Arg(c, "dim").GetInt64()),
            "log_softmax" => F.log_softmax(x, Arg(c, "dim").GetInt64()),
            var op => throw new NotSupportedException(op),
        };
        AssertClose(Output(c, "y"), y, what: name);
    }

    [Theory]
    [MemberData(nameof(LossCases))]
    public void CrossEntropyWithLabelSmoothing(string name)
    {
        var c = Cases("losses.json")[name];
        using var scope = torch.NewDisposeScope();
        // The fixture stores ATen's reduction codes.
        var reduction = Arg(c, "reduction").GetInt32() switch { 0 => nn.Reduction.None, 1 => nn.Reduction.Mean, 2 => nn.Reduction.Sum, var r => throw new NotSupportedException($"reduction {r}") };
        var y = F.cross_entropy(Input(c, "logits"), Input(c, "target"), reduction: reduction, label_smoothing: Arg(c, "label_smoothing").GetDouble());
        AssertClose(Output(c, "y"), y, what: name);
    }

    [Theory]
    [MemberData(nameof(PoolDistanceCases))]
    public void AdaptivePoolAndCdist(string name)
    {
        var c = Cases("pools_distances.json")[name];
        using var scope = torch.NewDisposeScope();
        Tensor y;
        if (Arg(c, "op").GetString() == "cdist")
            y = torch.cdist(Input(c, "a"), Input(c, "b"), Arg(c, "p").GetDouble());
        else
        {
            var o = Longs(Arg(c, "out"));
            y = F.adaptive_avg_pool2d(Input(c, "x"), new[] { o[0], o[1] });
        }
        AssertClose(Output(c, "y"), y, what: name);
    }
}
