using System.Diagnostics;
using System.Runtime.CompilerServices;
using PDiff.Notebooks;
using Xunit;
using static PDiff.Tests.Notebooks.NotebookKit;

namespace PDiff.Tests.Notebooks;

/// <summary>
/// TorchSharp inside the real .NET Interactive kernel, with no line of set-up in the notebook: `#r` of the
/// library and straight to <c>torch</c>. TorchSharp's own loader fails for a `#r` assembly in the kernel;
/// PDiff.Lib's module initializer loads the natives first (lib/TorchFixes/TorchRuntime.cs). The kernel runs in
/// a fresh process, so nothing this test host loaded can help: our runner (pdiff hosts the kernel), and
/// dotnet-repl 0.3.259 (the repository's local tool, restored by scripts/setup.sh), whose kernel is
/// dotnet-interactive's as in VS Code and knows nothing of PDiff.Lib's dependencies.
/// </summary>
[Collection("notebook kernel")]
public sealed class KernelTorchTests : IDisposable
{
    readonly string _dir = TempDir();

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void TorchSharpAnswersInTheKernelAfterOnlyAReference()
    {
        var path = Path.Combine(_dir, "torch.ipynb");
        new NotebookBuilder()
            // The first statement after #r is a TorchSharp call: no PDiff type is touched before it.
            .Code($"{LibReference(_dir)}\nusing TorchSharp;\nvar m = torch.ones(2, 2).matmul(torch.ones(2, 2)).sum().item<float>();\nConsole.WriteLine($\"sum={{m}} libtorch={{torch.__version__}}\");")
            .Code("Console.WriteLine(PDiff.TorchFixes.TorchRuntime.Describe());")
            .Save(path);
        var (code, stdout, stderr) = RunNotebook(path);
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        var nb = NotebookDocument.Load(path);
        var first = string.Concat(Outputs(nb, 0).Select(o => Text(o["text"])));
        Assert.Contains("sum=8 libtorch=2.10.", first);
        var second = string.Concat(Outputs(nb, 1).Select(o => Text(o["text"])));
        Assert.StartsWith("TorchSharp ", second.Trim());
        Assert.DoesNotContain("not loaded", second);
    }

    [Fact]
    public void TorchSharpAnswersInDotnetInteractivesOwnKernel()
    {
        var path = Path.Combine(_dir, "repl.ipynb");
        var output = Path.Combine(_dir, "repl-out.ipynb");
        new NotebookBuilder()
            // An absolute #r: dotnet-repl resolves relative ones against its own directory, not the notebook's.
            .Code($"#r \"{Path.Combine(AppContext.BaseDirectory, "PDiff.Lib.dll")}\"\nusing TorchSharp;\nConsole.WriteLine($\"sum={{torch.ones(2, 2).matmul(torch.ones(2, 2)).sum().item<float>()}} libtorch={{torch.__version__}}\");")
            // A TorchScript file that aborts libtorch: the probe process beside the #r'd dll takes the abort, the kernel lives on.
            .Code($"try {{ PDiff.Models.TorchScriptModel.Load(@\"{Path.Combine(AppContext.BaseDirectory, "fixtures", "hostile", "ts_unknown_type.pt")}\"); }}\n" +
                  "catch (System.IO.InvalidDataException e) { Console.WriteLine(\"refused: \" + e.Message); }\nConsole.WriteLine(\"kernel alive\");")
            .Save(path);
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = RepoRoot(), RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "tool", "run", "dotnet-repl", "--", "--run", path, "--exit-after-run", "--output-path", output }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(3)), "dotnet-repl did not finish within 3 minutes");
        Assert.True(File.Exists(output),
            $"dotnet-repl wrote no notebook (exit {p.ExitCode}); is the local tool restored (`dotnet tool restore`, done by scripts/setup.sh)?\n{stdout.Result}\n{stderr.Result}");
        var text = string.Concat(Outputs(NotebookDocument.Load(output), 0).Select(o => Text(o["text"]) + Text(o["evalue"])));
        Assert.Contains("sum=8 libtorch=2.10.", text);
        var probed = string.Concat(Outputs(NotebookDocument.Load(output), 1).Select(o => Text(o["text"]) + Text(o["evalue"])));
        Assert.Contains("refused: TorchScript model", probed);
        Assert.Contains("libtorch aborted while loading it (Unknown type name '__torch__.NoSuchType')", probed);
        Assert.Contains("kernel alive", probed);
    }

    static string RepoRoot([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", ".."));
}
