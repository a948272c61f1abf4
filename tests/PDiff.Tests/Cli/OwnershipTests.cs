using PDiff.Data;
using PDiff.Models;
using PDiff.Notebooks;
using PDiff.Storage;
using PDiff.Zoo;
using TorchSharp;
using Xunit;
using static PDiff.Tests.Cli.CliKit;

namespace PDiff.Tests.Cli;

/// <summary>
/// One ownership rule, for every command that writes: a file pdiff did not write is never replaced, with or
/// without --force. A user's file at a name the command would write is refused before any work: exit 2, one
/// line naming the file, the file's bytes unchanged, nothing of pdiff's written or listed.
/// </summary>
[Collection(CliInProcess.Name)]
public sealed class OwnershipTests : IDisposable
{
    const string Bytes = "the user's own bytes, kept";
    readonly string root = Directory.CreateTempSubdirectory("pdiff-cli-own-").FullName;

    public void Dispose() => Directory.Delete(root, true);

    string Folder(string name) => Path.Combine(root, name);

    /// <summary>Puts a user's file at <paramref name="relative"/> under <paramref name="dir"/>; returns its full path.</summary>
    static string UserFile(string dir, string relative, string content = Bytes)
    {
        var p = Path.Combine(dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllText(p, content);
        return p;
    }

    /// <summary>Exit 2, one line on stderr naming <paramref name="file"/>, its bytes unchanged, pdiff's list (if any) without it.</summary>
    static void AssertRefused((int Code, string Stdout, string Stderr, TimeSpan Took) run, string file, string dir, string content = Bytes)
    {
        var context = $"exit {run.Code}\nstderr: {run.Stderr}\nstdout: {run.Stdout}";
        Assert.True(run.Code == 2, context);
        var lines = run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, context);
        Assert.StartsWith("pdiff ", lines[0]);
        Assert.Contains(file, lines[0]);
        Assert.DoesNotContain("   at ", run.Stderr + run.Stdout);
        Assert.Equal(content, File.ReadAllText(file));
        var marker = Path.Combine(dir, OwnedFolder.MarkerName);
        if (File.Exists(marker)) Assert.DoesNotContain(Path.GetRelativePath(dir, file).Replace('\\', '/'), File.ReadAllText(marker));
    }

    static IEnumerable<string[]> WithAndWithoutForce(params string[] args) => new[] { args, args.Append("--force").ToArray() };

    [Fact]
    public void ZooBuildRefusesAUsersManifestAndBaseModel()
    {
        var dir = Folder("build");
        var manifest = UserFile(dir, "manifest.json");
        UserFile(dir, "base.safetensors");
        foreach (var args in WithAndWithoutForce("zoo", "build", "--profile", "smoke", "--out", dir))
        {
            AssertRefused(Pdiff(args), manifest, dir);
            Assert.False(File.Exists(Path.Combine(dir, OwnedFolder.MarkerName)));
            Assert.False(Directory.Exists(Path.Combine(dir, ZooWriter.StagingFolder)));
        }
        Assert.Equal(Bytes, File.ReadAllText(Path.Combine(dir, "base.safetensors")));
    }

    [Theory]
    [InlineData("manifest.json")]
    [InlineData(ZooWriter.StagingFolder + "/base.safetensors")]
    public void ZooImportRefusesAUsersFileAtANameItWrites(string name)
    {
        var dir = Folder("import");
        var file = UserFile(dir, name);
        UserFile(dir, "notes.txt");
        foreach (var args in WithAndWithoutForce("zoo", "import", "--checkpoints", Path.Combine(ByoFixture, "checkpoints"), "--base",
                     Path.Combine(ByoFixture, "base.pth"), "--torchscript", Path.Combine(ByoFixture, "model.pt"), "--out", dir))
            AssertRefused(Pdiff(args), file, dir);
        Assert.Equal(new[] { "notes.txt", name.Split('/')[0] }.Order(), Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).Order());
    }

    /// <summary>
    /// A zoo's data go into a revision folder whose name is chosen free, so a user's files at the names of a flat zoo
    /// (base model, checkpoints, the TorchScript copy) are no clash: --force writes beside them and leaves their bytes.
    /// </summary>
    [Fact]
    public void ZooImportWithForceWritesBesideAUsersFilesAtAFlatZoosNames()
    {
        var dir = Folder("import");
        var files = new[] { "checkpoints/0000.safetensors", "base.safetensors", "model.pt", ZooWriter.RevisionPrefix + "1/base.safetensors" }
            .Select(n => UserFile(dir, n)).ToList();
        var args = new[] { "zoo", "import", "--checkpoints", Path.Combine(ByoFixture, "checkpoints"), "--base", Path.Combine(ByoFixture, "base.pth"),
            "--torchscript", Path.Combine(ByoFixture, "model.pt"), "--out", dir };
        var refused = Pdiff(args);
        Assert.True(refused.Code == 2, refused.Stderr);   // a folder of someone else's files, without --force
        var run = Pdiff(args.Append("--force").ToArray());
        Assert.True(run.Code == 0, run.Stderr);
        foreach (var f in files) Assert.Equal(Bytes, File.ReadAllText(f));
        var marker = File.ReadAllText(Path.Combine(dir, OwnedFolder.MarkerName));
        foreach (var f in files) Assert.DoesNotContain($"\"{Path.GetRelativePath(dir, f)}\"", marker);
        var zoo = ZooTask.Open(dir);
        Assert.StartsWith(ZooWriter.RevisionPrefix + "2/", zoo.Manifest.BaseModel);   // the user's rev-1 is left alone
    }

    [Fact]
    public void ZooAlignRefusesAUsersFileBeforeAligning()
    {
        var zoo = TinyZoo(Folder("zoo"), withData: false);
        var dir = Folder("aligned");
        var file = UserFile(dir, "manifest.json");
        foreach (var args in WithAndWithoutForce("zoo", "align", zoo.Directory, "--out", dir))
        {
            var run = Pdiff(args);
            AssertRefused(run, file, dir);
            Assert.DoesNotContain("[align]", run.Stdout);   // refused before the alignment
        }
    }

    [Theory]
    [InlineData("main_row.json")]
    [InlineData("run0/pdiff_config.json")]
    [InlineData("run0/table.csv")]
    [InlineData("run0/generated_zoo/notes.md")]
    public void RunRefusesAUsersFileInItsResultsFolder(string name)
    {
        var dir = Folder("results");
        var file = UserFile(dir, name);
        foreach (var args in WithAndWithoutForce("run", "--profile", "smoke", "--out", dir))
        {
            var run = Pdiff(args);
            AssertRefused(run, file, dir);
            Assert.DoesNotContain("[zoo]", run.Stdout);   // refused before the zoo is built or opened
        }
        Assert.False(File.Exists(Path.Combine(dir, OwnedFolder.MarkerName)));
    }

    [Fact]
    public void RunOnAZooRefusesAUsersFileInItsResultsFolder()
    {
        var zoo = TinyZoo(Folder("zoo"), withData: true);
        var dir = Folder("results");
        var file = UserFile(dir, "run0/losses.json");
        foreach (var args in WithAndWithoutForce("run", "--zoo", zoo.Directory, "--profile", "smoke", "--out", dir))
            AssertRefused(Pdiff(args), file, dir);
    }

    [Fact]
    public void AFolderOfAnotherKindIsRefusedAsAUsageProblem()
    {
        var zoo = TinyZoo(Folder("zoo"), withData: true);
        var before = File.ReadAllText(Path.Combine(zoo.Directory, OwnedFolder.MarkerName));
        foreach (var args in WithAndWithoutForce("run", "--zoo", zoo.Directory, "--profile", "smoke", "--out", zoo.Directory))
        {
            var (code, stdout, stderr, _) = Pdiff(args);
            Assert.True(code == 2, stderr);
            Assert.Equal($"pdiff run: {zoo.Directory} holds a pdiff zoo, not a results folder; choose another folder (nothing was written).", stderr.Trim());
        }
        Assert.Equal(before, File.ReadAllText(Path.Combine(zoo.Directory, OwnedFolder.MarkerName)));
    }

    [Fact]
    public void ForcedACommandWritesBesideTheUsersFilesAndListsOnlyItsOwn()
    {
        var dir = Folder("beside");
        var notes = UserFile(dir, "notes.txt");
        var theirs = UserFile(dir, "checkpoints/my_model.safetensors");
        var (code, _, stderr, _) = Pdiff("zoo", "import", "--checkpoints", Path.Combine(ByoFixture, "checkpoints"), "--base",
            Path.Combine(ByoFixture, "base.pth"), "--torchscript", Path.Combine(ByoFixture, "model.pt"), "--out", dir, "--force");
        Assert.True(code == 0, stderr);
        Assert.Equal(Bytes, File.ReadAllText(notes));
        Assert.Equal(Bytes, File.ReadAllText(theirs));
        var marker = File.ReadAllText(Path.Combine(dir, OwnedFolder.MarkerName));
        Assert.Contains("checkpoints/0039.safetensors", marker);
        Assert.DoesNotContain("notes.txt", marker);
        Assert.DoesNotContain("my_model", marker);
        // A second import over its own zoo replaces its own files and still not the user's.
        (code, _, stderr, _) = Pdiff("zoo", "import", "--checkpoints", Path.Combine(ByoFixture, "checkpoints"), "--base",
            Path.Combine(ByoFixture, "base.pth"), "--torchscript", Path.Combine(ByoFixture, "model.pt"), "--out", dir);
        Assert.True(code == 0, stderr);
        Assert.Equal(Bytes, File.ReadAllText(theirs));
    }

    [Fact]
    public void NotebookNewNeverWritesOverItsCellScriptOrAUsersFile()
    {
        var cells = UserFile(root, "cells.txt", "// %%\nConsole.WriteLine(1);\n");
        AssertRefused(Pdiff("notebook", "new", cells, cells), cells, root, "// %%\nConsole.WriteLine(1);\n");
        var link = Path.Combine(root, "link.ipynb");
        File.CreateSymbolicLink(link, cells);
        AssertRefused(Pdiff("notebook", "new", cells, link), link, root, "// %%\nConsole.WriteLine(1);\n");
        var mine = UserFile(root, "mine.txt");
        AssertRefused(Pdiff("notebook", "new", cells, mine), mine, root);
        var theirs = UserFile(root, "theirs.ipynb", "{\"cells\": [], \"metadata\": {}, \"nbformat\": 4, \"nbformat_minor\": 5}");
        AssertRefused(Pdiff("notebook", "new", cells, theirs), theirs, root, File.ReadAllText(theirs));

        // A notebook pdiff wrote is ours to write again.
        var ours = Path.Combine(root, "ours.ipynb");
        Assert.Equal(0, Pdiff("notebook", "new", cells, ours).Code);
        Assert.True(NotebookOutput.WrittenByPdiff(ours));
        Assert.Equal(0, Pdiff("notebook", "new", cells, ours).Code);
    }

    [Fact]
    public void NotebookClearWritesOnlyItsInputInPlaceOrAFileItWrote()
    {
        var cells = UserFile(root, "cells.txt", "// %%\nConsole.WriteLine(1);\n");
        var nb = Path.Combine(root, "nb.ipynb");
        Assert.Equal(0, Pdiff("notebook", "new", cells, nb).Code);
        var mine = UserFile(root, "mine.txt");
        AssertRefused(Pdiff("notebook", "clear", nb, "--output", mine), mine, root);
        var before = File.ReadAllText(nb);
        Assert.Equal(0, Pdiff("notebook", "clear", nb, "--output", nb).Code);   // the input itself: in place
        Assert.Equal(before, File.ReadAllText(nb));
        var copy = Path.Combine(root, "copy.ipynb");
        Assert.Equal(0, Pdiff("notebook", "clear", nb, "--output", copy).Code);
        Assert.Equal(0, Pdiff("notebook", "clear", nb, "--output", copy).Code);   // written by pdiff: replaced
        // In place through a link: the link stays a link.
        var link = Path.Combine(root, "link.ipynb");
        File.CreateSymbolicLink(link, nb);
        Assert.Equal(0, Pdiff("notebook", "clear", link).Code);
        Assert.NotNull(new FileInfo(link).LinkTarget);
    }

    [Fact]
    public void NotebookRunRefusesAUsersOutputBeforeTheKernelStarts()
    {
        var cells = UserFile(root, "cells.txt", "// %%\nConsole.WriteLine(1);\n");
        var nb = Path.Combine(root, "nb.ipynb");
        Assert.Equal(0, Pdiff("notebook", "new", cells, nb).Code);
        var mine = UserFile(root, "report.ipynb", "{\"cells\": [], \"metadata\": {}, \"nbformat\": 4, \"nbformat_minor\": 5}");
        var run = Pdiff("notebook", "run", nb, "--output", mine, "--no-png", "--quiet");
        AssertRefused(run, mine, root, File.ReadAllText(mine));
        Assert.DoesNotContain("kernel ready", run.Stderr);
    }

    /// <summary>
    /// A whole-network zoo of 2 small random MLPs written through <see cref="ZooWriter"/> (no training); with
    /// <paramref name="withData"/> its manifest records a data split (never loaded: the refusals come first).
    /// </summary>
    static ZooTask TinyZoo(string dir, bool withData)
    {
        var spec = ModelRegistry.Complete(new ModelSpec { Arch = "mlp", Hidden = new[] { 8 } });
        using var g = new torch.Generator(1);
        using var model = ModelRegistry.Build(spec, g);
        var layout = Subsets.Resolve(model, "whole");
        var writer = ZooWriter.Begin(dir);
        BaseModels.SaveWeights(writer.Staged("base.safetensors"), model, spec);
        using var vectors = torch.randn(new long[] { 2, layout.Length }, generator: g);
        var perClass = Enumerable.Repeat(1, 10).ToArray();
        var manifest = new ZooManifest
        {
            Task = "tiny", Dataset = "mnist", Model = spec,
            Data = withData ? new SplitInfo("mnist", 0, 0, 10, 10, 10, perClass, perClass, perClass, new Normalization(0.13, 0.31), "tiny", "test") : null,
            Subset = new SubsetRecord("whole", layout.Tensors, layout.Length),
            Checkpoints = Enumerable.Range(0, 2).Select(i => new CheckpointRecord(i, ZooStore.CheckpointFile(i), i, 0, double.NaN, double.NaN)).ToList(),
        };
        return writer.Commit(manifest, vectors);
    }
}
