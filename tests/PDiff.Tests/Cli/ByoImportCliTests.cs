using PDiff.Models;
using PDiff.Storage;
using PDiff.Tests.Data;
using PDiff.Tests.Zoo;
using PDiff.Zoo;
using Xunit;
using static PDiff.Tests.Cli.CliKit;

namespace PDiff.Tests.Cli;

/// <summary>
/// `pdiff zoo import` of a user's TorchScript network one step outside the path that works (in-process): explicit
/// input statistics, the warning about a scaling that scores clearly worse, another architecture's files, files
/// that are not checkpoints, and an --out left as it was by a failed import or run.
/// </summary>
[Collection(CliInProcess.Name)]
public sealed class ByoImportCliTests
{
    static string Cnn(string name) => Path.Combine(ByoFixture, name);
    static string Norm(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "byo_norm", name);

    static string[] Import(string fixture, string outDir, params string[] more) =>
        new[] { "zoo", "import", "--checkpoints", Path.Combine(fixture, "checkpoints"), "--base", Path.Combine(fixture, "base.pth"),
            "--torchscript", Path.Combine(fixture, "model.pt"), "--out", outDir }.Concat(more).ToArray();

    static string NormFixture => Norm("");

    static string OneLine(string stderr)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"want one line, got: {stderr}");
        Assert.DoesNotContain("   at ", stderr);
        return lines[0];
    }

    static string Root() => Directory.CreateTempSubdirectory("pdiff-byo-cli-").FullName;

    [Theory]
    [InlineData("mean=0.1307,std=0", "--input: Input std 0 must be a finite number > 0")]
    [InlineData("mean=0.1307,std=-0.3", "--input: Input std -0.3 must be a finite number > 0")]
    [InlineData("mean=nan,std=0.3", "--input: Input mean NaN is not a finite number")]
    [InlineData("mean=0.1,std=1e400", "--input: Input std Infinity must be a finite number > 0")]
    [InlineData("mean=0.485,0.456,0.406,std=0.229,0.224,0.225", "--input: ModelSpec.Input 'mean=0.485,0.456,0.406,std=0.229,0.224,0.225' gives 3 mean(s) and std(s) but the network takes 1 input channel(s)")]
    [InlineData("mean=0.1307", "--input: Input scaling 'mean=0.1307' gives no std")]
    [InlineData("normalize", "--input: ModelSpec.Input 'normalize' is not an input scaling")]
    public void BadInputValuesAreUsageErrorsBeforeAnyWork(string input, string message)
    {
        var root = Root();
        try
        {
            var outDir = Path.Combine(root, "zoo");
            var (code, stdout, stderr, _) = Pdiff(Import(ByoFixture, outDir, "--input", input, "--dataset", "mnist"));
            Assert.True(code == 2, $"exit {code}: {stderr}");
            Assert.StartsWith($"pdiff zoo import: {message}", stderr);
            Assert.Equal("", stdout);
            Assert.False(Directory.Exists(outDir));
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    [MnistFact]
    public void ExplicitValuesAreRecordedAndAClearlyBetterScalingIsWarnedAbout()
    {
        var root = Root();
        try
        {
            // The README tour's --input unit copied for a network trained on Normalize(0.1307, 0.3081): one warning line, the zoo as asked.
            var unit = Pdiff(Import(NormFixture, Path.Combine(root, "unit"), "--input", "unit", "--dataset", "mnist"));
            Assert.True(unit.Code == 0, $"exit {unit.Code}: {unit.Stderr}");
            var warning = OneLine(unit.Stderr);
            Assert.StartsWith("pdiff: warning: the base model scores ", warning);
            Assert.Contains("with the input scaling asked for, unit (raw pixels b/255), but ", warning);
            Assert.Contains("import again with --input standardize", warning);
            Assert.Contains("[import] warning: the base model scores ", unit.Stdout);
            Assert.Equal(ModelSpec.UnitInput, ZooTask.Open(Path.Combine(root, "unit")).Manifest.Model.Input);

            // The network's own values: no warning, recorded in the manifest, and `zoo info` shows them.
            var own = Pdiff(Import(NormFixture, Path.Combine(root, "own"), "--input", "mean=0.1307,std=0.3081", "--dataset", "mnist"));
            Assert.True(own.Code == 0, $"exit {own.Code}: {own.Stderr}");
            Assert.Equal("", own.Stderr);
            var m = ZooTask.Open(Path.Combine(root, "own")).Manifest;
            Assert.Equal("mean=0.1307,std=0.3081", m.Model.Input);
            Assert.Equal(new PDiff.Data.Normalization(0.1307, 0.3081), m.Data!.Normalization);
            Assert.True(m.Test!.Mean > 0.9, $"test accuracy {m.Test.Mean}");
            var info = Pdiff("zoo", "info", Path.Combine(root, "own"));
            Assert.Contains("torchscript(model.pt, mean=0.1307,std=0.3081 input, 10 classes)", info.Stdout);
            Assert.Contains("(mean 0.1307, std 0.3081)", info.Stdout);
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    [Fact]
    public void AnotherArchitecturesTorchScriptFileIsOneLineNamingBothFilesAndTheFix()
    {
        var root = Root();
        try
        {
            var outDir = Path.Combine(root, "zoo");
            var args = Import(ByoFixture, outDir, "--input", "unit").Select(a => a == Cnn("model.pt") ? Norm("model.pt") : a).ToArray();
            var (code, _, stderr, _) = Pdiff(args);
            Assert.Equal(1, code);
            var line = OneLine(stderr);
            Assert.StartsWith($"pdiff zoo import: base model {Cnn("base.pth")} does not fit the TorchScript network {Norm("model.pt")}: ", line);
            Assert.Contains("'conv1.weight' is [8, 1, 3, 3] in the file but [16, 1, 5, 5] in the network", line);
            Assert.EndsWith("or pass that network's TorchScript file (--torchscript; ModelSpec.Source in C#).", line);
            Assert.False(Directory.Exists(outDir));
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    [Fact]
    public void FilesThatAreNotCheckpointsAreListedOrRefused()
    {
        var root = Root();
        try
        {
            var ck = Directory.CreateDirectory(Path.Combine(root, "ck")).FullName;
            foreach (var f in Directory.GetFiles(Cnn("checkpoints"))) File.Copy(f, Path.Combine(ck, Path.GetFileName(f)));
            File.WriteAllText(Path.Combine(ck, "notes.txt"), "mine");
            File.WriteAllText(Path.Combine(ck, "args.json"), "{}");
            var args = Import(ByoFixture, Path.Combine(root, "zoo"), "--input", "unit").Select(a => a == Cnn("checkpoints") ? ck : a).ToArray();
            var ok = Pdiff(args);
            Assert.True(ok.Code == 0, $"exit {ok.Code}: {ok.Stderr}");
            Assert.Contains("[import] skipped 2 files that are not checkpoints (*.pth, *.pt): args.json, notes.txt\n", ok.Stdout);
            Assert.Equal(40, ZooTask.Open(Path.Combine(root, "zoo")).K);

            foreach (var f in Directory.GetFiles(ck, "*.pth")) File.Delete(f);
            var none = Pdiff(args.Select(a => a == Path.Combine(root, "zoo") ? Path.Combine(root, "z2") : a).ToArray());
            Assert.Equal(1, none.Code);
            Assert.Contains("the folder holds only 2 other entries: args.json, notes.txt.", OneLine(none.Stderr));
            Assert.False(Directory.Exists(Path.Combine(root, "z2")));
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    [Fact]
    public void AFailedImportLeavesOutAsItWas()
    {
        var root = Root();
        try
        {
            var ck = ByoMistakesTests.CorruptThirdCheckpoint(root);
            string[] To(string outDir, params string[] more) =>
                Import(ByoFixture, outDir, more.Prepend("unit").Prepend("--input").ToArray()).Select(a => a == Cnn("checkpoints") ? ck : a).ToArray();

            var fresh = Pdiff(To(Path.Combine(root, "new", "zoo")));
            Assert.Equal(1, fresh.Code);
            Assert.Contains("0002.pth", OneLine(fresh.Stderr));
            Assert.False(Directory.Exists(Path.Combine(root, "new")));

            var mine = Directory.CreateDirectory(Path.Combine(root, "mine")).FullName;
            File.WriteAllText(Path.Combine(mine, "notes.txt"), "mine");
            var before = ByoMistakesTests.Snapshot(mine);
            Assert.Equal(1, Pdiff(To(mine, "--force")).Code);
            Assert.Equal(before, ByoMistakesTests.Snapshot(mine));
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    /// <summary>A run that fails after claiming --out (the zoo's base model was damaged since) leaves --out as it was.</summary>
    [MnistFact]
    public void AFailedRunLeavesOutAsItWas()
    {
        var root = Root();
        try
        {
            var zoo = Path.Combine(root, "zoo");
            var imported = ZooImport.FromPthFolder(new ZooImportOptions
            {
                Checkpoints = Cnn("checkpoints"), BaseModel = Cnn("base.pth"), Out = zoo, Dataset = "mnist",
                Model = new ModelSpec { Arch = ModelSpec.TorchScript, Source = Cnn("model.pt"), Input = ModelSpec.UnitInput },
                Data = new PDiff.Data.DataOptions { MaxTrain = 300, ValidationSize = 100, MaxTest = 100 },
            });
            var weights = imported.BaseModelPath;
            var bytes = File.ReadAllBytes(weights);
            bytes[^1] ^= 0xFF;
            File.WriteAllBytes(weights, bytes);

            var fresh = Pdiff("run", "--zoo", zoo, "--profile", "smoke", "--out", Path.Combine(root, "new", "results"));
            Assert.Equal(1, fresh.Code);
            Assert.Contains("base.safetensors", OneLine(fresh.Stderr));
            Assert.False(Directory.Exists(Path.Combine(root, "new")));

            var empty = Directory.CreateDirectory(Path.Combine(root, "empty")).FullName;
            Assert.Equal(1, Pdiff("run", "--zoo", zoo, "--profile", "smoke", "--out", empty).Code);
            Assert.Empty(Directory.EnumerateFileSystemEntries(empty));

            var mine = Directory.CreateDirectory(Path.Combine(root, "mine")).FullName;
            File.WriteAllText(Path.Combine(mine, "notes.txt"), "mine");
            var before = ByoMistakesTests.Snapshot(mine);
            Assert.Equal(1, Pdiff("run", "--zoo", zoo, "--profile", "smoke", "--out", mine, "--force").Code);
            Assert.Equal(before, ByoMistakesTests.Snapshot(mine));
            Assert.False(File.Exists(Path.Combine(mine, OwnedFolder.MarkerName)));
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }
}
