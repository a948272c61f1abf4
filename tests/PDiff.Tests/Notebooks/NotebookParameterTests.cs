using PDiff.Notebooks;
using Xunit;
using static PDiff.Tests.Notebooks.NotebookKit;

namespace PDiff.Tests.Notebooks;

[Collection("notebook kernel")]
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
    public void OverridesAreInjectedAfterTheParametersCellAndTakeEffect()
    {
        var path = Path.Combine(_dir, "p.ipynb");
        Notebook().Save(path);
        var output = Path.Combine(_dir, "p.out.ipynb");
        var (code, _, stderr) = RunNotebook(path, output, new[]
        {
            "--param", "profile=smoke", "--param", "steps=7", "-p", "lr=0.5", "--param", "fast=True", "--param", "tag=123",
        });
        Assert.True(code == 0, stderr);

        var nb = NotebookDocument.Load(output);
        Assert.Equal(4, nb.Cells.Count);
        var injected = Cell(nb, 2);
        Assert.Equal(new[] { Parameters.InjectedTag }, NotebookDocument.Tags(injected));
        Assert.Equal("csharp", injected["metadata"]!["polyglot_notebook"]!["kernelName"]!.GetValue<string>());
        Assert.Equal(
            "// Injected by `pdiff notebook run --param`: overrides the defaults of cell 2.\n" +
            "profile = \"smoke\";\nsteps = 7;\nlr = 0.5;\nfast = true;\ntag = \"123\";\n",
            NotebookDocument.Source(injected));
        Assert.Equal(2, ExecutionCount(nb, 2)); // the injected cell runs like any other
        // "123" stays a string because tag is declared a string.
        Assert.Equal("smoke 7 0.5 True 123 String\n", Text(Outputs(nb, 3).Single()["text"]));

        // Running the output again with other values replaces the injected cell instead of adding one.
        (code, _, stderr) = RunNotebook(output, extra: new[] { "--param", "steps=9" });
        Assert.True(code == 0, stderr);
        nb = NotebookDocument.Load(output);
        Assert.Equal(4, nb.Cells.Count);
        Assert.Equal("quick 9 0.001 False t String\n", Text(Outputs(nb, 3).Single()["text"]));

        // No --param: the notebook runs with its defaults and no injected cell.
        (code, _, stderr) = RunNotebook(output);
        Assert.True(code == 0, stderr);
        nb = NotebookDocument.Load(output);
        Assert.Equal(3, nb.Cells.Count);
        Assert.Equal("quick 3 0.001 False t String\n", Text(Outputs(nb, 2).Single()["text"]));
    }

    [Fact]
    public void UnknownOrIllTypedParametersAreRefusedBeforeRunning()
    {
        var path = Path.Combine(_dir, "p.ipynb");
        Notebook().Save(path);
        var before = File.ReadAllBytes(path);
        var (code, _, stderr) = RunPdiff("notebook", "run", path, "--param", "profil=smoke");
        Assert.Equal(2, code);
        Assert.Contains("declares no variable 'profil'", stderr);
        Assert.Contains("profile, steps, lr, fast, tag", stderr);
        Assert.DoesNotContain("kernel ready", stderr); // refused before the kernel starts

        (code, _, stderr) = RunPdiff("notebook", "run", path, "--param", "steps=many");
        Assert.Equal(2, code);
        Assert.Contains("steps is an int", stderr);
        Assert.Equal(before, File.ReadAllBytes(path));

        var noParams = Path.Combine(_dir, "n.ipynb");
        new NotebookBuilder().Code("var x = 1;").Save(noParams);
        (code, _, stderr) = RunPdiff("notebook", "run", noParams, "--param", "x=2");
        Assert.Equal(2, code);
        Assert.Contains("no code cell tagged \"parameters\"", stderr);
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
