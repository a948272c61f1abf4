using System.Text.Json.Nodes;
using PDiff.Notebooks;
using Xunit;
using static PDiff.Tests.Notebooks.NotebookKit;

namespace PDiff.Tests.Notebooks;

/// <summary>
/// Failing cells in the real kernel: small notebooks without the library, run by the CLI. Each run stops at
/// its first failing cell, so each failure kind has its own notebook.
/// </summary>
[Collection("notebook kernel")]
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

    static NotebookBuilder Failing() => new NotebookBuilder()
        .Markdown("# failing")
        .Code("var a = 41;\nConsole.WriteLine(Environment.CurrentDirectory);")
        .Code("Console.WriteLine(\"before\");\nthrow new InvalidOperationException(\"boom \" + (a + 1));")
        .Code("Console.WriteLine(\"never\");");

    [Fact]
    public void ExceptionBecomesAnErrorOutputTheRunStopsAndTheExitCodeNamesTheCell()
    {
        var path = Save(Failing());
        var output = Path.Combine(_dir, "out", "failed.ipynb");
        var (code, _, stderr) = RunNotebook(path, output);
        Assert.Equal(1, code);
        Assert.Contains("cell 3 failed: System.InvalidOperationException: boom 42", stderr);
        Assert.Contains("cell 3 begins: Console.WriteLine(\"before\");", stderr);

        var nb = NotebookDocument.Load(output); // saved despite the failure
        var o = Outputs(nb, 2);
        Assert.Equal("before\n", Text(o[0]["text"])); // what the cell printed before failing is kept
        var err = o[1];
        Assert.Equal("error", err["output_type"]!.GetValue<string>());
        Assert.Equal("System.InvalidOperationException", err["ename"]!.GetValue<string>());
        Assert.Equal("boom 42", err["evalue"]!.GetValue<string>());
        var trace = err["traceback"]!.AsArray().Select(l => l!.GetValue<string>()).ToArray();
        Assert.Equal("System.InvalidOperationException: boom 42", trace[0]);
        Assert.Contains(trace, l => l.Contains("Submission#")); // the kernel's name for the cell's code
        Assert.DoesNotContain(trace, l => l.Contains("Microsoft.CodeAnalysis.Scripting") || l.Contains("Microsoft.DotNet.Interactive"));
        Assert.Equal(1, ExecutionCount(nb, 1));
        Assert.Equal(2, ExecutionCount(nb, 2));
        Assert.Null(ExecutionCount(nb, 3)); // never reached
        Assert.Empty(Outputs(nb, 3));

        // The kernel runs in the notebook's folder, as in VS Code, so relative paths mean the same.
        Assert.Equal(_dir + "\n", Text(Outputs(nb, 1).Single()["text"]));
        Assert.Empty(Outputs(NotebookDocument.Load(path), 2)); // --output leaves the input alone
    }

    [Fact]
    public void CompileErrorIsReportedWithItsPositionInTheCell()
    {
        var path = Save(new NotebookBuilder().Code("var ok = 1;").Code("// comment\nint x = \"text\";"));
        var (code, _, stderr) = RunNotebook(path);
        Assert.Equal(1, code);
        Assert.Contains("cell 2 failed: CompilationError: (2,9): error CS0029", stderr);
        var err = Outputs(NotebookDocument.Load(path), 1).Single();
        Assert.Equal("CompilationError", err["ename"]!.GetValue<string>());
        Assert.StartsWith("(2,9): error CS0029: Cannot implicitly convert type 'string' to 'int'", err["evalue"]!.GetValue<string>());
    }

    [Fact]
    public void StaleOutputsFromAnEarlierRunAreReplaced()
    {
        // A notebook saved after a failed run: error output in cell 3, outputs and counts elsewhere.
        var nb = Failing().Build();
        nb.Cells[2]!["outputs"] = new JsonArray(new JsonObject
        {
            ["ename"] = "Stale", ["evalue"] = "old", ["output_type"] = "error", ["traceback"] = new JsonArray(),
        });
        nb.Cells[2]!["execution_count"] = 7;
        nb.Cells[3]!["execution_count"] = 8;
        nb.Cells[2]!["source"] = JupyterJson.Lines("Console.WriteLine(a);");
        var path = Path.Combine(_dir, "stale.ipynb");
        nb.Save(path);

        var (code, _, stderr) = RunNotebook(path);
        Assert.True(code == 0, stderr);
        nb = NotebookDocument.Load(path);
        Assert.Equal("41\n", Text(Outputs(nb, 2).Single()["text"]));
        Assert.Equal("never\n", Text(Outputs(nb, 3).Single()["text"]));
        Assert.Equal(new int?[] { null, 1, 2, 3 }, Enumerable.Range(0, 4).Select(i => ExecutionCount(nb, i)));
    }

    [Fact]
    public void CellsOverTheTimeLimitAreAbandoned()
    {
        var path = Save(new NotebookBuilder().Code("System.Threading.Thread.Sleep(120_000);").Code("Console.WriteLine(\"never\");"));
        var (code, _, stderr) = RunNotebook(path, extra: new[] { "--timeout-per-cell", "2" });
        Assert.Equal(1, code);
        // Said on the real console, although the abandoned cell still holds the kernel's Console redirection.
        Assert.Contains("cell 1 failed: System.TimeoutException", stderr);
        var nb = NotebookDocument.Load(path);
        var err = Outputs(nb, 0).Single();
        Assert.Equal("System.TimeoutException", err["ename"]!.GetValue<string>());
        Assert.Contains("--timeout-per-cell", err["evalue"]!.GetValue<string>());
        Assert.Empty(Outputs(nb, 1));
    }

    [Fact]
    public void PolyglotMagicsWorkAsInVsCodeAndOtherLanguagesAreRefused()
    {
        var path = Save(new NotebookBuilder()
            .Code("#!csharp\n#!time\nConsole.WriteLine(\"ran\");")
            .Code("#!html\n<b>hi</b>")
            .Code("#!fsharp\nprintfn \"no\""));
        var (code, _, stderr) = RunNotebook(path);
        Assert.Equal(1, code);
        Assert.Contains("cell 3 failed:", stderr);
        var nb = NotebookDocument.Load(path);
        var timed = Outputs(nb, 0);
        Assert.Equal("ran\n", Text(timed[0]["text"]));
        Assert.StartsWith("Wall time: ", Text(timed[1]["data"]!["text/plain"]));
        Assert.Equal("<b>hi</b>", Text(Outputs(nb, 1).Single()["data"]!["text/html"]));
        var err = Outputs(nb, 2).Single();
        Assert.Contains("#!fsharp", err["evalue"]!.GetValue<string>());
        Assert.Contains("C# kernel only", err["evalue"]!.GetValue<string>());
    }

    [Fact]
    public void MissingReferencedDllFailsTheCellNamingThePath()
    {
        var path = Save(new NotebookBuilder().Code("#r \"../nowhere/Missing.dll\"\nvar x = 1;"));
        var (code, _, stderr) = RunNotebook(path);
        Assert.Equal(1, code);
        Assert.Contains("cell 1 failed: CompilationError:", stderr);
        Assert.Contains("Missing.dll", stderr);
        Assert.Contains("is the library built?", stderr);
    }

    [Fact]
    public void AnInPlaceRunKilledHalfWayLeavesTheNotebookAsItWas()
    {
        // A notebook with the outputs of an earlier run, run again in place and killed in its second cell.
        var nb = new NotebookBuilder()
            .Code("Console.WriteLine(\"first\");")
            .Code("Console.WriteLine(\"sleeping\");\nSystem.Threading.Thread.Sleep(120_000);")
            .Build();
        nb.Cells[0]!["outputs"] = new JsonArray(new JsonObject
        {
            ["name"] = "stdout", ["output_type"] = "stream", ["text"] = JupyterJson.Lines("saved earlier\n"),
        });
        nb.Cells[0]!["execution_count"] = 1;
        var path = Path.Combine(_dir, "inplace.ipynb");
        nb.Save(path);
        var before = File.ReadAllBytes(path);

        var (code, stdout, _) = RunPdiff(new[] { "notebook", "run", path, "--no-png" }, line => line == "sleeping");
        Assert.Equal(-1, code); // killed by us
        Assert.Contains("first\n", stdout); // the first cell had run
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(new[] { "inplace.ipynb" }, Directory.GetFiles(_dir).Select(Path.GetFileName));
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
}
