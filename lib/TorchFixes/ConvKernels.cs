using System.Runtime.InteropServices;
using TorchSharp;

namespace PDiff.TorchFixes;

/// <summary>
/// libtorch's process-wide choice of convolution kernels: the flags PyTorch sets with
/// <c>torch.backends.mkldnn.enabled</c> and <c>torch.backends.nnpack.enabled</c> (ATen's <c>at::Context</c>), which
/// TorchSharp 0.107 does not expose. Without oneDNN (mkldnn) and NNPACK, libtorch convolves with its own kernels
/// (im2col and GEMM), which matched float64 wherever its oneDNN kernels did not (<see cref="ConvCheck"/>).
/// NNPACK goes with oneDNN: libtorch would otherwise try it for the convolutions oneDNN no longer takes (Winograd,
/// less exact), and where NNPACK does not run (this AMD EPYC) print "Could not initialize NNPACK" once per
/// convolution, float64 ones included.
/// </summary>
/// <remarks>
/// The flags are read by every convolution of the process, whatever the thread: scopes are counted, and the flags
/// come back to what they were when the last scope ends. The entry points are ATen's public C++ API
/// (<c>ATen/Context.h</c>) as exported by libtorch_cpu under the Itanium C++ ABI (Linux, macOS); where they are
/// not found (Windows, another build), <see cref="Available"/> is false and the scopes change nothing.
/// </remarks>
public static unsafe class ConvKernels
{
    static readonly object gate = new();
    static int withoutOneDnn, withoutNnpack;
    static bool savedOneDnn, savedNnpack;

    sealed class Entry
    {
        public IntPtr Context;
        public delegate* unmanaged<IntPtr, byte, void> SetMkldnn, SetNnpack;
        public delegate* unmanaged<IntPtr, byte> GetMkldnn, GetNnpack;
    }

    static readonly Lazy<Entry?> entry = new(Find, LazyThreadSafetyMode.ExecutionAndPublication);

    static Entry? Find()
    {
        TorchRuntime.EnsureLoaded();
        _ = torch.get_num_threads();   // the first torch call loads libtorch_cpu (a dependency of TorchSharp's native library)
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return null;
        var name = OperatingSystem.IsLinux() ? "libtorch_cpu.so" : "libtorch_cpu.dylib";
        if (!NativeLibrary.TryLoad(name, typeof(ConvKernels).Assembly, null, out var lib)) return null;
        IntPtr Export(string symbol) => NativeLibrary.TryGetExport(lib, symbol, out var p) ? p : IntPtr.Zero;
        var global = Export("_ZN2at13globalContextEv");                 // at::globalContext()
        var setMkldnn = Export("_ZN2at7Context20setUserEnabledMkldnnEb"); // at::Context::setUserEnabledMkldnn(bool)
        var getMkldnn = Export("_ZNK2at7Context17userEnabledMkldnnEv");   // at::Context::userEnabledMkldnn() const
        var setNnpack = Export("_ZN2at7Context20setUserEnabledNNPACKEb");
        var getNnpack = Export("_ZNK2at7Context17userEnabledNNPACKEv");
        if (global == 0 || setMkldnn == 0 || getMkldnn == 0 || setNnpack == 0 || getNnpack == 0) return null;
        return new Entry
        {
            Context = ((delegate* unmanaged<IntPtr>)global)(),
            SetMkldnn = (delegate* unmanaged<IntPtr, byte, void>)setMkldnn,
            GetMkldnn = (delegate* unmanaged<IntPtr, byte>)getMkldnn,
            SetNnpack = (delegate* unmanaged<IntPtr, byte, void>)setNnpack,
            GetNnpack = (delegate* unmanaged<IntPtr, byte>)getNnpack,
        };
    }

    /// <summary>Whether this libtorch lets us switch its kernels (false: the scopes below change nothing).</summary>
    public static bool Available => entry.Value is not null;

    /// <summary>Whether convolutions may run on oneDNN now (true where the switch is not available).</summary>
    public static bool OneDnnEnabled => entry.Value is not { } e || e.GetMkldnn(e.Context) != 0;

    /// <summary>Whether libtorch may try NNPACK now (true where the switch is not available).</summary>
    public static bool NnpackEnabled => entry.Value is not { } e || e.GetNnpack(e.Context) != 0;

    /// <summary>
    /// Until disposed, every convolution of the process runs on libtorch's own kernels: no oneDNN, no NNPACK.
    /// Throws <see cref="PlatformNotSupportedException"/> where the switch is not <see cref="Available"/>.
    /// </summary>
    public static IDisposable WithoutOneDnn()
    {
        var e = entry.Value ?? throw new PlatformNotSupportedException(
            $"libtorch {torch.__version__} here does not export at::Context::setUserEnabledMkldnn, so oneDNN cannot be switched off.");
        lock (gate)
        {
            if (withoutOneDnn++ == 0)
            {
                savedOneDnn = e.GetMkldnn(e.Context) != 0;
                e.SetMkldnn(e.Context, 0);
            }
        }
        var nnpack = WithoutNnpack();
        return new Exit(() =>
        {
            nnpack.Dispose();
            lock (gate)
                if (--withoutOneDnn == 0) e.SetMkldnn(e.Context, savedOneDnn ? (byte)1 : (byte)0);
        });
    }

    /// <summary>
    /// Until disposed, libtorch does not try NNPACK (where NNPACK does not run, each float64 convolution would
    /// otherwise print a warning on stderr). Changes nothing where the switch is not <see cref="Available"/>.
    /// </summary>
    public static IDisposable WithoutNnpack()
    {
        if (entry.Value is not { } e) return new Exit(() => { });
        lock (gate)
        {
            if (withoutNnpack++ == 0)
            {
                savedNnpack = e.GetNnpack(e.Context) != 0;
                e.SetNnpack(e.Context, 0);
            }
        }
        return new Exit(() =>
        {
            lock (gate)
                if (--withoutNnpack == 0) e.SetNnpack(e.Context, savedNnpack ? (byte)1 : (byte)0);
        });
    }

    sealed class Exit(Action undo) : IDisposable
    {
        int done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref done, 1) == 0) undo();
        }
    }
}
