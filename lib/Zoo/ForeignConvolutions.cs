using PDiff.TorchFixes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>
/// The guard around everything lib/Zoo runs on a module we did not write (a user's TorchSharp class, a TorchScript
/// file): training it and scoring it. libtorch 2.10's float32 oneDNN convolutions are wrong for some channel counts
/// on some CPUs, and only our modules route theirs through <see cref="SafeConv"/> (<see cref="ISafeConvolutions"/>).
/// Where <see cref="ConvCheck.OneDnnIsExact"/> fails, such a module runs with oneDNN switched off
/// (<see cref="ConvKernels.WithoutOneDnn"/>: libtorch's own kernels, which <see cref="ConvCheck.NativeIsExact"/>
/// checked against float64), or is refused with the fix where that route is not there: it runs exactly or not at all.
/// (Checking the module's own outputs against float64 instead would not be reliable: the wrong kernels read memory
/// they did not write, and are right by luck when it is zeros.)
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
    /// Makes the convolutions of <paramref name="model"/> exact until the result is disposed: null where nothing
    /// needs doing (it routes its convolutions through SafeConv, has none, or this process's convolutions passed
    /// <see cref="ConvCheck"/>), else a scope with oneDNN off for the process. Wrap the whole of the work, backward
    /// passes included. Throws <see cref="InvalidOperationException"/> naming <paramref name="what"/>, the problem and
    /// the fix where neither route is exact. Costs: without oneDNN, scoring a small CNN takes markedly longer.
    /// </summary>
    public static IDisposable? Exact(nn.Module model, string what)
    {
        if (!MayConvolveUnsafely(model) || ConvCheck.OneDnnIsExact) return null;
        if (ConvCheck.NativeIsExact) return ConvKernels.WithoutOneDnn();
        throw new InvalidOperationException(ConvCheck.Refusal(what));
    }

    /// <summary>What a module is called in a refusal: our architecture's name, or its class.</summary>
    public static string Name(nn.Module model) => model is PDiff.Models.ImageClassifier c ? c.Spec.Arch : model.GetType().Name;
}
