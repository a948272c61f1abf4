using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.TorchFixes;

/// <summary>
/// The TorchSharp 0.107 operations that make a Scalar of their own and leave it to the finalizer, redone
/// with Scalars that cannot be freed during the native call: <c>a.add(b)</c> (alpha 1), <c>square()</c>
/// (<c>pow(2)</c>), <c>F.leaky_relu</c>, <c>F.elu</c>, <c>BatchNorm.forward</c> (its step counter) and
/// <c>Tensor.ToDouble()</c>-style reads. Same kernels, same arguments, so the same bits.
/// </summary>
/// <remarks>
/// Why: a Scalar made inside such a call is unreachable while libtorch reads it, so a garbage collection
/// started by another thread can free it mid-call (docs/design-notes.md, "Scalars and the garbage
/// collector"). <see cref="One"/> and <see cref="Two"/> are static: always reachable, never finalized,
/// shared by every thread (libtorch only reads them). Other values are made with <c>using Scalar</c>.
/// The test Engine/ImplicitScalarTests finds the calls that need these, from TorchSharp's IL.
/// </remarks>
public static class SafeOps
{
    /// <summary>The integer 1 and 2 as Scalars for the life of the process.</summary>
    public static readonly Scalar One = 1, Two = 2;

    /// <summary>a + b (TorchSharp's <c>a.add(b)</c>).</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary>a += b in place (TorchSharp's <c>a.add_(b)</c>).</summary>
    public static Tensor PlusInPlace(this Tensor a, Tensor b) => a.add_(b, One);

    /// <summary>a² element-wise (TorchSharp's <c>a.square()</c>, which is <c>pow(2)</c>).</summary>
    public static Tensor Squared(this Tensor a) => a.pow(Two);

    /// <summary><c>F.leaky_relu(x, slope, inplace)</c>.</summary>
    public static Tensor LeakyRelu(Tensor x, double slope, bool inplace = false)
    {
        using Scalar s = slope;
        return inplace ? x.leaky_relu_(s) : x.leaky_relu(s);
    }

    /// <summary>
    /// <c>F.elu(x, alpha)</c> (scale and input scale 1), also for <c>inplace: true</c>: TorchSharp 0.107's
    /// in-place ELU gives the values and the gradient of the out-of-place one (libtorch's own in-place ELU
    /// differentiates through its output, which rounds differently), so this keeps those bits.
    /// </summary>
    public static Tensor Elu(Tensor x, double alpha)
    {
        using Scalar a = alpha, scale = 1.0, inputScale = 1.0;
        return x.elu(a, scale, inputScale);
    }

    /// <summary>
    /// <c>bn.forward(x)</c> for any BatchNorm: in training, batch statistics and the running-stat and counter
    /// updates (momentum null: the cumulative average 1/n, as PyTorch's None); in eval, the running statistics.
    /// </summary>
    public static Tensor BatchNorm(BatchNorm bn, Tensor x)
    {
        var momentum = bn.momentum ?? 0.0;
        if (bn.training && bn.track_running_stats && bn.num_batches_tracked is { } n)
        {
            using (no_grad()) n.add_(One, One);   // add_ returns n itself: not disposed
            if (bn.momentum is null) momentum = 1.0 / n.item<long>();
        }
        var useBatch = bn.training || bn.running_mean is null;
        return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, useBatch, momentum, bn.eps);
    }

    /// <summary>The value of a one-element tensor as a double (TorchSharp's <c>t.ToDouble()</c>).</summary>
    public static double ReadDouble(this Tensor t)
    {
        using var s = t.ToScalar();
        return s.ToDouble();
    }

    /// <summary>The value of a one-element tensor as a long (TorchSharp's <c>t.ToInt64()</c>).</summary>
    public static long ReadInt64(this Tensor t)
    {
        using var s = t.ToScalar();
        return s.ToInt64();
    }

    /// <summary>The value of a one-element tensor as a bool (TorchSharp's <c>t.ToBoolean()</c>).</summary>
    public static bool ReadBoolean(this Tensor t)
    {
        using var s = t.ToScalar();
        return s.ToBoolean();
    }
}
