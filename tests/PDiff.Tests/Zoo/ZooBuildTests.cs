using System.Text.Json;
using PDiff.Data;
using PDiff.Models;
using TorchSharp;
using static TorchSharp.torch;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Zoo;

/// <summary>The whole zoo build in the smoke profile on real Fashion-MNIST, and its task folder.</summary>
public class ZooBuildTests
{
    [Fact]
    public void SmokeBuildWritesACompleteTaskFolder()
    {
        var dir = Path.Combine(Path.GetTempPath(), "pdiff-zoo-" + Guid.NewGuid().ToString("N"));
        try
        {
            var log = new StringWriter();
            var options = new ZooBuildOptions
            {
                Dataset = "fashion-mnist", Arch = "resnet18", Subset = "last-two-norms", Profile = Profile.Smoke, K = 5, Out = dir,
                Data = new DataOptions { MaxTrain = 600, ValidationSize = 200, MaxTest = 300 },
            };
            var task = ZooBuilder.Build(options, log);
            var text = log.ToString();
            Assert.Contains("[base]", text);
            Assert.Contains("[collect]", text);
            Assert.Contains("wrote", text);

            // manifest.json, read back as plain JSON: the fields a user relies on.
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")));
            var root = doc.RootElement;
            Assert.Equal("pdiff-zoo", root.GetProperty("format").GetString());
            Assert.Equal("fashion-mnist", root.GetProperty("dataset").GetString());
            Assert.Equal("resnet18", root.GetProperty("model").GetProperty("arch").GetString());
            Assert.Equal(4, root.GetProperty("model").GetProperty("width").GetInt32());
            Assert.Equal(600, root.GetProperty("data").GetProperty("train").GetInt32());
            Assert.Equal(200, root.GetProperty("data").GetProperty("validation").GetInt32());
            Assert.Equal(300, root.GetProperty("data").GetProperty("test").GetInt32());
            // The files live in the zoo's first revision folder (ZooWriter swaps a zoo by writing a new one, then the manifest).
            Assert.Equal("rev-1/base.safetensors", root.GetProperty("baseModel").GetString());
            Assert.Equal("rev-1/base.json", root.GetProperty("baseManifest").GetString());
            var tensors = root.GetProperty("subset").GetProperty("tensors").EnumerateArray().Select(t => t.GetProperty("name").GetString()).ToArray();
            Assert.Equal(new[] { "layer4.1.bn1.weight", "layer4.1.bn1.bias", "layer4.1.bn2.weight", "layer4.1.bn2.bias" }, tensors);
            Assert.Equal(128, root.GetProperty("subset").GetProperty("length").GetInt64());
            Assert.Equal("V2", root.GetProperty("recipe").GetProperty("kind").GetString());
            Assert.Equal(40UL, root.GetProperty("seeds").GetProperty("collection").GetUInt64());
            Assert.Equal("smoke", root.GetProperty("profile").GetString());
            var cps = root.GetProperty("checkpoints").EnumerateArray().ToList();
            Assert.Equal(5, cps.Count);
            Assert.Equal("rev-1/checkpoints/0000.safetensors", cps[0].GetProperty("file").GetString());
            Assert.Equal(2, cps[0].GetProperty("iteration").GetInt64());
            foreach (var c in cps)
            {
                Assert.True(File.Exists(Path.Combine(dir, c.GetProperty("file").GetString()!)));
                // A smoke model (19 steps) is barely trained: only the range is certain.
                Assert.InRange(c.GetProperty("valAccuracy").GetDouble(), 0.0, 1.0);
                Assert.InRange(c.GetProperty("testAccuracy").GetDouble(), 0.0, 1.0);
            }
            Assert.True(File.Exists(Path.Combine(dir, "rev-1", "base.safetensors")));
            Assert.True(File.Exists(Path.Combine(dir, "rev-1", "base.json")));

            // The recorded accuracies are exactly what re-evaluating the stored vectors gives, on the
            // rebuilt split, with the uncached reference scorer.
            using var matrix = task.LoadMatrix();
            Assert.Equal(new long[] { 5, 128 }, matrix.shape);
            using var data = task.LoadData();
            using var model = task.LoadBaseModel();
            var scorer = new FullScorer(model, task.Layout, new LabeledImages(data.Validation.X, data.Validation.Y), new LabeledImages(data.Test.X, data.Test.Y));
            var val = scorer.Score(matrix, EvalSplit.Validation);
            var test = scorer.Score(matrix, EvalSplit.Test);
            for (var k = 0; k < 5; k++)
            {
                Assert.Equal(task.Manifest.Checkpoints[k].ValAccuracy, val[k].Accuracy);
                Assert.Equal(task.Manifest.Checkpoints[k].TestAccuracy, test[k].Accuracy);
            }

            // The build keeps every checkpoint's wrong sets (scores.safetensors): the same bits as rescoring, and an
            // evaluation context takes them instead of running the originals again; a new vector is still run.
            Assert.Equal("rev-1/" + ZooScores.FileName, root.GetProperty("scores").GetString());
            var kept = task.LoadScores()!.Value;
            for (var k = 0; k < 5; k++)
            {
                Assert.Equal(val[k].Wrong.Words, kept.Validation[k].Wrong.Words);
                Assert.Equal(test[k].Wrong.Words, kept.Test[k].Wrong.Words);
                Assert.Equal(val[k].Accuracy, kept.Validation[k].Accuracy);
                Assert.Equal(test[k].Accuracy, kept.Test[k].Accuracy);
            }
            using (var ctx = PDiff.Studies.TaskContext.Open(task))
            {
                var primed = ctx.Scorer.Score(matrix, EvalSplit.Test);
                Assert.Equal(0, ctx.Scorer.ImagesScored);
                Assert.Equal(test[2].Wrong.Words, primed[2].Wrong.Words);
                using var first = matrix.narrow(0, 0, 1);
                using var moved = first.add(0.5f);
                ctx.Scorer.Score(moved, EvalSplit.Test);
                Assert.Equal(300, ctx.Scorer.ImagesScored);
            }

            // Vectors made from this zoo (here: originals plus noise) saved as a zoo of their own read back
            // exactly, score the same on the copied base model, and carry where they came from.
            var derivedDir = dir + "-derived";
            try
            {
                using var noise = torch.randn(new long[] { 4, 128 }, generator: new Generator(9));
                using var head = matrix.narrow(0, 0, 4);
                using var derived = head.add(noise.mul(0.01));
                var dval = scorer.Score(derived, EvalSplit.Validation).Select(x => x.Accuracy).ToList();
                var dtest = scorer.Score(derived, EvalSplit.Test).Select(x => x.Accuracy).ToList();
                ZooStore.SaveDerived(task, derivedDir, derived, "old vectors");
                // A p-diff training cached on the earlier vectors in this folder: keyed by the zoo's creation stamp,
                // so new vectors never reuse it; it is the trainer's, not the zoo writer's, so it is left alone.
                var staleTraining = Path.Combine(derivedDir, ZooStore.TrainedModelsFolder, "0123456789abcdef");
                Directory.CreateDirectory(staleTraining);
                var saved = ZooStore.SaveDerived(task, derivedDir, derived, "generated:test", dval, dtest);
                Assert.True(Directory.Exists(staleTraining));
                Assert.Equal(4, saved.K);
                Assert.Equal("generated:test", saved.Manifest.Source);
                Assert.Null(saved.LoadScores());                               // the source's scores are not the derived vectors'
                Assert.Null(saved.Manifest.Scores);
                Assert.Null(saved.Manifest.Recipe);
                Assert.Equal(dtest, saved.Manifest.Checkpoints.Select(c => c.TestAccuracy));
                using var back = ZooTask.Open(derivedDir).LoadMatrix();
                Assert.True(back.allclose(derived, 0, 0));   // bit-exact
                using var derivedBase = saved.LoadBaseModel();
                var derivedScorer = new FullScorer(derivedBase, saved.Layout, new LabeledImages(data.Validation.X, data.Validation.Y), new LabeledImages(data.Test.X, data.Test.Y));
                Assert.Equal(dtest, derivedScorer.Score(back, EvalSplit.Test).Select(x => x.Accuracy));
                Assert.Contains("not a collected zoo", ZooBuilder.StaleReason(derivedDir, options));
                Assert.Throws<ArgumentException>(() => ZooStore.SaveDerived(task, dir, derived, "x"));           // over its own source
                Assert.Throws<ArgumentException>(() => ZooStore.SaveDerived(task, derivedDir, derived, "x", dval.Take(3).ToList()));
            }
            finally
            {
                if (Directory.Exists(derivedDir)) Directory.Delete(derivedDir, true);
            }

            // A cache of zoos asks whether the folder is what these options would build today, and names
            // the first difference otherwise.
            Assert.Null(ZooBuilder.StaleReason(dir, options));
            Assert.Contains("K 5, wanted 3", ZooBuilder.StaleReason(dir, options with { K = 3 }));
            Assert.Contains("subset", ZooBuilder.StaleReason(dir, options with { Subset = "bn14-16" }));
            Assert.Contains("data options", ZooBuilder.StaleReason(dir, options with { Data = options.Data! with { MaxTrain = 500 } }));
            Assert.Contains("architecture", ZooBuilder.StaleReason(dir, options with { Model = new ModelSpec { Arch = "resnet18", Width = 8 } }));
            Assert.Contains("collection recipe", ZooBuilder.StaleReason(dir, options with { Recipe = RecipeKind.V1 }));
            var train = ZooProfiles.Train(Profile.Smoke, "resnet18");
            Assert.Contains("base training", ZooBuilder.StaleReason(dir, options with { Train = train with { Lr = train.Lr / 2 } }));

            // Rebuilding with another K reuses the base model instead of retraining it.
            var log2 = new StringWriter();
            var again = ZooBuilder.Build(options with { K = 3 }, log2);
            Assert.Contains("reusing the base model", log2.ToString());
            Assert.Equal(3, again.K);
            Assert.Equal(3, Directory.GetFiles(Path.Combine(dir, "rev-2", "checkpoints")).Length);
            Assert.False(Directory.Exists(Path.Combine(dir, "rev-1")));   // the old zoo's files removed
            Assert.Equal(3, again.LoadScores()!.Value.Test.Count);

            // A damaged scores file is refused by its hash, naming it.
            var scoresPath = Path.Combine(dir, again.Manifest.Scores!);
            var bytes = File.ReadAllBytes(scoresPath);
            bytes[^1] ^= 1;
            File.WriteAllBytes(scoresPath, bytes);
            var damaged = Assert.Throws<InvalidDataException>(() => ZooTask.Open(dir).LoadScores());
            Assert.Contains(ZooScores.FileName, damaged.Message);
            Assert.Throws<InvalidDataException>(() => ZooTask.Open(dir).Verify());
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void OpeningAFolderWithoutManifestSaysHowToMakeOne()
    {
        var e = Assert.Throws<FileNotFoundException>(() => ZooTask.Open("/nonexistent/zoo"));
        Assert.Contains("pdiff zoo build", e.Message);
    }
}
