using System.Diagnostics;
using Xunit;

namespace PDiff.Tests.Engine;

/// <summary>
/// TorchSharp must work in a program that does nothing but reference PDiff.Lib: no environment variables,
/// no loader calls, no copying of native files. The test host has long loaded TorchSharp by the time this
/// runs, so the proof needs a fresh process: tests/PDiff.LoadCheck, built beside the tests through
/// PDiff.Tests.csproj's project reference (as the pdiff CLI is), started here with its own deps.json.
/// </summary>
public class FreshProcessTests
{
    [Fact]
    public async Task APlainProgramReferencingTheLibraryRunsTorchSharp()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "PDiff.LoadCheck.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: PDiff.Tests.csproj must reference tests/PDiff.LoadCheck/PDiff.LoadCheck.csproj.");

        var psi = new ProcessStartInfo(TestHost.Dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        // Nothing may point the loader at the natives: the program must find them itself.
        psi.Environment.Remove("LD_LIBRARY_PATH");
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
        var (stdout, stderr) = (await stdoutTask, await stderrTask);
        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        Assert.Contains("torch.__version__=2.10.", stdout);
        Assert.Contains("matmul=19,22,43,50", stdout); // [[1,2],[3,4]]·[[5,6],[7,8]]
        Assert.Contains("engine=TorchSharp ", stdout);
        Assert.Contains(", libtorch 2.10.", stdout);
        Assert.DoesNotContain("not loaded", stdout);
    }
}
