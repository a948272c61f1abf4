using PDiff.Notebooks;
using Xunit;
using static PDiff.Tests.Notebooks.NotebookKit;

namespace PDiff.Tests.Notebooks;

public sealed class NotebookParameterTests : IDisposable
{
    readonly string _dir = TempDir();

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    static NotebookBuilder Notebook() => new NotebookBuilder()
        .Markdown("# params")
        .Parameters("var profile = \"quick\";\nint steps = 3;\ndouble lr = 1e-3;\nvar fast = false;\nstring tag = \"t\";")
        .Code("Console.WriteLine($\"{profile} {steps} {lr} {fast} {tag} {tag.GetType().Name}\");");

    [Fact]
    public async Task OverridesAreInjectedAfterTheParametersCellAndTakeEffect()
    {
        var path = Path.Combine(_dir, "p.ipynb");
        Notebook().Save(path);
        var output = Path.Combine(_dir, "p.out.ipynb");
        var values = new List<KeyValuePair<string, string>>
        {
            new("profile", "smoke"), new("steps", "7"), new("lr", "0.5"), new("fast", "True"), new("tag", "123"),
        };
        var r = await NotebookRunner.RunAsync(path, output, new RunOptions { Parameters = values, UseNotebookDirectory = false });
        Assert.True(r.Succeeded, r.Error);

        var nb = NotebookDocument.Load(output);
        Assert.Equal(4, nb.Cells.Count);
        var injected = Cell(nb, 2);
        Assert.Equal(new[] { Parameters.InjectedTag }, NotebookDocument.Tags(injected));
        Assert.Equal("csharp", injected["metadata"]!["polyglot_notebook"]!["kernelName"]!.GetValue<string>());
        Assert.Equal(
            "// Injected by `pdiff notebook run --param`: overrides the defaults of cell 2.\n" +
            "profile = \"smoke\";\nsteps = 7;\nlr = 0.5;\nfast = true;\ntag = \"123\";\n",
            NotebookDocument.Source(injected));
        // "123" stays a string because tag is declared a string.
        Assert.Equal("smoke 7 0.5 True 123 String\n", Text(Outputs(nb, 3).Single()["text"]));

        // Running the output again with other values replaces the injected cell instead of adding one.
        var again = await NotebookRunner.RunAsync(output, output, new RunOptions
        {
            Parameters = new List<KeyValuePair<string, string>> { new("steps", "9") },
            UseNotebookDirectory = false,
        });
        Assert.True(again.Succeeded, again.Error);
        nb = NotebookDocument.Load(output);
        Assert.Equal(4, nb.Cells.Count);
        Assert.Equal("quick 9 0.001 False t String\n", Text(Outputs(nb, 3).Single()["text"]));

        // No --param: the notebook runs with its defaults and no injected cell.
        Assert.True((await NotebookRunner.RunAsync(output, output, new RunOptions { UseNotebookDirectory = false })).Succeeded);
        Assert.Equal(3, NotebookDocument.Load(output).Cells.Count);
    }

    [Fact]
    public async Task UnknownOrIllTypedParametersAreRefusedBeforeRunning()
    {
        var path = Path.Combine(_dir, "p.ipynb");
        Notebook().Save(path);
        var e = await Assert.ThrowsAsync<ArgumentException>(() => NotebookRunner.RunAsync(path, path, new RunOptions
        {
            Parameters = new List<KeyValuePair<string, string>> { new("profil", "smoke") },
        }));
        Assert.Contains("declares no variable 'profil'", e.Message);
        Assert.Contains("profile, steps, lr, fast, tag", e.Message);

        e = await Assert.ThrowsAsync<ArgumentException>(() => NotebookRunner.RunAsync(path, path, new RunOptions
        {
            Parameters = new List<KeyValuePair<string, string>> { new("steps", "many") },
        }));
        Assert.Contains("steps is an int", e.Message);

        var noParams = Path.Combine(_dir, "n.ipynb");
        new NotebookBuilder().Code("var x = 1;").Save(noParams);
        e = await Assert.ThrowsAsync<ArgumentException>(() => NotebookRunner.RunAsync(noParams, noParams, new RunOptions
        {
            Parameters = new List<KeyValuePair<string, string>> { new("x", "2") },
        }));
        Assert.Contains("no code cell tagged \"parameters\"", e.Message);
    }

    [Theory]
    [InlineData("var s = \"a\";", "x\"y\\z", "\"x\\\"y\\\\z\"")]
    [InlineData("var n = 3;", "-4", "-4")]
    [InlineData("var f = 0.5f;", "2", "2f")]
    [InlineData("decimal m = 1m;", "2.5", "2.5m")]
    [InlineData("long k = 1;", "10000000000", "10000000000")]
    [InlineData("var b = true;", "FALSE", "false")]
    [InlineData("var d = -1.5;", "3e-4", "3e-4")]
    [InlineData("MyEnum e = MyEnum.A;", "7", "7")]
    [InlineData("MyRecord r = new();", "text", "\"text\"")]
    public void LiteralsFollowTheDeclaredType(string declaration, string raw, string expected)
    {
        var d = Parameters.Parse(declaration).Single();
        Assert.Equal(expected, Parameters.Literal(d, raw));
    }
}
