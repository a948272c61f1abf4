using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using PDiff.Checkpoints;
using PDiff.Data;
using PDiff.Diffusion;
using PDiff.Studies;
using PDiff.Models;
using PDiff.Storage;
using PDiff.Tests.Data;
using PDiff.Zoo;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PDiff.Tests.Zoo;

/// <summary>
/// Bring-your-own, one step outside the path that works: what a PyTorch user gets wrong and what they are told.
/// fixtures/byo_cnn is a BN CNN trained on raw pixels; fixtures/byo_norm (its make_fixture.py) a tanh CNN of
/// another architecture trained on Normalize(0.1307, 0.3081) pixels, which PyTorch scores at 94.2 % on the 500
/// stored digits normalised and 66.8 % on raw pixels.
/// </summary>
public class ByoMistakesTests
{
    const string ClassArch = "byo-cnn-mistakes";
    static ByoMistakesTests() => ModelRegistry.Register(ClassArch, (spec, g) => new ByoCnn(g));

    static string Cnn(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "byo_cnn", name);
    static string Norm(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "byo_norm", name);
    const string NormInput = "mean=0.1307,std=0.3081";

    static ModelSpec Script(string file, string? input = ModelSpec.UnitInput) => new() { Arch = ModelSpec.TorchScript, Source = file, Input = input };

    static ZooImportOptions Options(string checkpoints, string baseModel, ModelSpec spec, string outDir) => new()
    {
        Checkpoints = checkpoints, BaseModel = baseModel, Model = spec, Out = outDir,
    };

    static string TempDir() => Directory.CreateTempSubdirectory("pdiff-byo-mistakes-").FullName;

    /// <summary>A copy of byo_cnn's base model as safetensors, changed by <paramref name="edit"/>.</summary>
    static string EditedBase(string dir, Action<Dictionary<string, Tensor>> edit)
    {
        var tensors = PtCheckpoint.Load(Cnn("base.pth"));
        var dict = tensors.ToDictionary(kv => kv.Key, kv => kv.Value);
        edit(dict);
        var path = Path.Combine(dir, "edited_base.safetensors");
        Safetensors.Save(path, dict);
        foreach (var t in new HashSet<Tensor>(dict.Values.Concat(tensors.Values), ReferenceEqualityComparer.Instance)) t.Dispose();
        return path;
    }

    [Fact]
    public void AnotherArchitecturesFilesNameTheFileTheNetworkAndTheFix()
    {
        var root = TempDir();
        try
        {
            var outDir = Path.Combine(root, "zoo");
            // The issue's case: a TorchScript file of another architecture than the base model.
            var b = Assert.Throws<InvalidDataException>(() => ZooImport.FromPthFolder(Options(Cnn("checkpoints"), Cnn("base.pth"), Script(Norm("model.pt")), outDir)));
            Assert.Contains($"base model {Cnn("base.pth")} does not fit the TorchScript network {Norm("model.pt")}", b.Message);
            Assert.Contains("'conv1.weight' is [8, 1, 3, 3] in the file but [16, 1, 5, 5] in the network", b.Message);
            Assert.Contains("the file has 10 tensors (bn1.weight, bn1.bias, bn1.running_mean, bn1.running_var, bn1.num_batches_tracked, …) that the network lacks", b.Message);
            Assert.Contains("The file base.pth was saved from another architecture than model.pt: export model.pt again", b.Message);
            Assert.DoesNotContain('\n', b.Message);
            Assert.False(Directory.Exists(outDir));

            // A checkpoint of another network than the (fitting) base model and TorchScript file: shapes, then names.
            var c = Assert.Throws<InvalidDataException>(() => ZooImport.FromPthFolder(Options(Norm("checkpoints"), Cnn("base.pth"), Script(Cnn("model.pt")), outDir)));
            Assert.Contains($"checkpoint {Norm("checkpoints/0000.pth")} does not fit the TorchScript network {Cnn("model.pt")}: 'conv2.bias' is [32] in the file but [16] in the network.", c.Message);
            Assert.Contains($"The checkpoints in {Norm("checkpoints")} were saved from another architecture than model.pt: export model.pt again from the network that wrote them", c.Message);
            var u = Assert.Throws<InvalidDataException>(() => ZooImport.FromPthFolder(Options(Cnn("checkpoints"), Norm("base.pth"), Script(Norm("model.pt")), outDir)));
            Assert.Contains("the file has 2 tensors (bn2.weight, bn2.bias) that the network lacks", u.Message);
            Assert.False(Directory.Exists(outDir));

            // Missing and unexpected keys and integer values in a base model, against a registered class (fix: --arch).
            var missing = EditedBase(root, d => d.Remove("conv2.weight"));
            var m = Assert.Throws<InvalidDataException>(() => ZooImport.FromPthFolder(Options(Cnn("checkpoints"), missing, new ModelSpec { Arch = ClassArch }, outDir)));
            Assert.Contains("does not fit the network byocnnmistakes(10 classes): the file lacks 1 tensor (conv2.weight) of the network's 16 tensors.", m.Message);
            Assert.Contains("The file edited_base.safetensors was saved from another architecture than byocnnmistakes(10 classes): pass the --arch and size options", m.Message);
            var extra = EditedBase(root, d => d["extra.weight"] = torch.zeros(3));
            Assert.Contains("the file has 1 tensor (extra.weight) that the network lacks",
                Assert.Throws<InvalidDataException>(() => ZooImport.FromPthFolder(Options(Cnn("checkpoints"), extra, new ModelSpec { Arch = ClassArch }, outDir))).Message);
            var ints = EditedBase(root, d => d["fc.bias"] = torch.arange(10L));
            Assert.Contains("'fc.bias' holds Int64 numbers but the network's is Float32",
                Assert.Throws<InvalidDataException>(() => ZooImport.FromPthFolder(Options(Cnn("checkpoints"), ints, new ModelSpec { Arch = ClassArch }, outDir))).Message);
            // …and in a checkpoint (made by fixtures/byo_norm/make_odd_checkpoints.py).
            var ck = Directory.CreateDirectory(Path.Combine(root, "ck")).FullName;
            File.Copy(Norm("checkpoints/0000.pth"), Path.Combine(ck, "0000.pth"));
            File.Copy(Norm("odd/int_fc_bias.pth"), Path.Combine(ck, "0001.pth"));
            var k = Assert.Throws<InvalidDataException>(() => ZooImport.FromPthFolder(Options(ck, Norm("base.pth"), Script(Norm("model.pt"), NormInput), outDir)));
            Assert.Contains($"checkpoint {Path.Combine(ck, "0001.pth")} does not fit the TorchScript network {Norm("model.pt")}: 'fc.bias' holds Int64 numbers but the network's is Float32.", k.Message);
            Assert.False(Directory.Exists(outDir));
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    [Fact]
    public void ExplicitInputStatisticsAreCheckedRecordedAndReproducePyTorch()
    {
        // The text form: canonical, per channel, and every bad value refused with the form to use.
        Assert.Equal(NormInput, ModelSpec.NormalizedInput(new[] { 0.1307 }, new[] { 0.3081 }));
        Assert.Equal(NormInput, ModelRegistry.CanonicalInput(" MEAN=0.13070, Std=3.081e-1 ", 1));
        Assert.Equal("mean=0.485,0.456,0.406,std=0.229,0.224,0.225", ModelRegistry.CanonicalInput("mean=0.485,0.456,0.406,std=0.229,0.224,0.225", 3));
        foreach (var (bad, says) in new[]
        {
            ("mean=0.1,std=0", "must be a finite number > 0"), ("mean=0.1,std=-1", "must be a finite number > 0"),
            ("mean=NaN,std=1", "not a finite number"), ("mean=0,std=Infinity", "must be a finite number > 0"),
            ("mean=0.1", "gives no std"), ("mean=0.1,0.2,std=0.3", "2 mean(s) and 1 std(s)"), ("mean=x,std=1", "'x' is not a number"),
            ("mean=0.1,std=0.3,mean=0.2", "'mean=0.2' is not a number"),
        })
            Assert.Contains(says, Assert.Throws<ArgumentException>(() => ModelRegistry.CanonicalInput(bad, 1)).Message);
        Assert.Contains("the network takes 1 input channel(s)", Assert.Throws<ArgumentException>(() =>
            ModelRegistry.Complete(new ModelSpec { Arch = ClassArch, Input = "mean=0.485,0.456,0.406,std=0.229,0.224,0.225" })).Message);
        Assert.Contains("mean=0.1307,std=0.3081", Assert.Throws<ArgumentException>(() => ModelRegistry.CanonicalInput("minus-one-to-one")).Message);

        // The data are scaled with the given values; contradicting statistics, or three channels for our one-channel data, are refused.
        var spec = Script(Norm("model.pt"), NormInput);
        Assert.Equal(new Normalization(0.1307, 0.3081), InputScaling.Apply(spec, null).Normalization);
        Assert.Equal(new Normalization(0.1307, 0.3081), InputScaling.Apply(spec, new DataOptions { Normalization = new Normalization(0.1307, 0.3081) }).Normalization);
        Assert.Throws<ArgumentException>(() => InputScaling.Apply(spec, new DataOptions { Normalization = Normalization.Unit }));
        Assert.Contains("have one channel", Assert.Throws<ArgumentException>(() => InputScaling.Apply(spec with
        {
            InChannels = 3, Input = "mean=0.485,0.456,0.406,std=0.229,0.224,0.225",
        }, null)).Message);

        // Imported with its own values, the normalised network scores PyTorch's accuracies on the 500 stored digits.
        var root = TempDir();
        try
        {
            var zoo = ZooImport.FromPthFolder(Options(Norm("checkpoints"), Norm("base.pth"), spec, Path.Combine(root, "zoo")));
            Assert.Equal(NormInput, zoo.Manifest.Model.Input);
            Assert.Contains("\"input\": \"mean=0.1307,std=0.3081\"", File.ReadAllText(Path.Combine(root, "zoo", "manifest.json")));
            var expected = JsonDocument.Parse(File.ReadAllText(Norm("expected.json"))).RootElement;
            var ev = JsonDocument.Parse(File.ReadAllText(Cnn("expected.json"))).RootElement.GetProperty("eval");
            using var gz = new GZipStream(File.OpenRead(Cnn("eval_images.u8.gz")), CompressionMode.Decompress);
            using var bytes = new MemoryStream();
            gz.CopyTo(bytes);
            var labels = ev.GetProperty("labels").EnumerateArray().Select(l => (byte)l.GetInt32()).ToArray();
            var raw = new RawImages("byo_cnn/eval", bytes.ToArray(), labels, 28, 28, Cnn("eval_images.u8.gz"));
            using var images = ImageDataset.FromRaw("byo_cnn/eval", raw, Enumerable.Range(0, labels.Length).ToArray(),
                InputScaling.Apply(zoo.Manifest.Model, null).Normalization!, MnistDigits.ClassNames);
            var scores = zoo.ScoreCheckpoints(new LabeledImages(images.X, images.Y));
            var pytorch = expected.GetProperty("checkpoints").EnumerateArray().Select(c => c.GetProperty("accuracy").GetDouble()).ToList();
            Assert.Equal(pytorch.Count, scores.Count);
            for (var i = 0; i < scores.Count; i++)
                Assert.True(Math.Abs(scores[i].Accuracy - pytorch[i]) < 1e-9, $"checkpoint {i}: ours {scores[i].Accuracy:F4}, PyTorch {pytorch[i]:F4}");
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    /// <summary>
    /// The scaling check: the normalised network fed raw pixels scores far below standardised ones on the sample, so
    /// the import warns (log and callback) and goes on as asked; with its own values, or the BN network with raw
    /// pixels (which tolerates either scaling), it does not. A zoo imported with explicit values scores with them later.
    /// </summary>
    [MnistFact]
    public void AScalingThatScoresClearlyWorseThanAnotherIsWarnedAbout()
    {
        var root = TempDir();
        try
        {
            var data = new DataOptions { MaxTrain = 500, ValidationSize = 400, MaxTest = 200 };
            (ZooTask Zoo, List<string> Warnings, string Log) Import(string name, string ck, string baseModel, ModelSpec spec)
            {
                var warnings = new List<string>();
                var log = new StringWriter();
                var zoo = ZooImport.FromPthFolder(Options(ck, baseModel, spec, Path.Combine(root, name)) with { Dataset = "mnist", Data = data, Warn = warnings.Add }, log);
                return (zoo, warnings, log.ToString());
            }

            var unit = Import("unit", Norm("checkpoints"), Norm("base.pth"), Script(Norm("model.pt")));
            var w = Assert.Single(unit.Warnings);
            Assert.Matches(@"^the base model scores \d+\.\d % on 400 validation images with the input scaling asked for, unit \(raw pixels b/255\), " +
                @"but \d+\.\d % with standardize \(the train split's mean 0\.\d{4}, std 0\.\d{4}\): .* import again with --input standardize", w);
            Assert.Contains($"[import] warning: {w}", unit.Log);
            Assert.Equal(ModelSpec.UnitInput, unit.Zoo.Manifest.Model.Input);              // the choice stands
            Assert.True(unit.Zoo.Manifest.Data!.Normalization.IsUnit);

            var own = Import("own", Norm("checkpoints"), Norm("base.pth"), Script(Norm("model.pt"), NormInput));
            Assert.Empty(own.Warnings);
            Assert.DoesNotContain("warning", own.Log);
            Assert.Matches(@"input scaling check on 400 validation images: mean=0\.1307,std=0\.3081 \d+\.\d % \(chosen\), standardize \d+\.\d %, unit \d+\.\d %", own.Log);
            Assert.Equal(new Normalization(0.1307, 0.3081), own.Zoo.Manifest.Data!.Normalization);
            Assert.InRange(own.Zoo.Manifest.Test!.Mean, 0.85, 1.0);
            using (var reloaded = ZooTask.Open(own.Zoo.Directory).LoadData())
                Assert.Equal(new Normalization(0.1307, 0.3081), reloaded.Validation.Normalization);

            // The check itself: numbers behind the warning, the chosen scaling first.
            using (var model = BaseModels.Load(Norm("base.pth"), ModelRegistry.Complete(Script(Norm("model.pt")))))
            using (var split = Datasets.Load("mnist", 0, InputScaling.Apply(Script(Norm("model.pt")), data)))
            {
                var check = InputScaling.Compare(model, ModelRegistry.Complete(Script(Norm("model.pt"))), split);
                Assert.Equal(new[] { ModelSpec.UnitInput, ModelSpec.StandardizedInput }, check.Scores.Select(s => s.Input));
                Assert.True(check.Scores[1].Accuracy - check.Chosen.Accuracy >= 0.2, InputScaling.Summary(check));
                var quiet = InputScaling.Compare(model, ModelRegistry.Complete(Script(Norm("model.pt"))), split, margin: 1.0);
                Assert.Null(quiet.Warning);
            }

            var bn = Import("bn", Cnn("checkpoints"), Cnn("base.pth"), Script(Cnn("model.pt")));
            Assert.Empty(bn.Warnings);
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    [Fact]
    public void FilesThatAreNotCheckpointsAreListedAndAFolderWithoutCheckpointsIsRefused()
    {
        var root = TempDir();
        try
        {
            var ck = Directory.CreateDirectory(Path.Combine(root, "ck")).FullName;
            foreach (var f in Directory.GetFiles(Cnn("checkpoints"))) File.Copy(f, Path.Combine(ck, Path.GetFileName(f)));
            foreach (var name in new[] { "notes.txt", "args.json", "0040.pth.bak", "README", "run.log", "z.yaml" }) File.WriteAllText(Path.Combine(ck, name), "mine");
            Directory.CreateDirectory(Path.Combine(ck, "old"));
            var log = new StringWriter();
            var zoo = ZooImport.FromPthFolder(Options(ck, Cnn("base.pth"), Script(Cnn("model.pt")), Path.Combine(root, "zoo")), log);
            Assert.Equal(40, zoo.K);
            var lines = log.ToString().Split('\n').Where(l => l.Contains("skipped")).ToList();
            Assert.Equal("[import] skipped 7 files that are not checkpoints (*.pth, *.pt): 0040.pth.bak, README, args.json, notes.txt, old/, … (first 5 of 7)",
                Assert.Single(lines).TrimEnd('\r'));

            var only = Directory.CreateDirectory(Path.Combine(root, "only")).FullName;
            File.WriteAllText(Path.Combine(only, "notes.txt"), "mine");
            var e = Assert.Throws<FileNotFoundException>(() => ZooImport.FromPthFolder(Options(only, Cnn("base.pth"), Script(Cnn("model.pt")), Path.Combine(root, "z2"))));
            Assert.Equal($"No checkpoints in {only}: a checkpoint is a torch.save file named *.pth or *.pt (the base model aside); the folder holds only 1 other entry: " +
                "notes.txt. Name the checkpoints *.pth (or *.pt), or give the folder that holds them.", e.Message);
            Assert.False(Directory.Exists(Path.Combine(root, "z2")));
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    /// <summary>Every file under <paramref name="dir"/> (relative path → SHA-256) and every folder: what "left as it was" compares.</summary>
    internal static SortedDictionary<string, string> Snapshot(string dir)
    {
        var s = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var d in Directory.GetDirectories(dir, "*", SearchOption.AllDirectories)) s[Path.GetRelativePath(dir, d) + "/"] = "";
        // A lock file counts by its presence only: whoever takes the lock rewrites the holder's pid and time, and a failed
        // job that found the folder locked-and-released by an earlier one leaves it rewritten (its content is no result).
        foreach (var f in Directory.GetFiles(dir, "*", SearchOption.AllDirectories))
            s[Path.GetRelativePath(dir, f)] = FolderLock.IsLockFile(Path.GetFileName(f)) ? "(lock file)" : Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)));
        return s;
    }

    /// <summary>byo_cnn's 40 checkpoints with the third replaced by bytes that are no checkpoint: an import fails midway.</summary>
    internal static string CorruptThirdCheckpoint(string root)
    {
        var ck = Directory.CreateDirectory(Path.Combine(root, "corrupt")).FullName;
        foreach (var f in Directory.GetFiles(Cnn("checkpoints"))) File.Copy(f, Path.Combine(ck, Path.GetFileName(f)));
        File.WriteAllText(Path.Combine(ck, "0002.pth"), "not a checkpoint");
        return ck;
    }

    [Fact]
    public void AFailedImportLeavesOutAsItWas()
    {
        var root = TempDir();
        try
        {
            var ck = CorruptThirdCheckpoint(root);
            ZooImportOptions To(string outDir) => Options(ck, Cnn("base.pth"), Script(Cnn("model.pt")), outDir);
            void Fails(ZooImportOptions o) => Assert.Contains("0002.pth", Assert.ThrowsAny<Exception>(() => ZooImport.FromPthFolder(o)).Message);

            // A new folder (and the parents made for it) is gone.
            Fails(To(Path.Combine(root, "new", "deeper", "zoo")));
            Assert.False(Directory.Exists(Path.Combine(root, "new")));
            // An empty folder stays, empty.
            var empty = Directory.CreateDirectory(Path.Combine(root, "empty")).FullName;
            Fails(To(empty));
            Assert.Empty(Directory.EnumerateFileSystemEntries(empty));
            // A user's folder written into with --force keeps exactly the user's files: no marker, no staging.
            var mine = Directory.CreateDirectory(Path.Combine(root, "mine")).FullName;
            File.WriteAllText(Path.Combine(mine, "notes.txt"), "mine");
            Directory.CreateDirectory(Path.Combine(mine, "sub"));
            var before = Snapshot(mine);
            Fails(To(mine) with { Force = true });
            Assert.Equal(before, Snapshot(mine));
            // A zoo of ours keeps its manifest, files and marker.
            var zoo = Path.Combine(root, "zoo");
            ZooImport.FromPthFolder(Options(Cnn("checkpoints"), Cnn("base.pth"), Script(Cnn("model.pt")), zoo));
            before = Snapshot(zoo);
            Assert.Contains(OwnedFolder.MarkerName, before.Keys);
            Fails(To(zoo));
            Assert.Equal(before, Snapshot(zoo));
            Assert.Equal(40, ZooTask.Open(zoo).K);
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    /// <summary>A run that fails after claiming its results folder (a zoo with no data split: nothing to score on) leaves it as it was.</summary>
    [Fact]
    public void AFailedRunLeavesItsResultsFolderAsItWas()
    {
        var root = TempDir();
        try
        {
            var zoo = ZooImport.FromPthFolder(Options(Cnn("checkpoints"), Cnn("base.pth"), Script(Cnn("model.pt")), Path.Combine(root, "zoo")));
            void Fails(string outDir, bool force = false) => Assert.Contains("records no data split",
                Assert.Throws<InvalidOperationException>(() => TaskRunner.RunOnZoo(zoo, PDiffConfig.Default, Profile.Smoke, 1, outDir, force: force)).Message);

            Fails(Path.Combine(root, "new", "results"));
            Assert.False(Directory.Exists(Path.Combine(root, "new")));
            var mine = Directory.CreateDirectory(Path.Combine(root, "mine")).FullName;
            File.WriteAllText(Path.Combine(mine, "notes.txt"), "mine");
            var before = Snapshot(mine);
            Fails(mine, force: true);
            Assert.Equal(before, Snapshot(mine));
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }
}
