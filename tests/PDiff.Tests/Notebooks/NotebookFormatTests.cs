using System.Text.Json.Nodes;
using PDiff.Notebooks;
using Xunit;
using static PDiff.Tests.Notebooks.NotebookKit;

namespace PDiff.Tests.Notebooks;

[Collection("notebook kernel")]
public sealed class NotebookFormatTests : IDisposable
{
    static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "fixtures", "notebooks");
    readonly string _dir = TempDir();

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void WritesExactlyWhatJupyterWrites()
    {
        // Written by Python's json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n" (nbformat's
        // settings): unicode, control characters, "</script>", floats like 1e-07, 20-digit integers, nulls.
        var path = Path.Combine(Fixtures, "jupyter-format.ipynb");
        var original = File.ReadAllBytes(path);
        var copy = Path.Combine(_dir, "copy.ipynb");
        NotebookDocument.Load(path).Save(copy);
        Assert.Equal(Utf8(original), Utf8(File.ReadAllBytes(copy)));
        Assert.Equal(original, File.ReadAllBytes(copy)); // no BOM either
    }

    [Fact]
    public void OtherKeyOrdersAndIndentsComeOutInJupytersForm()
    {
        // The same notebook with every object's keys reversed, 2-space indent and \u escapes.
        var copy = Path.Combine(_dir, "copy.ipynb");
        NotebookDocument.Load(Path.Combine(Fixtures, "unsorted-2-space.ipynb")).Save(copy);
        Assert.Equal(File.ReadAllText(Path.Combine(Fixtures, "jupyter-format.ipynb")), File.ReadAllText(copy));
    }

    [Fact]
    public void BadFilesGiveClearErrors()
    {
        var notJson = Path.Combine(_dir, "bad.ipynb");
        File.WriteAllText(notJson, "{ not json");
        Assert.Contains("bad.ipynb is not valid JSON", Assert.Throws<InvalidDataException>(() => NotebookDocument.Load(notJson)).Message);

        var v3 = Path.Combine(_dir, "v3.ipynb");
        File.WriteAllText(v3, "{\"nbformat\": 3, \"worksheets\": []}");
        Assert.Contains("only nbformat 4", Assert.Throws<InvalidDataException>(() => NotebookDocument.Load(v3)).Message);

        Assert.Contains("Notebook not found", Assert.Throws<FileNotFoundException>(() => NotebookDocument.Load(Path.Combine(_dir, "none.ipynb"))).Message);
    }

    [Fact]
    public void BuilderWritesThePolyglotMetadataOfTheDesign()
    {
        var nb = new NotebookBuilder().Markdown("# T\ntext").Parameters("var p = 1;").Code("var x = 2;\nx").Build();
        var meta = nb.Root["metadata"]!;
        Assert.Equal(".NET (C#)", meta["kernelspec"]!["display_name"]!.GetValue<string>());
        Assert.Equal("C#", meta["kernelspec"]!["language"]!.GetValue<string>());
        Assert.Equal(".net-csharp", meta["kernelspec"]!["name"]!.GetValue<string>());
        Assert.Equal("csharp", meta["polyglot_notebook"]!["kernelInfo"]!["defaultKernelName"]!.GetValue<string>());
        Assert.Equal(4, nb.Root["nbformat"]!.GetValue<int>());
        Assert.Equal(5, nb.Root["nbformat_minor"]!.GetValue<int>());

        var md = Cell(nb, 0);
        Assert.Equal("{}", md["metadata"]!.ToJsonString());
        Assert.Equal(new JsonArray("# T\n", "text").ToJsonString(), md["source"]!.ToJsonString());
        var code = Cell(nb, 2);
        Assert.Equal("{\"dotnet_interactive\":{\"language\":\"csharp\"},\"polyglot_notebook\":{\"kernelName\":\"csharp\"}}", code["metadata"]!.ToJsonString());
        Assert.Null(code["execution_count"]);
        Assert.Empty(code["outputs"]!.AsArray());
        Assert.Equal(new[] { "parameters" }, NotebookDocument.Tags(Cell(nb, 1)));
        var ids = nb.Cells.Select(c => c!["id"]!.GetValue<string>()).ToArray();
        Assert.Equal(ids.Length, ids.Distinct().Count());
        Assert.All(ids, id => Assert.Matches("^[a-zA-Z0-9-_]{1,64}$", id)); // nbformat 4.5's rule
    }

    [Fact]
    public void CellScriptBecomesCells()
    {
        var text = "\n// %% [markdown]\n# Title\n\nProse.\n// %% [parameters]\nvar profile = \"quick\";\n// %%\nConsole.WriteLine(1);\n\n// %% [slow, figure]\nvar y = 2;\n";
        var nb = NotebookBuilder.FromCellScript(text).Build();
        Assert.Equal(new[] { "markdown", "code", "code", "code" }, nb.Cells.Select(c => NotebookDocument.CellType((JsonObject)c!)));
        Assert.Equal("# Title\n\nProse.", NotebookDocument.Source(Cell(nb, 0)));
        Assert.Equal(new[] { "parameters" }, NotebookDocument.Tags(Cell(nb, 1)));
        Assert.Equal("Console.WriteLine(1);", NotebookDocument.Source(Cell(nb, 2)));
        Assert.Equal(new[] { "slow", "figure" }, NotebookDocument.Tags(Cell(nb, 3)));

        var e = Assert.Throws<FormatException>(() => NotebookBuilder.FromCellScript("stray\n// %%\nx", "cells.txt"));
        Assert.Contains("cells.txt line 1", e.Message);
    }

    [Fact]
    public void NewAndClearFromTheCommandLine()
    {
        var script = Path.Combine(_dir, "cells.txt");
        File.WriteAllText(script, "// %% [markdown]\n# Hi\n// %%\nConsole.WriteLine(\"hi\");\n");
        var path = Path.Combine(_dir, "made.ipynb");
        Assert.Equal(0, PDiff.Cli.Program.Main(new[] { "notebook", "new", script, path }));
        var (code, _, stderr) = RunNotebook(path);
        Assert.True(code == 0, stderr);
        Assert.Equal("hi\n", Text(Outputs(NotebookDocument.Load(path), 1).Single()["text"]));
        Assert.Equal(0, PDiff.Cli.Program.Main(new[] { "notebook", "clear", path }));
        var cleared = NotebookDocument.Load(path);
        Assert.Empty(Outputs(cleared, 1));
        Assert.Null(ExecutionCount(cleared, 1));
    }
}
