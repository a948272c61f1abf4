using System.Diagnostics;
using PDiff.Data;

namespace PDiff.Tests.Studies;

/// <summary>Runs the bench's scripts (python3, bash) from the repository root, as a user would; the timeout is a safety net.</summary>
static class BenchScripts
{
    public static string Root => DataPaths.FindRepoRoot() ?? throw new InvalidOperationException("the tests run inside the repository");

    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "equal_work", name);

    public static (int Code, string Out, string Err) Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program)
        {
            WorkingDirectory = Root, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not end");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>The table writer on two JSONs into a fresh folder; returns its exit code, stderr and the folder.</summary>
    public static (int Code, string Err, string Dir) Table(string ours, string pytorch, params string[] extra)
    {
        var dir = Directory.CreateTempSubdirectory("pdiff-equal-work-").FullName;
        var (code, _, err) = Run("python3", new[] { "bench/python/equal_work_table.py", ours, pytorch, "--out", dir }.Concat(extra).ToArray());
        return (code, err, dir);
    }

    /// <summary>Lines of a script's stderr, blank ones left out.</summary>
    public static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
