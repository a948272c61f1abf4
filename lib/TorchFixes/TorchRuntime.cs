using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;

namespace PDiff.TorchFixes;

/// <summary>
/// Makes TorchSharp's native library loadable before the first <c>torch</c> call, in a plain process and
/// inside the .NET Interactive kernel, without any line in a notebook; and describes the engine.
/// </summary>
/// <remarks>
/// Why by hand: TorchSharp looks for <c>libLibTorchSharp.so</c> through the host's probing paths, then next
/// to its own dll. A program finds it (the SDK writes the paths into deps.json); an assembly loaded with
/// <c>#r</c> into the .NET Interactive kernel does not, so the build also puts the natives beside
/// PDiff.Lib.dll (build/PDiff.Natives.targets), which covers a notebook whose first call is <c>torch.*</c>.
/// This initializer covers the remaining case (natives only under runtimes/): loading the file by its full
/// path first makes every later lookup of the same name resolve to the loaded copy. Its dependencies
/// (libtorch*.so) sit in the same folder and are found through its RUNPATH <c>$ORIGIN</c>.
/// On Debian 12 the file must also carry the loader fix of <c>scripts/setup.sh</c>; without it the error
/// below says so. Loading the library the process uses is all the initializer does: process-wide settings
/// are left to the program's entry point (<see cref="ProcessSettings"/>).
/// </remarks>
public static class TorchRuntime
{
    const string NativeName = "libLibTorchSharp.so";
    static readonly object gate = new();
    static string? loadedFrom;
    static string? loadError;

    [ModuleInitializer]
    internal static void Initialize()
    {
        try { EnsureLoaded(); }
        catch (Exception e) { loadError = e.Message; } // reported by Describe() and the first torch call
    }

    /// <summary>Where the native library was loaded from (null when the host's own probing found it, or on Windows/macOS).</summary>
    public static string? NativeLibraryPath => loadedFrom;

    /// <summary>Loads TorchSharp's native library from the first folder that holds it; idempotent.</summary>
    public static void EnsureLoaded()
    {
        if (!OperatingSystem.IsLinux()) return; // other systems: TorchSharp's own loader
        lock (gate)
        {
            if (loadedFrom != null) return;
            Exception? last = null;
            foreach (var path in Candidates())
            {
                if (!File.Exists(path)) continue;
                try
                {
                    NativeLibrary.Load(path);
                    loadedFrom = path;
                    return;
                }
                catch (Exception e) { last = e; }
            }
            if (last != null)
                throw new DllNotFoundException(
                    $"TorchSharp's native library could not be loaded: {last.Message}. " +
                    (last.Message.Contains("GLIBCXX_3.4.32")
                        ? "This libstdc++ lacks GLIBCXX_3.4.32 (Debian 12): run ./scripts/setup.sh, which applies the loader fix, then rebuild."
                        : "Run ./scripts/setup.sh and rebuild."), last);
        }
    }

    static IEnumerable<string> Candidates()
    {
        var rid = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "linux-arm64" : "linux-x64";
        var folders = new List<string?>
        {
            Path.GetDirectoryName(typeof(TorchRuntime).Assembly.Location),
            Path.GetDirectoryName(typeof(torch).Assembly.Location),
            AppContext.BaseDirectory,
        };
        foreach (var f in folders.Where(f => !string.IsNullOrEmpty(f)).Distinct())
        {
            yield return Path.Combine(f!, "runtimes", rid, "native", NativeName);
            yield return Path.Combine(f!, NativeName);
            yield return Path.Combine(f!, "cpu", NativeName);
        }
    }

    /// <summary>One line: TorchSharp and libtorch versions, threads, device, where the natives came from.</summary>
    public static string Describe()
    {
        if (loadError != null) return $"TorchSharp not loaded: {loadError}";
        var ts = typeof(torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.Split('+')[0];
        var cuda = torch.cuda.is_available() ? $"CUDA ({torch.cuda.device_count()} devices)" : "CPU only";
        return $"TorchSharp {ts}, libtorch {torch.__version__}, {torch.get_num_threads()} threads, {cuda}" +
               (loadedFrom != null ? $", natives from {loadedFrom}" : "");
    }
}
