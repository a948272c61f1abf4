using System.Text.Json.Nodes;
using PDiff.Notebooks;
using PDiff.Plots;
using PDiff.Tests.Plots;
using Xunit;
using static PDiff.Tests.Notebooks.NotebookKit;

namespace PDiff.Tests.Notebooks;

/// <summary>
/// One small notebook with the library's charts, run once by the CLI in the real kernel (with PNG
/// rendering), examined by several tests. Cells: 0 markdown, 1 parameters, 2 #r + state, 3 markdown,
/// 4 stdout + trailing value, 5 two figures displayed, 6 a table as trailing value, 7 empty.
/// The notebook does not call PDiff.Plots.Interactive.Register(): loading the library registers its
/// formatters with the kernel.
/// </summary>
public sealed class RunFixture : IDisposable
{
    public const string Markdown0 = "# Title ünïcode \"quotes\" <b>html</b>\n\nTrailing spaces  \n$x^2$ \\ backslash";
    public string Dir { get; } = TempDir();
    public string Input => Path.Combine(Dir, "nb.ipynb");
    public string Output => Path.Combine(Dir, "out", "nb.out.ipynb");
    public (int Code, string Stdout, string Stderr) Result { get; }
    public NotebookDocument Saved { get; }

    public RunFixture()
    {
        var nb = NotebookCells(Dir).Build();
        // Fields this runner does not know must survive: notebook, cell, and output-free markdown metadata.
        nb.Root["metadata"]!.AsObject()["custom_tool"] = new JsonObject { ["keep"] = new JsonArray(1, 2.5, "x") };
        nb.Cells[0]!.AsObject()["metadata"]!.AsObject()["collapsed_heading"] = true;
        nb.Cells[2]!.AsObject()["unknown_cell_field"] = "kept";
        nb.Save(Input);
        Result = RunNotebook(Input, Output, png: Chromium.IsAvailable);
        Saved = NotebookDocument.Load(Output);
    }

    public static NotebookBuilder NotebookCells(string dir) => new NotebookBuilder()
        .Markdown(Markdown0)
        .Parameters("var profile = \"quick\";\nint steps = 3;")
        .Code($"#!csharp\n{LibReference(dir)}\nusing PDiff.Plots;\nvar squares = Enumerable.Range(1, steps).Select(i => i * i).ToArray();\nConsole.WriteLine($\"profile={{profile}}\");")
        .Markdown("## Second markdown cell")
        .Code("Console.WriteLine(squares.Sum());\nsquares.Length * 10")
        .Code("var fig = new Figure(new Scatter { X = squares, Y = squares, Mode = \"markers\" }).WithSize(200, 150);\ndisplay(fig);\nConsole.WriteLine(\"between\");\ndisplay(fig.WithTitles(\"second\"));")
        .Code("Table.From(new[] { new { Name = \"a<b\", Value = 0.5 } })")
        .Code("");

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}

[Collection("chromium")]
public class NotebookRunTests : IClassFixture<RunFixture>
{
    readonly RunFixture _f;

    public NotebookRunTests(RunFixture f) => _f = f;

    [ChromiumFact]
    public void AllCellsRunAndExecutionCountsFollowTheCodeCells()
    {
        Assert.True(_f.Result.Code == 0, _f.Result.Stderr);
        Assert.Contains("5 code cells ran", _f.Result.Stderr);
        Assert.Equal(new int?[] { null, 1, 2, null, 3, 4, 5, null }, Enumerable.Range(0, 8).Select(i => ExecutionCount(_f.Saved, i)));
        Assert.Empty(Outputs(_f.Saved, 7)); // empty cell: skipped, as Jupyter does
    }

    [ChromiumFact]
    public void StateCarriesAcrossCellsAndStdoutIsCaptured()
    {
        var o2 = Outputs(_f.Saved, 2);
        Assert.Equal("stream", o2.Single()["output_type"]!.GetValue<string>());
        Assert.Equal("stdout", o2[0]["name"]!.GetValue<string>());
        Assert.Equal("profile=quick\n", Text(o2[0]["text"]));

        // Cell 4 uses `squares` from cell 2: 1 + 4 + 9 printed, then the trailing expression's value.
        var o4 = Outputs(_f.Saved, 4);
        Assert.Equal(2, o4.Length);
        Assert.Equal("14\n", Text(o4[0]["text"]));
        Assert.Equal("execute_result", o4[1]["output_type"]!.GetValue<string>());
        Assert.Equal(3, o4[1]["execution_count"]!.GetValue<int>());
        Assert.Equal("30", Text(o4[1]["data"]!["text/plain"]));
    }

    [ChromiumFact]
    public void DisplayedFigureGetsHtmlAndPngWithPlotlyInlinedOnce()
    {
        var o = Outputs(_f.Saved, 5);
        Assert.Equal(new[] { "display_data", "stream", "display_data" }, o.Select(x => x["output_type"]!.GetValue<string>()));
        Assert.Equal("between\n", Text(o[1]["text"])); // order of events kept

        var first = o[0]["data"]!.AsObject();
        var png = Convert.FromBase64String(first["image/png"]!.GetValue<string>());
        Assert.Equal((200, 150), PngImage.ReadSize(png));
        Assert.True(PngImage.Decode(png).DistinctColours > 10, "the PNG is blank");
        var html = Text(first["text/html"]);
        Assert.Contains(PlotlyJs.RequiresMarker, html);
        Assert.Contains("plotly.js v", html); // the first chart of the notebook brings the library...
        Assert.Contains("data:image/png;base64,", html); // ...and a picture for viewers without scripts
        Assert.Equal("Figure(1 trace)", Text(first["text/plain"]));

        var second = o[2]["data"]!.AsObject();
        Assert.DoesNotContain("plotly.js v", Text(second["text/html"])); // ...later ones reuse it
        Assert.Contains("\"second\"", Text(second["text/html"]));
        Assert.Equal((200, 150), PngImage.ReadSize(Convert.FromBase64String(second["image/png"]!.GetValue<string>())));
    }

    [ChromiumFact]
    public void TrailingTableValueGetsHtmlAndText()
    {
        var data = Outputs(_f.Saved, 6).Single()["data"]!.AsObject();
        Assert.Contains("<td>a&lt;b</td>", Text(data["text/html"]));
        Assert.Equal("Name  Value\n----  -----\na<b     0.5\n", Text(data["text/plain"]));
        Assert.False(data.ContainsKey("image/png"));
    }

    [ChromiumFact]
    public void MarkdownCellsAndUnknownFieldsAreByteIdentical()
    {
        var before = CellBytes(_f.Input);
        var after = CellBytes(_f.Output);
        Assert.Equal(before.Count, after.Count);
        foreach (var i in new[] { 0, 3 })
            Assert.Equal(Utf8(before[i]), Utf8(after[i]));
        Assert.Contains("ünïcode", Utf8(after[0])); // written as UTF-8, not \u escapes, like Jupyter
        Assert.Equal(RunFixture.Markdown0, Text(NotebookKit.Cell(_f.Saved, 0)["source"]));
        Assert.Equal("kept", NotebookKit.Cell(_f.Saved, 2)["unknown_cell_field"]!.GetValue<string>());
        Assert.Equal(2.5, _f.Saved.Root["metadata"]!["custom_tool"]!["keep"]![1]!.GetValue<double>());
        // The code cells' sources and metadata are untouched too.
        Assert.Equal(NotebookDocument.Load(_f.Input).Cells[5]!["source"]!.ToJsonString(), _f.Saved.Cells[5]!["source"]!.ToJsonString());
    }
}

[Collection("notebook kernel")]
public sealed class NotebookOptionTests : IDisposable
{
    readonly string _dir = TempDir();

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void WithoutPngAndPlotlyJsAFigureIsASmallHtmlOutput()
    {
        var path = Path.Combine(_dir, "small.ipynb");
        new NotebookBuilder()
            .Code($"{LibReference(_dir)}\nusing PDiff.Plots;\ndisplay(new Figure(new Bar {{ X = new[] {{ 1, 2 }}, Y = new[] {{ 3, 4 }} }}));")
            .Save(path);
        var (code, _, stderr) = RunNotebook(path, extra: new[] { "--no-plotly-js" }, png: false);
        Assert.True(code == 0, stderr);
        var data = Outputs(NotebookDocument.Load(path), 0).Single()["data"]!.AsObject();
        Assert.Equal(new[] { "text/html", "text/plain" }, data.Select(p => p.Key).Order());
        var html = Text(data["text/html"]);
        Assert.Contains(PlotlyJs.RequiresMarker, html);
        Assert.DoesNotContain("plotly.js v", html);
        Assert.DoesNotContain("<img", html);
        Assert.True(new FileInfo(path).Length < 10_000, $"{new FileInfo(path).Length} bytes");
    }
}
