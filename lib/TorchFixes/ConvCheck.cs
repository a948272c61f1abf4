using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.TorchFixes;

/// <summary>
/// Declares that every convolution of a module runs through <see cref="SafeConv"/> (ours do), so it is exact
/// wherever SafeConv's padding is (<see cref="ConvCheck.SafeConvIsExact"/>). Implement it on a module of your own
/// once its forward calls <c>SafeConv.Conv(x, conv)</c> instead of <c>conv.forward(x)</c>.
/// </summary>
public interface ISafeConvolutions { }

/// <summary>
/// Whether this process's float32 convolutions are exact: a few tiny convolutions of the shapes that libtorch
/// 2.10's oneDNN kernels got wrong on our AVX-512 CPU (see <see cref="SafeConv"/> and
/// docs/upstream/onednn-conv-avx512), compared with float64 (which libtorch computes without oneDNN), three ways:
/// <list type="number">
/// <item>as libtorch runs them (<see cref="OneDnnIsExact"/>, <see cref="Failures"/>);</item>
/// <item>through <see cref="SafeConv"/> (<see cref="SafeConvIsExact"/>): the padding rule was measured on one CPU
/// at its full instruction set; another CPU, or <c>ONEDNN_MAX_CPU_ISA</c> set lower, fails other shapes;</item>
/// <item>on libtorch's own kernels, oneDNN switched off (<see cref="NativeIsExact"/>, <see cref="ConvKernels"/>).</item>
/// </list>
/// The probes run once per process (tens of ms), at the first convolution that needs the verdict; where the
/// first fails, <see cref="WrongKernelsFound"/> is raised once with <see cref="Describe"/>'s line (pdiff prints it).
/// What the verdicts decide: SafeConv switches oneDNN off for the process where its own padding fails
/// (<see cref="EnsureSafeConvExact"/>); lib/Zoo runs a module whose convolutions do not go through SafeConv
/// without oneDNN where the first probe fails (ForeignConvolutions); either refuses where the native kernels
/// fail too or cannot be switched on.
/// </summary>
public static class ConvCheck
{
    /// <summary>What to do where no exact route is left, in the words every refusal uses.</summary>
    public const string Fix = "restart the process with ONEDNN_MAX_CPU_ISA=SSE41 (oneDNN's oldest kernels, exact on the CPU where " +
                              "the newer ones failed, slower) or route your module's convolutions through PDiff.TorchFixes.SafeConv " +
                              "(and mark it PDiff.TorchFixes.ISafeConvolutions)";

    /// <summary>Where the wrong kernels are described (shapes, errors, a standalone reproduction).</summary>
    public const string Details = "docs/upstream/onednn-conv-avx512/README.md";

    sealed record Verdict(int Probes, IReadOnlyList<string> Raw, IReadOnlyList<string> Safe, IReadOnlyList<string>? Native);

    static readonly Lazy<Verdict> measured = new(Measure, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The verdict (measured on first use), announced once where it found wrong kernels.</summary>
    static Verdict Current
    {
        get
        {
            var v = measured.Value;
            if (v.Raw.Count > 0 && Interlocked.Exchange(ref announced, 1) == 0) WrongKernelsFound?.Invoke(Describe());
            return v;
        }
    }

    static int announced;

    [ThreadStatic] static bool probing;

    /// <summary>True on the thread running the probes (SafeConv then runs as it is, so that it can be probed).</summary>
    internal static bool Probing => probing;

    /// <summary>
    /// Raised once per process, when the probes find that libtorch's float32 convolutions are wrong here, with
    /// <see cref="Describe"/>'s one line. Subscribe before the first convolution (pdiff does in Main).
    /// </summary>
    public static event Action<string>? WrongKernelsFound;

    /// <summary>True when every probe matched float64 as libtorch runs it (relative error below 1e-3; failures are 1e-2 to NaN).</summary>
    public static bool OneDnnIsExact => Current.Raw.Count == 0;

    /// <summary>The probes that did not match as libtorch runs them, described (empty when exact).</summary>
    public static IReadOnlyList<string> Failures => Current.Raw;

    /// <summary>True when every probe matched float64 through SafeConv (always where <see cref="OneDnnIsExact"/>).</summary>
    public static bool SafeConvIsExact => Current.Safe.Count == 0;

    /// <summary>
    /// True when every probe matched float64 with oneDNN switched off (<see cref="ConvKernels.WithoutOneDnn"/>);
    /// false where the switch is not available. Probed only where <see cref="OneDnnIsExact"/> is false (else true).
    /// </summary>
    public static bool NativeIsExact => Current.Native is { Count: 0 };

    /// <summary>One line: the verdict and what p-diff does about it.</summary>
    public static string Describe()
    {
        var v = Current;
        if (v.Raw.Count == 0) return $"Convolutions: libtorch {__version__}'s float32 kernels matched float64 on every probe.";
        var what = $"libtorch {__version__}'s float32 oneDNN convolutions are wrong on this CPU ({v.Raw[0]}; {v.Raw.Count} of {v.Probes} probes; {Details})";
        var ours = v.Safe.Count == 0 ? "p-diff's layers pad around them (SafeConv)"
            : v.Native is { Count: 0 } ? "SafeConv's padding does not cover them here, so oneDNN is off for this process (exact, slower)"
            : "p-diff's layers would be wrong here too, so convolutions are refused";
        var others = v.Native is { Count: 0 } ? "other networks' convolutions run on libtorch's own kernels (exact, slower)"
            : $"other networks' convolutions are refused ({(v.Native is null ? "oneDNN cannot be switched off in this libtorch" : "libtorch's own kernels are wrong too: " + v.Native[0])})";
        return $"{what}; {ours}; {others}.";
    }

    /// <summary>
    /// Returns when SafeConv's convolutions are exact in this process (its padding passed the probes, or oneDNN is
    /// now off for the process and libtorch's own kernels passed them); throws <see cref="InvalidOperationException"/>
    /// with the problem and the fix otherwise. Called by SafeConv before each convolution (a flag test after the first).
    /// </summary>
    public static void EnsureSafeConvExact()
    {
        if (probing) return;
        _ = safeRoute.Value;
    }

    static IDisposable? processWithoutOneDnn;

    static readonly Lazy<bool> safeRoute = new(() =>
    {
        var v = Current;
        if (v.Safe.Count == 0) return true;
        if (v.Native is { Count: 0 })
        {
            processWithoutOneDnn = ConvKernels.WithoutOneDnn(); // for the rest of the process: backward passes run later
            return true;
        }
        throw new InvalidOperationException(Refusal("Running p-diff's convolutions"));
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The refusal's text: the problem, the evidence, the fix.</summary>
    public static string Refusal(string what)
    {
        var native = Current.Native;
        var why = native is null ? "oneDNN cannot be switched off in this libtorch" : native.Count > 0 ? $"libtorch's own kernels are wrong too ({native[0]})" : null;
        return $"{what} would run convolutions that this process computes wrongly: libtorch {__version__}'s float32 oneDNN convolution " +
               $"kernels on this CPU give wrong or NaN results for some channel counts ({string.Join("; ", Failures)}; checked against float64)" +
               (why is null ? "" : $", and {why}") + $". To run it exactly, {Fix}.";
    }

    /// <summary>
    /// The shapes of the failures measured on AMD EPYC (AVX-512): an input gradient with output channels not a
    /// multiple of 16 (2-D and 1-D), a forward with input channels above 16 and not a multiple of 16 (and, at
    /// ONEDNN_MAX_CPU_ISA=AVX2 or AVX, above 8 and not a multiple of 8), a strided input gradient with an odd number
    /// of blocks of 16 input channels, a stride-1 transposed convolution's forward, and an inference on
    /// channels-last activations with a 1×1 kernel and more than 32 output channels. Batch 4 (32 for the last) and
    /// small maps, where libtorch picks oneDNN. The wrong kernels read memory they did not write: on fresh (zeroed)
    /// memory they are often right by luck, so each probe runs three times right after freeing NaN-filled blocks of
    /// the sizes it allocates (<see cref="DirtyHeap"/>); then the failures showed every time.
    /// </summary>
    static IEnumerable<Probe> Probes()
    {
        var pad1 = new long[] { 1, 1 };
        var one = new long[] { 1, 1 };
        var none = new long[] { 0, 0 };
        yield return new("conv2d 8→8 k3 input gradient", new long[] { 4, 8, 10, 10 }, new long[] { 8, 8, 3, 3 }, true, false,
            (x, w) => F.conv2d(x, w, padding: pad1), (x, w) => SafeConv.Conv2d(x, w, null, one, pad1, one, 1));
        yield return new("conv1d 8→8 k3 input gradient", new long[] { 4, 8, 32 }, new long[] { 8, 8, 3 }, true, false,
            (x, w) => F.conv1d(x, w, padding: 1), (x, w) => SafeConv.Conv(x, w, null, 1, 1, 1, 1));
        yield return new("conv2d 20→16 k3 forward", new long[] { 4, 20, 10, 10 }, new long[] { 16, 20, 3, 3 }, false, false,
            (x, w) => F.conv2d(x, w, padding: pad1), (x, w) => SafeConv.Conv2d(x, w, null, one, pad1, one, 1));
        yield return new("conv1d 12→16 k3 forward", new long[] { 4, 12, 32 }, new long[] { 16, 12, 3 }, false, false,
            (x, w) => F.conv1d(x, w, padding: 1), (x, w) => SafeConv.Conv(x, w, null, 1, 1, 1, 1));
        yield return new("conv2d 40→16 k3 stride 2 input gradient", new long[] { 4, 40, 10, 10 }, new long[] { 16, 40, 3, 3 }, true, false,
            (x, w) => F.conv2d(x, w, strides: new long[] { 2, 2 }, padding: pad1),
            (x, w) => SafeConv.Conv2d(x, w, null, new long[] { 2, 2 }, pad1, one, 1));
        yield return new("conv_transpose1d 8→16 k3 forward", new long[] { 4, 8, 32 }, new long[] { 8, 16, 3 }, false, false,
            (x, w) => F.conv_transpose1d(x, w, padding: 1), (x, w) => SafeConv.ConvTranspose(x, w, null, 1, 1, 0, 1, 1));
        yield return new("channels-last conv2d 24→24 k3 inference", new long[] { 4, 24, 10, 10 }, new long[] { 24, 24, 3, 3 }, false, true,
            (x, w) => F.conv2d(x, w, padding: pad1), (x, w) => SafeConv.Conv2d(x, w, null, one, pad1, one, 1));
        yield return new("channels-last conv2d 16→40 k1 inference", new long[] { 32, 16, 7, 7 }, new long[] { 40, 16, 1, 1 }, false, true,
            (x, w) => F.conv2d(x, w, padding: none), (x, w) => SafeConv.Conv2d(x, w, null, one, none, one, 1));
    }

    sealed record Probe(string Name, long[] X, long[] W, bool InputGrad, bool ChannelsLast, Func<Tensor, Tensor, Tensor> Raw, Func<Tensor, Tensor, Tensor> Safe);

    static Verdict Measure()
    {
        probing = true;
        try
        {
            // The first convolution may come inside inference mode (a scorer's), where no tensor can require a gradient.
            using var normal = inference_mode(false);
            using var quiet = ConvKernels.WithoutNnpack();   // the float64 references would print an NNPACK warning each
            var probes = Probes().ToList();
            var raw = Run(probes, p => p.Raw);
            if (raw.Count == 0) return new Verdict(probes.Count, raw, raw, raw);
            var safe = Run(probes, p => p.Safe);
            List<string>? native = null;
            if (ConvKernels.Available)
                using (ConvKernels.WithoutOneDnn())
                    native = Run(probes, p => p.Raw);
            return new Verdict(probes.Count, raw, safe, native);
        }
        finally
        {
            probing = false;
        }
    }

    static List<string> Run(IReadOnlyList<Probe> probes, Func<Probe, Func<Tensor, Tensor, Tensor>> op)
    {
        var found = new List<string>();
        using var scope = NewDisposeScope();
        using var gen = new Generator(12345);
        foreach (var p in probes)
            for (var attempt = 0; attempt < 3; attempt++)
                if (Fails(p, op(p), gen) is { } failure)
                {
                    found.Add(failure);
                    break;
                }
        return found;
    }

    static string? Fails(Probe p, Func<Tensor, Tensor, Tensor> op, Generator gen)
    {
        using var inner = NewDisposeScope();
        var x64 = randn(p.X, ScalarType.Float64, generator: gen);
        var w64 = randn(p.W, ScalarType.Float64, generator: gen);
        Tensor Output(ScalarType dt, Func<Tensor, Tensor, Tensor> f)
        {
            DirtyHeap();
            var x = x64.to(dt);
            if (p.ChannelsLast) x = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
            if (!p.InputGrad)
            {
                using (no_grad()) return f(x, w64.to(dt)).to(ScalarType.Float64);
            }
            using var grad = enable_grad();
            x = x.detach().requires_grad_(true);
            var y = f(x, w64.to(dt));
            using var up = y.detach().to(ScalarType.Float64).cos().to(dt);   // a fixed, non-trivial upstream gradient
            y.backward(new[] { up });
            return x.grad!.to(ScalarType.Float64);
        }
        var reference = Output(ScalarType.Float64, p.Raw);
        var fast = Output(ScalarType.Float32, op);
        var err = fast.sub(reference).abs().max().item<double>() / Math.Max(1e-12, reference.abs().max().item<double>());
        return err < 1e-3 ? null : $"{p.Name}: relative error {(double.IsNaN(err) ? "NaN" : err.ToString("G2"))}";
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
