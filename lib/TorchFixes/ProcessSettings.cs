namespace PDiff.TorchFixes;

/// <summary>
/// The process-wide settings a p-diff program runs best with, applied by the program's entry point and
/// never by the library itself: the pdiff CLI's <c>Main</c>, each notebook's first code cell, the test host
/// and the benchmarks call <see cref="Apply"/>. Loading PDiff.Lib, building a zoo or training a p-diff model
/// changes nothing process-wide, so a host that embeds the library keeps its own malloc settings.
/// </summary>
/// <remarks>
/// What it sets: glibc's malloc keeps freed memory in the process (<see cref="NativeHeap"/>; opt out with
/// <c>PDIFF_NATIVE_HEAP=default</c>). Thread counts are left to each command (<c>--threads</c>,
/// <see cref="Threads.Set"/>). The one thing the library does on load is make TorchSharp's native library
/// loadable (<see cref="TorchRuntime"/>'s module initializer): that loads a library the process asked for
/// by using TorchSharp, it sets nothing. In a .NET Interactive kernel, PDiff.Plots registers how its own
/// figures and tables display; that touches no other type.
/// </remarks>
public static class ProcessSettings
{
    /// <summary>Applies the settings (idempotent, any thread); returns whether malloc's setting is in force.</summary>
    public static bool Apply() => NativeHeap.KeepFreedMemory();
}
