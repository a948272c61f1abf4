using System.Runtime.InteropServices;

namespace PDiff.TorchFixes;

/// <summary>
/// Makes glibc's malloc keep freed memory in the process, so libtorch's CPU tensors reuse pages that are
/// already mapped instead of faulting fresh ones in at every training or sampling step.
/// </summary>
/// <remarks>
/// Why: by default glibc serves every block above its mmap threshold (128 KB, adapting up to 32 MB) with
/// its own <c>mmap</c>, unmaps it on free, and gives the top of the heap back above 128 KB. A p-diff step
/// allocates and frees activations of 1–100 MB, so each step maps, zero-fills and faults them in again.
/// On a small VM a page fault is expensive, so cloning a large tensor, an autoencoder step and a batched
/// decode all cost markedly less CPU with this setting (measured in bench/README.md). Values are untouched: only where
/// memory comes from changes. The price: the process keeps its peak native heap (up to 2 GB of freed
/// memory) until it exits. PyTorch's CPU tuning guide recommends jemalloc/tcmalloc for the same reason.
/// Process-wide and idempotent: a program's entry point applies it through <see cref="ProcessSettings.Apply"/>
/// (the library never does on its own). Set <c>PDIFF_NATIVE_HEAP=default</c> to keep glibc's behaviour. Other
/// systems (and musl) are left alone.
/// </remarks>
public static class NativeHeap
{
    /// <summary>The environment variable that switches this off (value <c>default</c>).</summary>
    public const string OptOutVariable = "PDIFF_NATIVE_HEAP";

    const int M_TRIM_THRESHOLD = -1, M_MMAP_MAX = -4;   // glibc's malloc.h
    static readonly object gate = new();
    static bool? applied;

    /// <summary>True once the settings are in force in this process.</summary>
    public static bool IsApplied => applied == true;

    /// <summary>
    /// Serves all allocations from the heap (no per-block mmap) and never trims it; returns whether glibc
    /// accepted both settings. Safe to call any number of times, from any thread.
    /// </summary>
    public static bool KeepFreedMemory()
    {
        lock (gate)
        {
            applied ??= Apply();
            return applied.Value;
        }
    }

    static bool Apply()
    {
        if (!OperatingSystem.IsLinux()) return false;
        if (string.Equals(Environment.GetEnvironmentVariable(OptOutVariable), "default", StringComparison.OrdinalIgnoreCase)) return false;
        try
        {
            // 1 = accepted. Without mmap, a block too large for a thread's arena falls back to the main heap.
            var mmap = mallopt(M_MMAP_MAX, 0) == 1;
            var trim = mallopt(M_TRIM_THRESHOLD, int.MaxValue) == 1;
            return mmap && trim;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;   // not glibc
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int mallopt(int param, int value);
}
