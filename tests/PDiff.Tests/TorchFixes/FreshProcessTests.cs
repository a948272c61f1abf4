using System.Diagnostics;
using Xunit;

namespace PDiff.Tests.TorchFixes;

/// <summary>
/// TorchSharp must work in a program that does nothing but reference PDiff.Lib: no environment variables,
/// no loader calls, no copying of native files. The test host has long loaded TorchSharp by the time this
/// runs, so the proof needs a fresh process: tests/PDiff.LoadCheck, built beside the tests through
/// PDiff.Tests.csproj's project reference (as the pdiff CLI is), started here with its own deps.json.
/// The same program shows that using the library changes no process-wide setting (docs/design-notes.md).
/// </summary>
public class FreshProcessTests
{
    [Fact]
    public async Task APlainProgramReferencingTheLibraryRunsTorchSharp()
    {
        var (exit, stdout, stderr) = await RunLoadCheck();
        Assert.True(exit == 0, $"exit {exit}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        Assert.Contains("torch.__version__=2.10.", stdout);
        Assert.Contains("matmul=19,22,43,50", stdout); // [[1,2],[3,4]]·[[5,6],[7,8]]
        Assert.Contains("engine=TorchSharp ", stdout);
        Assert.Contains(", libtorch 2.10.", stdout);
        Assert.DoesNotContain("not loaded", stdout);
    }

    /// <summary>
    /// A program that trains and samples a p-diff model without calling ProcessSettings.Apply() keeps glibc's
    /// malloc settings (a 64 MB block still gets its own mmap) and its thread count; the same program with the
    /// entry points' call gets the setting. Linux with glibc, as CI.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task UsingTheLibraryChangesNoProcessSettingOnlyTheEntryPointsCallDoes(bool apply)
    {
        var (exit, stdout, stderr) = await RunLoadCheck(apply ? new[] { "settings", "apply" } : new[] { "settings" });
        Assert.True(exit == 0, $"exit {exit}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        Assert.Contains("generated=2,32", stdout);   // the library did run
        Assert.Contains($"heap.applied={apply}", stdout);
        Assert.Contains($"malloc.mmaps_64MB={!apply}", stdout);
        var threads = System.Text.RegularExpressions.Regex.Match(stdout, @"threads.before=(\d+) threads.after=(\d+)");
        Assert.True(threads.Success, stdout);
        Assert.Equal(threads.Groups[1].Value, threads.Groups[2].Value);
    }

    /// <summary>
    /// The library's sources call no process-wide setter outside the entry points' ProcessSettings and the
    /// explicit Threads.Set, and initialise nothing on load but TorchSharp's native library and the notebook
    /// kernel's display of our own types: a zoo build or a p-diff model once applied the malloc setting itself.
    /// </summary>
    [Fact]
    public void TheLibrarySourcesApplyNoProcessSettingOnTheirOwn()
    {
        var root = ScalarLint.RepoRoot();
        var lib = Path.Combine(root, "lib");
        Assert.True(Directory.Exists(lib), lib);
        var allowed = new Dictionary<string, string[]>
        {
            ["KeepFreedMemory("] = new[] { "lib/TorchFixes/NativeHeap.cs", "lib/TorchFixes/ProcessSettings.cs" },
            ["mallopt("] = new[] { "lib/TorchFixes/NativeHeap.cs" },
            ["ProcessSettings.Apply("] = Array.Empty<string>(),
            ["set_num_threads("] = new[] { "lib/Models/Seeds.cs" },
            ["set_num_interop_threads("] = Array.Empty<string>(),
            ["SetEnvironmentVariable("] = Array.Empty<string>(),
            ["[ModuleInitializer]"] = new[] { "lib/TorchFixes/TorchRuntime.cs", "lib/Plots/Interactive.cs" },
            ["DefaultThreadCurrentCulture"] = Array.Empty<string>(),
        };
        var found = new List<string>();
        foreach (var (rel, text) in ScalarLint.LibrarySources())
        {
            var lines = text.Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                var code = lines[i].Split("//")[0];
                foreach (var (call, files) in allowed)
                    if (code.Contains(call, StringComparison.Ordinal) && !files.Contains(rel)) found.Add($"{rel}:{i + 1}: {call}");
            }
        }
        Assert.True(found.Count == 0, "process-wide settings applied by the library itself (entry points call ProcessSettings.Apply):\n" + string.Join("\n", found));
        // The static constructors a class could hide a setting in: none in lib/ or the studies.
        var constructors = ScalarLint.LibrarySources()
            .Where(f => System.Text.RegularExpressions.Regex.IsMatch(f.Value, @"^\s*static\s+[A-Z]\w*\s*\(\s*\)", System.Text.RegularExpressions.RegexOptions.Multiline))
            .Select(f => f.Key).ToList();
        Assert.Empty(constructors);
    }

    static async Task<(int Exit, string Stdout, string Stderr)> RunLoadCheck(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "PDiff.LoadCheck.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: PDiff.Tests.csproj must reference tests/PDiff.LoadCheck/PDiff.LoadCheck.csproj.");

        var psi = new ProcessStartInfo(TestHost.Dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        // Nothing may point the loader at the natives: the program must find them itself.
        psi.Environment.Remove("LD_LIBRARY_PATH");
        psi.Environment.Remove("PDIFF_NATIVE_HEAP");   // the opt-out would hide the setting
        using var p = Process.Start(psi)!;
        var stdoutTask = p.StandardOutput.ReadToEndAsync();
        var stderrTask = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try { await p.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("PDiff.LoadCheck did not finish within 120 s");
        }
        return (p.ExitCode, await stdoutTask, await stderrTask);
    }
}
