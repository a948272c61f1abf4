using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Engine;

/// <summary>
/// Declares that every convolution of a module runs through <see cref="SafeConv"/> (ours do), so training
/// it is exact even where libtorch's float32 convolution kernels are not. Implement it on a module of
/// your own once its forward calls <c>SafeConv.Conv(x, conv)</c> instead of <c>conv.forward(x)</c>.
/// </summary>
public interface ISafeConvolutions { }

/// <summary>
/// Whether this process's float32 convolutions are exact: a few tiny convolutions of the shapes that
/// libtorch 2.10's oneDNN kernels got wrong on our AVX-512 CPU (see <see cref="SafeConv"/>), compared with
/// float64. Run once per process (a few ms). A module we did not write may use such shapes without
/// <see cref="SafeConv"/>; lib/Zoo refuses to train one where this probe fails.
/// </summary>
public static class ConvCheck
{
    /// <summary>What to do about it, in the words every refusal uses.</summary>
    public const string Fix = "restart the process with ONEDNN_MAX_CPU_ISA=AVX (exact, slower convolutions) or route your module's " +
                              "convolutions through PDiff.Engine.SafeConv (and mark it PDiff.Engine.ISafeConvolutions)";

    static readonly Lazy<IReadOnlyList<string>> failures = new(Probe, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>True when every probe matched float64 (relative error below 1e-3; failures are 1e-2 to NaN).</summary>
    public static bool GradientsAreExact() => failures.Value.Count == 0;

    /// <summary>The probes that did not match, described (empty when exact).</summary>
    public static IReadOnlyList<string> Failures => failures.Value;

    /// <summary>
    /// Throws the refusal for <paramref name="what"/> (e.g. "Collecting a subset of TorchScriptModel") when
    /// the probe failed; returns otherwise.
    /// </summary>
    public static void RequireExact(string what)
    {
        if (GradientsAreExact()) return;
        throw new InvalidOperationException(Refusal(what));
    }

    /// <summary>The refusal's text: the problem, the evidence, the fix.</summary>
    public static string Refusal(string what) =>
        $"{what} would train convolutions that this process computes wrongly: libtorch {__version__}'s float32 oneDNN convolution " +
        $"kernels on this CPU give wrong or NaN results for some channel counts ({string.Join("; ", Failures)}; checked against float64). " +
        $"To train it exactly, {Fix}.";

    /// <summary>
    /// The shapes of the failures measured on AMD EPYC (AVX-512): an input gradient with output channels
    /// not a multiple of 16 (2-D and 1-D), a forward with input channels above 16 and not a multiple of 16,
    /// a strided input gradient with an odd number of blocks of 16 input channels, and a stride-1
    /// transposed convolution's forward. Batch 4 and 3-wide kernels, where libtorch picks oneDNN.
    /// The wrong kernels read memory they did not write: on fresh (zeroed) memory they are often right by
    /// luck, so each probe runs three times right after freeing NaN-filled blocks of the sizes it allocates
    /// (<see cref="DirtyHeap"/>); then the failures showed every time.
    /// </summary>
    static IReadOnlyList<string> Probe()
    {
        var found = new List<string>();
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        using var gen = new Generator(12345);
        void Check(string name, long[] xShape, long[] wShape, Func<Tensor, Tensor, Tensor> op, bool inputGrad)
        {
            for (var attempt = 0; attempt < 3; attempt++)
                if (Fails(name, xShape, wShape, op, inputGrad)) return;
        }
        bool Fails(string name, long[] xShape, long[] wShape, Func<Tensor, Tensor, Tensor> op, bool inputGrad)
        {
            using var inner = NewDisposeScope();
            var x64 = randn(xShape, ScalarType.Float64, generator: gen);
            var w64 = randn(wShape, ScalarType.Float64, generator: gen);
            Tensor Run(ScalarType dt)
            {
                DirtyHeap();
                var x = x64.to(dt).detach().requires_grad_(inputGrad);
                var y = op(x, w64.to(dt));
                if (!inputGrad) return y.to(ScalarType.Float64);
                using var up = y.detach().to(ScalarType.Float64).cos().to(dt);   // a fixed, non-trivial upstream gradient
                return torch.autograd.grad(new[] { y }, new[] { x }, new[] { up })[0].to(ScalarType.Float64);
            }
            var (reference, fast) = (Run(ScalarType.Float64), Run(ScalarType.Float32));
            var err = fast.sub(reference).abs().max().item<double>() / Math.Max(1e-12, reference.abs().max().item<double>());
            if (err < 1e-3) return false;
            found.Add($"{name}: relative error {(double.IsNaN(err) ? "NaN" : err.ToString("G2"))}");
            return true;
        }
        Check("conv2d 8→8 k3 input gradient", new long[] { 4, 8, 10, 10 }, new long[] { 8, 8, 3, 3 },
            (x, w) => F.conv2d(x, w, padding: new long[] { 1, 1 }), true);
        Check("conv1d 8→8 k3 input gradient", new long[] { 4, 8, 32 }, new long[] { 8, 8, 3 },
            (x, w) => F.conv1d(x, w, padding: 1), true);
        Check("conv2d 20→16 k3 forward", new long[] { 4, 20, 10, 10 }, new long[] { 16, 20, 3, 3 },
            (x, w) => F.conv2d(x, w, padding: new long[] { 1, 1 }), false);
        Check("conv2d 40→16 k3 stride 2 input gradient", new long[] { 4, 40, 10, 10 }, new long[] { 16, 40, 3, 3 },
            (x, w) => F.conv2d(x, w, strides: new long[] { 2, 2 }, padding: new long[] { 1, 1 }), true);
        Check("conv_transpose1d 8→16 k3 forward", new long[] { 4, 8, 32 }, new long[] { 8, 16, 3 },
            (x, w) => F.conv_transpose1d(x, w, padding: 1), false);
        return found;
    }

    /// <summary>
    /// Allocates and frees NaN-filled float32 blocks of 1 KB to 64 KB, so that the allocations that follow
    /// (served from the freed blocks by malloc) start out as NaN instead of zeros: a kernel that reads
    /// memory it did not write then shows it.
    /// </summary>
    public static void DirtyHeap()
    {
        using Scalar nan = float.NaN;
        for (var i = 0; i < 7; i++)
            full(new long[] { 256L << i }, nan).Dispose();
    }
}
