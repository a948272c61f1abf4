using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Diffusion;

/// <summary>
/// PyTorch's <c>InstanceNorm1d(n)</c> with its defaults (affine=False, no running statistics): each
/// (sample, channel) row is normalised over its length with the biased variance. It holds no parameters.
/// </summary>
/// <remarks>
/// V1 passes the sequence length as <c>n</c> (reference §2.1); PyTorch only warns when that differs from
/// the channel count, while TorchSharp's InstanceNorm1d throws, so V1's blocks use this module instead.
/// </remarks>
public sealed class InstanceNorm1dNoAffine : nn.Module<Tensor, Tensor>
{
    readonly double eps;

    public InstanceNorm1dNoAffine(double eps = 1e-5) : base("InstanceNorm1d") => this.eps = eps;

    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 3) throw new ArgumentException($"InstanceNorm1d expects [N, C, L]; got [{string.Join(", ", x.shape)}].");
        return F.instance_norm(x, null, null, null, null, true, 0.1, eps);
    }
}
