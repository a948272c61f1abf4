using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.TorchFixes;

/// <summary>
/// 1-D conv stacks run as 2-D ones on [B, C, 1, L] activations stored channels-last, because oneDNN's
/// convolutions can be faster on that layout than on [B, C, L]; whether they are depends on the model and the
/// libtorch version, so each model that offers it measures it (bench/README.md). The modules keep PyTorch's 1-D parameter shapes, so state dicts do not change;
/// only the activations' layout does. Values equal the 1-D ops up to float rounding.
/// </summary>
/// <remarks>
/// TorchSharp 0.107 has no <c>contiguous(memory_format)</c>: a [B, C, 1, L] tensor whose memory is
/// [B, 1, L, C] is made by permute → contiguous → permute. libtorch runs a convolution channels-last when
/// its input or its kernel is; the output, batch norm and the element-wise ops that follow keep that
/// layout, so the kernels are plain views of the 1-D weights except where the input is not channels-last
/// (see <see cref="Kernel"/>).
/// The convolutions themselves go through <see cref="SafeConv"/>, which avoids libtorch 2.10 kernels that
/// gave wrong values on our machine.
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

    /// <summary>
    /// True when libtorch treats a 4-D tensor as channels-last (its <c>suggest_memory_format</c>): the
    /// strides rise C, W, H, N, and an ambiguous one (C = 1, e.g. the input of a first layer) counts as
    /// contiguous, as in c10's <c>is_channels_last_strides_2d</c>.
    /// </summary>
    public static bool IsChannelsLast(Tensor x)
    {
        if (x.dim() != 4) return false;
        var (shape, stride) = (x.shape, x.stride());
        if (stride[1] == 0) return false;
        long min = 0;
        foreach (var d in new[] { 1, 3, 2, 0 })
        {
            if (shape[d] == 0 || stride[d] < min) return false;
            if (d == 0 && min == stride[1]) return false;
            min = stride[d] * (shape[d] > 1 ? shape[d] : 1);
        }
        return true;
    }

    /// <summary>
    /// The [out, in, 1, k] kernel of a 1-D weight. A plain view when the input is channels-last (libtorch
    /// then runs channels-last); otherwise a channels-last kernel, which makes libtorch pick the
    /// channels-last path and output: a free re-striding when dim 1 has size 1 (the same memory), else a copy.
    /// </summary>
    internal static Tensor Kernel(Tensor weight, Tensor input)
    {
        var k = weight.unsqueeze(2);
        if (IsChannelsLast(input)) return k;
        if (k.size(1) == 1)
        {
            using var view = k;
            var (o, kk) = (k.size(0), k.size(3));
            return view.as_strided(new[] { o, 1, 1, kk }, new[] { kk, 1, kk, 1 }, view.storage_offset());
        }
        using (k) return Contiguous(k);
    }

    /// <summary>Conv1d on [B, C, 1, L] activations (channels-last for speed; any 4-D layout gives the same values).</summary>
    public static Tensor Conv(Tensor h, Conv1d conv)
    {
        if (h.dim() != 4) throw new ArgumentException($"Channels-last Conv1d({conv.in_channels} → {conv.out_channels}): expected activations [B, {conv.in_channels}, 1, L]; got [{string.Join(", ", h.shape)}].");
        return SafeConv.Conv(h, conv);
    }

    /// <summary>ConvTranspose1d on [B, C, 1, L] activations: libtorch 2.10 runs it as one oneDNN deconvolution.</summary>
    public static Tensor ConvTranspose(Tensor h, ConvTranspose1d ct)
    {
        if (h.dim() != 4) throw new ArgumentException($"Channels-last ConvTranspose1d({ct.in_channels} → {ct.out_channels}): expected activations [B, {ct.in_channels}, 1, L]; got [{string.Join(", ", h.shape)}].");
        return SafeConv.ConvTranspose(h, ct);
    }

    /// <summary>
    /// BatchNorm1d's semantics on a 3-D or 4-D input (training: batch statistics, running-stat and counter
    /// updates; eval: running stats), without BatchNorm1d's check that the input is 2-D or 3-D.
    /// </summary>
    public static Tensor BatchNorm(Tensor h, BatchNorm1d bn)
    {
        if (h.size(1) != bn.num_features)
            throw new ArgumentException($"BatchNorm1d({bn.num_features}) got {h.size(1)} channels ([{string.Join(", ", h.shape)}]).");
        return SafeOps.BatchNorm(bn, h);
    }

    /// <summary>Instance statistics with BN's affine parameters: a batch of one in train mode, for each sample.</summary>
    public static Tensor PerSampleNorm(Tensor h, BatchNorm1d bn) =>
        F.instance_norm(h, null, null, bn.weight, bn.bias, true, bn.momentum ?? 0.1, bn.eps);
}
