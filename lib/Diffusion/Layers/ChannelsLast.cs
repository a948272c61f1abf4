using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Diffusion;

/// <summary>
/// 1-D conv stacks run as 2-D ones on [B, C, 1, L] activations stored channels-last, because oneDNN's
/// convolutions are faster on that layout than on [B, C, L] (about 10 % on the V2 denoiser with libtorch
/// 2.10, design.md §9). The modules keep PyTorch's 1-D parameter shapes, so state dicts do not change;
/// only the activations' layout does. Values equal the 1-D ops up to float rounding.
/// </summary>
/// <remarks>
/// TorchSharp 0.107 has no <c>contiguous(memory_format)</c>: a [B, C, 1, L] tensor whose memory is
/// [B, 1, L, C] is made by permute → contiguous → permute. The kernels stay plain views of the 1-D
/// weights: libtorch picks the channels-last oneDNN path when the input is channels-last, and the output,
/// batch norm and the element-wise ops that follow keep that layout.
/// </remarks>
public static class ChannelsLast
{
    /// <summary>[B, C, L] → [B, C, 1, L] in channels-last memory.</summary>
    public static Tensor From3d(Tensor x)
    {
        using var x4 = x.unsqueeze(2);
        return Contiguous(x4);
    }

    /// <summary>A 4-D tensor with the same values in channels-last memory (itself, as a view, when it already is).</summary>
    public static Tensor Contiguous(Tensor x4)
    {
        using var nhwc = x4.permute(0, 2, 3, 1);
        using var dense = nhwc.contiguous();
        return dense.permute(0, 3, 1, 2);
    }

    /// <summary>True when a 4-D tensor's strides are those of channels-last memory (size-1 dims ignored).</summary>
    public static bool IsChannelsLast(Tensor x)
    {
        if (x.dim() != 4) return false;
        var (shape, stride) = (x.shape, x.stride());
        long expected = 1;
        foreach (var d in new[] { 1, 3, 2, 0 })
        {
            if (shape[d] != 1 && stride[d] != expected) return false;
            expected *= shape[d];
        }
        return true;
    }

    /// <summary>Conv1d on [B, C, 1, L] activations (channels-last for speed; any 4-D layout gives the same values).</summary>
    public static Tensor Conv(Tensor h, Conv1d conv)
    {
        CheckInput(h, conv, "Conv1d");
        using var k = conv.weight!.unsqueeze(2);                                  // [out, in, 1, k], a view
        return F.conv2d(h, k, conv.bias, new[] { 1, conv.stride[0] }, new[] { 0, conv.padding![0] },
            new[] { 1, conv.dilation[0] }, conv.groups);
    }

    /// <summary>ConvTranspose1d on channels-last activations: libtorch 2.10 runs it as one oneDNN deconvolution.</summary>
    public static Tensor ConvTranspose(Tensor h, ConvTranspose1d ct)
    {
        CheckInput(h, ct, "ConvTranspose1d");
        using var k = ct.weight!.unsqueeze(2);                                    // [in, out/groups, 1, k]
        return F.conv_transpose2d(h, k, ct.bias, new[] { 1, ct.stride[0] }, new[] { 0, ct.padding![0] },
            new[] { 0, ct.output_padding[0] }, new[] { 1, ct.dilation[0] }, ct.groups);
    }

    static void CheckInput(Tensor h, Convolution c, string what)
    {
        if (h.dim() != 4 || h.size(2) != 1 || h.size(1) != c.in_channels)
            throw new ArgumentException($"Channels-last {what}({c.in_channels} → {c.out_channels}): expected activations [B, {c.in_channels}, 1, L]; got [{string.Join(", ", h.shape)}].");
        if (c.padding_type is not null || c.padding_mode != PaddingModes.Zeros)
            throw new NotSupportedException($"Channels-last {what}: only explicit zero padding is supported (got {c.padding_type?.ToString() ?? c.padding_mode.ToString()}); p-diff's layers use it.");
    }

    /// <summary>
    /// BatchNorm1d's semantics on a 3-D or 4-D input (training: batch statistics, running-stat and counter
    /// updates; eval: running stats), without BatchNorm1d's check that the input is 2-D or 3-D.
    /// </summary>
    public static Tensor BatchNorm(Tensor h, BatchNorm1d bn)
    {
        if (h.size(1) != bn.num_features)
            throw new ArgumentException($"BatchNorm1d({bn.num_features}) got {h.size(1)} channels ([{string.Join(", ", h.shape)}]).");
        var momentum = bn.momentum ?? 0.0;
        if (bn.training && bn.track_running_stats && bn.num_batches_tracked is { } n)
        {
            using (no_grad()) n.add_(1);
            // PyTorch's momentum=None is the cumulative average 1/n.
            if (bn.momentum is null) momentum = 1.0 / n.item<long>();
        }
        var useBatch = bn.training || bn.running_mean is null;
        return F.batch_norm(h, bn.running_mean, bn.running_var, bn.weight, bn.bias, useBatch, momentum, bn.eps);
    }

    /// <summary>Instance statistics with BN's affine parameters: a batch of one in train mode, for each sample.</summary>
    public static Tensor PerSampleNorm(Tensor h, BatchNorm1d bn) =>
        F.instance_norm(h, null, null, bn.weight, bn.bias, true, bn.momentum ?? 0.1, bn.eps);
}
