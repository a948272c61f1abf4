using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using PDiff.Diffusion;

namespace PDiff.Engine;

/// <summary>
/// The 1-D (and [B, C, 1, L] 2-D) convolutions of this folder, routed around wrong results of libtorch
/// 2.10's float oneDNN kernels, measured on our CPU (AMD EPYC, AVX-512) against float64:
/// <list type="bullet">
/// <item>the input gradient of a convolution whose output channels are not a multiple of 16 is wrong or
/// NaN: in [B, C, L] layout at stride 1 (any input channels, even batch 1) and for one input channel at
/// stride 2; in channels-last layout for one input channel;</item>
/// <item>a transposed convolution's forward (the same kernel) is wrong for stride 1, and for one or two
/// output channels.</item>
/// </list>
/// Forward convolutions and weight gradients were always right, and so was everything whose output
/// channels are a multiple of 16. So a convolution at risk runs with its kernel zero-padded to the next
/// multiple of 16 output channels (the extra outputs are dropped: values and gradients are unchanged),
/// and a stride-1 transposed convolution runs as the convolution with the flipped kernel. Tests compare
/// whole models' gradients with float64 (<c>ArchitectureTests.GradientsMatchFloat64</c>).
/// </summary>
public static class SafeConv
{
    const long Block = 16;

    /// <summary>Conv1d's forward on [B, C, L], or on [B, C, 1, L] (see <see cref="ChannelsLast"/>).</summary>
    public static Tensor Conv(Tensor x, Conv1d conv)
    {
        CheckInput(x, conv, "Conv1d");
        return Conv(x, conv.weight, conv.bias, conv.stride[0], conv.padding![0], conv.dilation[0], conv.groups);
    }

    /// <summary>ConvTranspose1d's forward on [B, C, L], or on [B, C, 1, L].</summary>
    public static Tensor ConvTranspose(Tensor x, ConvTranspose1d ct)
    {
        CheckInput(x, ct, "ConvTranspose1d");
        return ConvTranspose(x, ct.weight, ct.bias, ct.stride[0], ct.padding![0], ct.output_padding[0], ct.dilation[0], ct.groups);
    }

    /// <param name="weight">[out, in/groups, k], as Conv1d's.</param>
    public static Tensor Conv(Tensor x, Tensor weight, Tensor? bias, long stride, long padding, long dilation, long groups)
    {
        var cout = weight.size(0);
        // Channels-last went wrong only with one input channel; [B, C, L] more widely.
        var atRisk = cout % Block != 0 && groups == 1 && x.requires_grad && is_grad_enabled() && (x.dim() == 3 || x.size(1) == 1);
        if (!atRisk) return Raw(x, weight, bias, stride, padding, dilation, groups);
        using var scope = NewDisposeScope();
        var extra = Block - cout % Block;
        var w = cat(new[] { weight, weight.new_zeros(new[] { extra, weight.size(1), weight.size(2) }) }, 0);
        var b = bias is null ? null : cat(new[] { bias, bias.new_zeros(new[] { extra }) }, 0);
        return Raw(x, w, b, stride, padding, dilation, 1).narrow(1, 0, cout).MoveToOuterDisposeScope();
    }

    /// <param name="weight">[in, out/groups, k], as ConvTranspose1d's.</param>
    public static Tensor ConvTranspose(Tensor x, Tensor weight, Tensor? bias, long stride, long padding, long outputPadding, long dilation, long groups)
    {
        var (cout, k) = (weight.size(1) * groups, weight.size(2));
        var convPad = dilation * (k - 1) - padding;
        if (stride == 1 && groups == 1 && outputPadding == 0 && convPad >= 0)
        {
            using var scope = NewDisposeScope();
            var w = weight.transpose(0, 1).flip(2);                        // [out, in, k]
            return Conv(x, w, bias, 1, convPad, dilation, 1).MoveToOuterDisposeScope();
        }
        if (groups == 1 && cout % Block != 0)
        {
            using var scope = NewDisposeScope();
            var extra = Block - cout % Block;
            var w = cat(new[] { weight, weight.new_zeros(new[] { weight.size(0), extra, k }) }, 1);
            var b = bias is null ? null : cat(new[] { bias, bias.new_zeros(new[] { extra }) }, 0);
            return RawTranspose(x, w, b, stride, padding, outputPadding, dilation, 1).narrow(1, 0, cout).MoveToOuterDisposeScope();
        }
        return RawTranspose(x, weight, bias, stride, padding, outputPadding, dilation, groups);
    }

    /// <summary>
    /// A Sequential's layers as forward functions, with its convolutions routed through this class: run
    /// them in order instead of <c>Sequential.forward</c>. The Sequential keeps the parameters and names.
    /// </summary>
    public static Func<Tensor, Tensor>[] Steps(Sequential sequential) =>
        sequential.children().Select(m => m switch
        {
            Conv1d c => x => Conv(x, c),
            ConvTranspose1d t => x => ConvTranspose(x, t),
            nn.Module<Tensor, Tensor> f => (Func<Tensor, Tensor>)f.forward,
            _ => throw new NotSupportedException($"SafeConv.Steps: layer {m.GetType().Name} does not map tensors to tensors."),
        }).ToArray();

    /// <summary>Runs <see cref="Steps"/> in order.</summary>
    public static Tensor Run(Func<Tensor, Tensor>[] steps, Tensor x)
    {
        var h = x;
        foreach (var step in steps) h = step(h);
        return h;
    }

    static Tensor Raw(Tensor x, Tensor w, Tensor? b, long s, long p, long d, long g)
    {
        if (x.dim() == 3) return F.conv1d(x, w, b, s, p, d, g);
        using var k = ChannelsLast.Kernel(w, x);
        return F.conv2d(x, k, b, new[] { 1, s }, new[] { 0, p }, new[] { 1, d }, g);
    }

    static Tensor RawTranspose(Tensor x, Tensor w, Tensor? b, long s, long p, long op, long d, long g)
    {
        if (x.dim() == 3) return F.conv_transpose1d(x, w, b, s, p, op, d, g);
        using var k = ChannelsLast.Kernel(w, x);
        return F.conv_transpose2d(x, k, b, new[] { 1, s }, new[] { 0, p }, new[] { 0, op }, new[] { 1, d }, g);
    }

    static void CheckInput(Tensor x, Convolution c, string what)
    {
        var ok = (x.dim() == 3 || (x.dim() == 4 && x.size(2) == 1)) && x.size(1) == c.in_channels;
        if (!ok)
            throw new ArgumentException($"{what}({c.in_channels} → {c.out_channels}): expected activations [B, {c.in_channels}, L] or [B, {c.in_channels}, 1, L]; got [{string.Join(", ", x.shape)}].");
        if (c.padding_type is not null || c.padding_mode != PaddingModes.Zeros)
            throw new NotSupportedException($"{what}: only explicit zero padding is supported (got {c.padding_type?.ToString() ?? c.padding_mode.ToString()}); p-diff's layers use it.");
    }
}
