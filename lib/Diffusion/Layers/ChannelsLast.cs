using PDiff.Nn;
using PDiff.Torch;
using F = PDiff.Torch.torch.nn.functional;

namespace PDiff.Diffusion;

/// <summary>
/// 1-D conv stacks run as 2-D ones on [B, C, 1, L] activations stored channels-last, because libtorch
/// 1.13's oneDNN convolutions are markedly faster on that layout than on [B, C, L] (forward and
/// backward; lib/native/diffusion.cpp). The modules keep PyTorch's 1-D parameter shapes, so state dicts
/// do not change; only the activations' layout does. Values equal the 1-D ops up to float rounding.
/// </summary>
internal static class ChannelsLast
{
    /// <summary>[B, C, L] → [B, C, 1, L] in channels-last memory.</summary>
    public static Tensor From3d(Tensor x)
    {
        using var x4 = x.unsqueeze(2);
        return Contiguous(x4);
    }

    public static Tensor Contiguous(Tensor x4) => Tensor.Check(Native.pd_contiguous_channels_last(x4.Handle), "contiguous(channels_last)", x4);

    public static bool IsChannelsLast(Tensor x) => Native.pd_is_channels_last(x.Handle) == 1;

    /// <summary>The Conv1d's weight as a [out, in, 1, k] channels-last kernel (differentiable).</summary>
    static Tensor Kernel(Tensor w)
    {
        using var w4 = w.unsqueeze(2);
        return Contiguous(w4);
    }

    public static unsafe Tensor Conv(Tensor h, Conv1d conv)
    {
        if (conv.Dilation != 1) throw new NotSupportedException("Channels-last conv: dilation > 1 is not used by p-diff.");
        using var k = Kernel(conv.weight);
        long* s = stackalloc long[] { 1, conv.Stride };
        long* p = stackalloc long[] { 0, conv.Padding };
        long* d = stackalloc long[] { 1, 1 };
        var b = conv.bias;
        return Tensor.Check(Native.pd_conv2d(h.Handle, k.Handle, b?.Handle ?? IntPtr.Zero, s, p, d, conv.Groups), "conv2d(channels_last)", h, k, b);
    }

    /// <summary>BatchNorm1d's semantics (training: batch statistics, running-stat and counter updates; eval: running stats) on a 4-D input.</summary>
    public static Tensor BatchNorm(Tensor h, BatchNorm1d bn)
    {
        if (h.size(1) != bn.NumFeatures) throw new ArgumentException($"BatchNorm1d({bn.NumFeatures}) got {h.size(1)} channels ({TorchException.ShapeString(h.shape)}).");
        if (bn.training && bn.num_batches_tracked is { } n)
            using (torch.no_grad()) n.add_(1);
        return F.batch_norm(h, bn.running_mean, bn.running_var, bn.weight, bn.bias, bn.training || bn.running_mean is null, bn.Momentum, bn.Eps);
    }

    /// <summary>
    /// ConvTranspose1d on channels-last activations, in <see cref="ConvTransposePolyphase"/>'s form: one
    /// stride-1 conv with s·C_out output channels, whose phases are interleaved along the length. In
    /// channels-last memory the phase index r sits next to the channel index c (… m, c, r), and the
    /// interleaved output wants (… m, r, c): one transpose-copy.
    /// </summary>
    public static unsafe Tensor ConvTranspose(Tensor h, ConvTranspose1d ct)
    {
        if (ct.Groups != 1) throw new NotSupportedException("Channels-last transposed conv: groups > 1 is not used by p-diff.");
        var (stride, padding, outPad) = (ct.Stride, ct.Padding, ct.OutputPadding);
        var (n, lin) = (h.size(0), h.size(3));
        var (cout, k) = (ct.weight.size(1), ct.weight.size(2));
        var q = (k + stride - 1) / stride;
        var lout = (lin - 1) * stride - 2 * padding + k + outPad;
        var m = lin + q - 1;
        var full = m * stride;
        if (padding + lout > full || lout <= 0)
            throw new NotSupportedException($"Channels-last transposed conv: k {k}, stride {stride}, padding {padding}, output_padding {outPad} reach beyond the polyphase output; use ConvTransposePolyphase.Forward.");
        using var scope = torch.NewDisposeScope();
        var kernel = Contiguous(ConvTransposePolyphase.PhaseKernel(ct.weight, stride).unsqueeze(2));   // [co·s, ci, 1, Q]
        var bias = ct.bias is { } b ? b.unsqueeze(1).expand(cout, stride).reshape(cout * stride) : null;
        long* st = stackalloc long[] { 1, 1 };
        long* pd = stackalloc long[] { 0, q - 1 };
        long* dl = stackalloc long[] { 1, 1 };
        var phases = Tensor.Check(Native.pd_conv2d(h.Handle, kernel.Handle, bias?.Handle ?? IntPtr.Zero, st, pd, dl, 1), "conv_transpose1d(channels_last)", h, kernel);
        var mem = phases.permute(0, 2, 3, 1).view(n, m, cout, stride);         // memory order of channels-last
        var inter = mem.transpose(2, 3).reshape(n, 1, full, cout);               // (… m, r, c)
        var z = inter.permute(0, 3, 1, 2);                                         // [n, co, 1, m·s], channels-last
        var y = padding == 0 && lout == full ? z : Contiguous(z.narrow(3, padding, lout));
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>Instance statistics with BN's affine parameters: a batch of one in train mode, for each sample.</summary>
    public static Tensor PerSampleNorm(Tensor h, BatchNorm1d bn) =>
        F.instance_norm(h, null, null, bn.weight, bn.bias, true, bn.Momentum, bn.Eps);
}
