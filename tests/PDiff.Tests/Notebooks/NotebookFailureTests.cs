using System.Diagnostics;
using PDiff.Notebooks;
using Xunit;
using static PDiff.Tests.Notebooks.NotebookKit;

namespace PDiff.Tests.Notebooks;

public sealed class NotebookFailureTests : IDisposable
{
    readonly string _dir = TempDir();

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    string Save(NotebookBuilder b, string name = "nb.ipynb")
    {
        var path = Path.Combine(_dir, name);
        b.Save(path);
        return path;
    }

    static RunResult Run(string path, RunOptions? o = null) =>
        NotebookRunner.RunAsync(path, path, o ?? new RunOptions { UseNotebookDirectory = false, RenderPng = false }).GetAwaiter().GetResult();

    static NotebookBuilder Failing() => new NotebookBuilder()
        .Markdown("# failing")
        .Code("var a = 41;\nConsole.WriteLine(Environment.CurrentDirectory);")
        .Code("Console.WriteLine(\"before\");\nthrow new InvalidOperationException(\"boom \" + (a + 1));")
        .Code("Console.WriteLine(\"never\");");

    [Fact]
    public void ExceptionBecomesAnErrorOutputAndTheRunStopsThere()
    {
        var path = Save(Failing());
        var r = Run(path);
        Assert.False(r.Succeeded);
        Assert.Equal(3, r.FailedCell);
        Assert.Equal("cell 3 failed: System.InvalidOperationException: boom 42", r.Error);

        var nb = NotebookDocument.Load(path); // saved despite the failure
        var o = Outputs(nb, 2);
        Assert.Equal("before\n", Text(o[0]["text"])); // what the cell printed before failing is kept
        var err = o[1];
        Assert.Equal("error", err["output_type"]!.GetValue<string>());
        Assert.Equal("System.InvalidOperationException", err["ename"]!.GetValue<string>());
        Assert.Equal("boom 42", err["evalue"]!.GetValue<string>());
        var trace = err["traceback"]!.AsArray().Select(l => l!.GetValue<string>()).ToArray();
        Assert.Equal("System.InvalidOperationException: boom 42", trace[0]);
        Assert.Contains(trace, l => l.Contains("nb.ipynb#cell3:line 2")); // points into the notebook
        Assert.DoesNotContain(trace, l => l.Contains("Microsoft.CodeAnalysis.Scripting"));
        Assert.Equal(2, ExecutionCount(nb, 2));
        Assert.Null(ExecutionCount(nb, 3)); // never reached
        Assert.Empty(Outputs(nb, 3));
    }

    [Fact]
    public void CompileErrorIsReportedWithItsPositionInTheCell()
    {
        var path = Save(new NotebookBuilder().Code("var ok = 1;").Code("// comment\nint x = \"text\";"));
        var r = Run(path);
        Assert.Equal(2, r.FailedCell);
        var err = Outputs(NotebookDocument.Load(path), 1).Single();
        Assert.Equal("CompilationError", err["ename"]!.GetValue<string>());
        Assert.Contains("nb.ipynb#cell2(2,9): error CS0029", err["evalue"]!.GetValue<string>());
    }

    [Fact]
    public void StaleOutputsFromAnEarlierRunAreCleared()
    {
        var path = Save(Failing());
        Run(path);
        // Fix the failing cell and run the same file again: no trace of the earlier error remains.
        var nb = NotebookDocument.Load(path);
        nb.Cells[2]!["source"] = JupyterJson.Lines("Console.WriteLine(a);");
        nb.Save(path);
        var r = Run(path);
        Assert.True(r.Succeeded, r.Error);
        nb = NotebookDocument.Load(path);
        Assert.Equal("41\n", Text(Outputs(nb, 2).Single()["text"]));
        Assert.Equal("never\n", Text(Outputs(nb, 3).Single()["text"]));
    }

    [Fact]
    public void CellsOverTheTimeLimitAreAbandoned()
    {
        var path = Save(new NotebookBuilder().Code("System.Threading.Thread.Sleep(3000);").Code("Console.WriteLine(\"never\");"));
        var r = Run(path, new RunOptions { UseNotebookDirectory = false, TimeoutPerCell = TimeSpan.FromSeconds(0.3) });
        Assert.Equal(1, r.FailedCell);
        var err = Outputs(NotebookDocument.Load(path), 0).Single();
        Assert.Equal("System.TimeoutException", err["ename"]!.GetValue<string>());
        Assert.Contains("--timeout-per-cell", err["evalue"]!.GetValue<string>());
    }

    [Fact]
    public void PolyglotMagicsAreIgnoredButOtherKernelsAndNugetAreRefused()
    {
        var path = Save(new NotebookBuilder()
            .Code("#!csharp\n#!time\nConsole.WriteLine(\"ran\");")
            .Code("#!fsharp\nprintfn \"no\""));
        var r = Run(path);
        Assert.Equal(2, r.FailedCell);
        var nb = NotebookDocument.Load(path);
        Assert.Equal("ran\n", Text(Outputs(nb, 0).Single()["text"]));
        Assert.Contains("#!fsharp", Outputs(nb, 1).Single()["evalue"]!.GetValue<string>());

        var e = Assert.Throws<NotSupportedException>(() => ScriptHost.Preprocess("using System;\n#r \"nuget: Plotly.NET, 4.0\""));
        Assert.Contains("line 2", e.Message);
        Assert.Contains("NuGet", e.Message);
        // Magic lines keep their place (empty), so error positions still match the cell.
        Assert.Equal("\n\nvar x = 1;", ScriptHost.Preprocess("#!csharp\n#i \"nuget: https://example/feed\"\nvar x = 1;"));
    }

    [Fact]
    public void MissingReferencedDllFailsTheCellNamingThePath()
    {
        var path = Save(new NotebookBuilder().Code("#r \"../nowhere/Missing.dll\"\nvar x = 1;"));
        var r = Run(path);
        Assert.Equal(1, r.FailedCell);
        Assert.Contains("Missing.dll", r.Error);
    }

    [Fact]
    public void CommandLineExitsNonZeroNamingTheFailedCell()
    {
        var path = Save(Failing());
        var output = Path.Combine(_dir, "cli-out.ipynb");
        var (code, _, stderr) = Cli("notebook", "run", path, "--output", output, "--quiet", "--no-png");
        Assert.Equal(1, code);
        Assert.Contains("cell 3 failed: System.InvalidOperationException: boom 42", stderr);
        Assert.True(File.Exists(output));
        Assert.Equal("boom 42", Outputs(NotebookDocument.Load(output), 2)[1]["evalue"]!.GetValue<string>());
        Assert.Empty(Outputs(NotebookDocument.Load(path), 2)); // --output leaves the input alone
        // Cells run in the notebook's folder, as in Jupyter and Polyglot, so relative paths mean the same.
        Assert.Equal(_dir + "\n", Text(Outputs(NotebookDocument.Load(output), 1).Single()["text"]));
    }

    [Fact]
    public void CommandLineUsageErrors()
    {
        Assert.Contains("notebook", PDiff.Cli.Program.GeneralUsage());
        Assert.Equal(2, PDiff.Cli.Program.Main(new[] { "no-such-command" }));
        Assert.Equal(2, PDiff.Cli.Program.Main(new[] { "notebook", "run" }));
        Assert.Equal(2, PDiff.Cli.Program.Main(new[] { "notebook", "run", Path.Combine(_dir, "missing.ipynb") }));
        Assert.Equal(2, PDiff.Cli.Program.Main(new[] { "notebook", "run", "x.ipynb", "--param", "novalue" }));
        Assert.Equal(2, PDiff.Cli.Program.Main(new[] { "notebook", "run", "x.ipynb", "--timeout-per-cell", "-1" }));
    }

    /// <summary>Runs the built CLI (pdiff.dll next to the tests) as its own process.</summary>
    internal static (int Code, string Stdout, string Stderr) Cli(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pdiff.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("pdiff did not finish within 120 s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
