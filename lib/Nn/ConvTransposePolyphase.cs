using PDiff.Torch;
using F = PDiff.Torch.torch.nn.functional;

namespace PDiff.Nn;

/// <summary>
/// <c>conv_transpose1d</c> computed as one ordinary <c>conv1d</c> (design.md §9): libtorch 1.13's native
/// transposed convolution has a slow CPU backward (about three quarters of a p-diff V2 autoencoder step),
/// while conv1d's forward and backward are fast. Equal in value to the native op up to float rounding.
/// </summary>
/// <remarks>
/// Polyphase form, which skips the multiplications by inserted zeros. With stride s, kernel k and
/// Q = ⌈k/s⌉, split the kernel taps j = q·s + r (r &lt; s, taps beyond k are zero). The full, uncropped
/// output is z[m·s + r] = Σ_q x[m − q]·w[q·s + r], m = 0 … L_in + Q − 2: for each phase r a stride-1
/// correlation of x with the q-reversed taps, i.e. a conv1d with padding Q − 1. All s phases run as ONE
/// conv1d with s·C_out output channels (weight [C_out·s, C_in, Q]); interleaving the phases is a
/// reshape, and PyTorch's padding / output_padding become a crop (or a zero extension) of z.
/// For p-diff's k5/s5 V1 decoder, Q = 1: the whole op is a single matrix product.
/// </remarks>
public static class ConvTransposePolyphase
{
    /// <summary>True when the conv1d form applies (no groups, no dilation); otherwise use the native op.</summary>
    public static bool Supports(long groups, long dilation) => groups == 1 && dilation == 1;

    /// <summary>
    /// The weight as a conv1d kernel [C_out·s, C_in, Q] (differentiable: built from <paramref name="w"/>
    /// [C_in, C_out, k] by padding, flipping and permuting).
    /// </summary>
    public static Tensor PhaseKernel(Tensor w, long stride)
    {
        if (w.dim() != 3) throw new ArgumentException($"conv_transpose1d weight must be [in, out, k]; got {TorchException.ShapeString(w.shape)}.");
        var (cin, cout, k) = (w.size(0), w.size(1), w.size(2));
        var q = (k + stride - 1) / stride;
        using var padded = q * stride == k ? w.alias() : F.pad(w, new[] { 0L, q * stride - k });
        using var split = padded.reshape(cin, cout, q, stride);      // [ci, co, q, r]
        using var reversed = split.flip(2);                           // tap index t = Q−1−q
        using var perm = reversed.permute(1, 3, 0, 2);                // [co, r, ci, t]
        return perm.reshape(cout * stride, cin, q);
    }

    /// <summary>Same contract as <see cref="torch.nn.functional.conv_transpose1d"/> with groups = dilation = 1.</summary>
    public static Tensor Forward(Tensor x, Tensor w, Tensor? bias, long stride, long padding, long outputPadding)
    {
        if (x.dim() != 3) throw new ArgumentException($"conv_transpose1d expects input [N, C, L]; got {TorchException.ShapeString(x.shape)}.");
        if (w.dim() != 3 || w.size(0) != x.size(1))
            throw new ArgumentException($"conv_transpose1d: input {TorchException.ShapeString(x.shape)} needs a weight [{x.size(1)}, out, k]; got {TorchException.ShapeString(w.shape)}.");
        if (stride < 1 || padding < 0 || outputPadding < 0 || outputPadding >= stride)
            throw new ArgumentException($"conv_transpose1d: stride {stride}, padding {padding}, output_padding {outputPadding} (need stride ≥ 1, padding ≥ 0, 0 ≤ output_padding < stride).");
        var (n, lin) = (x.size(0), x.size(2));
        var (cout, k) = (w.size(1), w.size(2));
        var q = (k + stride - 1) / stride;
        var lout = (lin - 1) * stride - 2 * padding + k + outputPadding;
        if (lout <= 0) throw new ArgumentException($"conv_transpose1d: input length {lin} gives output length {lout} with k {k}, stride {stride}, padding {padding}.");
        var full = (lin + q - 1) * stride;            // length of z
        var end = padding + lout;                      // z must cover [padding, end)
        using var kernel = PhaseKernel(w, stride);
        // Bias inside the conv when every output position comes from z; otherwise added after the zero extension.
        var biasInConv = bias is not null && end <= full;
        using var phaseBias = biasInConv ? bias!.unsqueeze(1).expand(cout, stride).reshape(cout * stride) : null;
        using var phases = F.conv1d(x, kernel, phaseBias, 1, q - 1);          // [n, co·s, m]
        var m = lin + q - 1;
        using var split = phases.view(n, cout, stride, m);
        using var inter = split.transpose(2, 3);                              // [n, co, m, s]
        using var z = inter.reshape(n, cout, m * stride);
        if (end <= full) return padding == 0 && end == full ? z.alias() : z.narrow(2, padding, lout).contiguous();
        using var extended = F.pad(z, new[] { 0L, end - full });
        using var y = extended.narrow(2, padding, lout);
        if (bias is null) return y.contiguous();
        using var b = bias.view(1, cout, 1);
        return y.add(b);
    }
}
