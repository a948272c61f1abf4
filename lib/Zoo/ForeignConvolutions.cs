using PDiff.Engine;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>
/// The guard before lib/Zoo trains a module we did not write (a user's TorchSharp class, a TorchScript
/// file): libtorch 2.10's float32 convolutions are wrong for some channel counts on some CPUs, and only our
/// modules route theirs through <see cref="SafeConv"/> (<see cref="ISafeConvolutions"/>). Where
/// <see cref="ConvCheck.GradientsAreExact"/> fails, such a module is refused with the fix: training either
/// runs exactly or does not start. (Checking the module's own gradients against float64 instead would not
/// be reliable: the wrong kernels read memory they did not write, and are right by luck when it is zeros.)
/// </summary>
public static class ForeignConvolutions
{
    /// <summary>Whether <paramref name="model"/> may run convolutions that do not go through SafeConv.</summary>
    public static bool MayConvolveUnsafely(nn.Module model)
    {
        if (model is ISafeConvolutions) return false;
        // A TorchScript model shows no layer types: a parameter of rank 3 or more may be a kernel.
        if (model.parameters().Any(p => p.dim() >= 3 && p.is_floating_point() && p.dtype != ScalarType.Float64)) return true;
        return model.modules().Any(m => m is Convolution);
    }

    /// <summary>
    /// Returns when training <paramref name="model"/> is exact in this process (it routes its convolutions
    /// through SafeConv, has none, or this process's convolutions passed <see cref="ConvCheck"/>); throws
    /// <see cref="InvalidOperationException"/> naming <paramref name="what"/>, the problem and the fix otherwise.
    /// </summary>
    public static void Require(nn.Module model, string what)
    {
        if (!MayConvolveUnsafely(model) || ConvCheck.GradientsAreExact()) return;
        throw new InvalidOperationException(ConvCheck.Refusal(what));
    }
}
