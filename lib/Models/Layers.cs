using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PDiff.Models;

/// <summary>
/// TorchSharp's layers with PyTorch's default initialisation drawn from an explicit, seeded generator
/// (design.md §3: every random number comes from a generator the caller owns). TorchSharp's constructors
/// draw from the global generator; these factories build the same module and redraw its parameters.
/// The returned modules are plain TorchSharp modules with PyTorch's parameter names.
/// </summary>
public static class Layers
{
    public static Linear Linear(long inFeatures, long outFeatures, Generator gen, bool bias = true)
    {
        var m = nn.Linear(inFeatures, outFeatures, hasBias: bias);
        Init.UniformFanIn(m.weight!, inFeatures, gen);
        if (m.bias is { } b) Init.UniformFanIn(b, inFeatures, gen);
        return m;
    }

    public static Conv1d Conv1d(long inChannels, long outChannels, long kernel, Generator gen, long stride = 1, long padding = 0,
        long dilation = 1, long groups = 1, bool bias = true)
    {
        var m = nn.Conv1d(inChannels, outChannels, kernel, stride: stride, padding: padding, dilation: dilation, groups: groups, bias: bias);
        ResetConv(m.weight!, m.bias, gen);
        return m;
    }

    public static Conv2d Conv2d(long inChannels, long outChannels, long kernel, Generator gen, long stride = 1, long padding = 0,
        long dilation = 1, long groups = 1, bool bias = true)
    {
        var m = nn.Conv2d(inChannels, outChannels, kernel, stride: stride, padding: padding, dilation: dilation, groups: groups, bias: bias);
        ResetConv(m.weight!, m.bias, gen);
        return m;
    }

    /// <summary>ConvTranspose1d; PyTorch computes its fan-in from weight dim 1 (out/groups · k), as here.</summary>
    public static ConvTranspose1d ConvTranspose1d(long inChannels, long outChannels, long kernel, Generator gen, long stride = 1,
        long padding = 0, long outputPadding = 0, long dilation = 1, long groups = 1, bool bias = true)
    {
        var m = nn.ConvTranspose1d(inChannels, outChannels, kernel, stride: stride, padding: padding, output_padding: outputPadding,
            dilation: dilation, groups: groups, bias: bias);
        ResetConv(m.weight!, m.bias, gen);
        return m;
    }

    /// <summary>A lookup table [num, dim], N(0, 1) as in PyTorch.</summary>
    public static Embedding Embedding(long num, long dim, Generator gen)
    {
        var m = nn.Embedding(num, dim);
        Init.Normal(m.weight!, 0, 1, gen);
        return m;
    }

    // kaiming_uniform_(a=√5) on the weight is U(±1/√fan_in), fan_in = size(1)·receptive field; the bias uses the same bound.
    static void ResetConv(Tensor weight, Tensor? bias, Generator gen)
    {
        var fanIn = weight.size(1) * weight.shape.Skip(2).Aggregate(1L, (a, b) => a * b);
        Init.UniformFanIn(weight, fanIn, gen);
        if (bias is not null) Init.UniformFanIn(bias, fanIn, gen);
    }
}

/// <summary>
/// PyTorch's default initialisations (reference §0), always from an explicit generator. Tensor methods, not
/// <c>nn.init.*</c>: TorchSharp 0.107's <c>nn.init.uniform_/normal_</c> ignore their generator argument and
/// its <c>trunc_normal_</c> fills every element with one value (tests/PDiff.Tests/Nn/ModuleTests).
/// </summary>
public static class Init
{
    /// <summary>U(−1/√fan_in, 1/√fan_in): what kaiming_uniform_(a=√5) gives for Linear/Conv weights and their biases.</summary>
    public static void UniformFanIn(Tensor t, long fanIn, Generator g)
    {
        var bound = fanIn > 0 ? 1.0 / Math.Sqrt(fanIn) : 0;
        using (no_grad()) t.uniform_(-bound, bound, g);
    }

    public static void Normal(Tensor t, double mean, double std, Generator g)
    {
        using (no_grad()) t.normal_(mean, std, g);
    }

    /// <summary>N(0, std) truncated at ±2·std, by PyTorch's inverse-CDF method: U(2Φ(−2)−1, 2Φ(2)−1) → erfinv → ·std·√2.</summary>
    public static void TruncNormal(Tensor t, double std, Generator g)
    {
        const double edge = 0.9544997361036416; // 2Φ(2) − 1
        using (no_grad())
        {
            t.uniform_(-edge, edge, g);
            using Scalar scale = std * Math.Sqrt(2), low = -2 * std, high = 2 * std;
            t.erfinv_().mul_(scale).clamp_(low, high);
        }
    }
}
