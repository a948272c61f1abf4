using PDiff.Data;
using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Studies;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Studies;

/// <summary>
/// The whole pipeline on the default task in the smoke profile, as `pdiff run --profile smoke` runs it:
/// zoo (built, then reused), p-diff training, generation, evaluation, results on disk. Few steps, so
/// the accuracies prove nothing; the test checks that the pieces agree with each other and that a
/// second run with the same seeds gives the same bits.
/// </summary>
public class PipelineSmokeTests
{
    [Fact]
    public void SmokeRunEndToEndIsConsistentAndReproducible()
    {
        var root = Path.Combine(Path.GetTempPath(), "pdiff-pipeline-" + Guid.NewGuid().ToString("N"));
        try
        {
            var task = new TaskSpec("fashion-mnist", "resnet18", "last-two-norms");
            var config = PDiffConfig.Default with { AeSteps = 10, DiffSteps = 10 };
            var zooDir = Path.Combine(root, "zoo");

            var log1 = new StringWriter();
            using var first = TaskRunner.Run(task, config, Profile.Smoke, 1, Path.Combine(root, "a"), log1, generate: 6, zooDir: zooDir);
            var log2 = new StringWriter();
            using var second = TaskRunner.Run(task, config, Profile.Smoke, 1, Path.Combine(root, "b"), log2, generate: 6, zooDir: zooDir);
            Assert.Contains("[zoo] reusing", log2.ToString());                  // the second run takes the first one's zoo
            Assert.DoesNotContain("reusing the training", log1.ToString());
            Assert.Contains("reusing the training", log2.ToString());            // ... and its trained p-diff model
            Assert.Contains("resumed at ae step 10, diffusion step 10", log2.ToString());

            // The table row agrees with the zoo and the report.
            var row = first.Row;
            Assert.Equal(ZooProfiles.K(Profile.Smoke), row.K);
            Assert.Equal((1, 6), (row.Runs, row.GeneratedPerRun));
            Assert.Equal(first.Zoo.Manifest.Test!.Mean, row.OriginalMean, 12);
            Assert.Equal(first.Zoo.Manifest.Test.Max, row.OriginalBestOnTest, 12);
            var generated = first.Reports[0].ModelsOf(Evaluator.Generated).OrderBy(m => m.Index).ToList();
            Assert.Equal(6, generated.Count);
            Assert.Equal(generated.Average(m => m.TestAcc), row.PDiffMean, 12);

            // Everything landed on disk, including the generated vectors as a zoo whose recorded accuracies
            // are what scoring its vectors on its own base model gives.
            var run0 = Path.Combine(root, "a", "run0");
            foreach (var f in new[] { "table.csv", "scores.csv", "pdiff_config.json", "losses.json" })
                Assert.True(File.Exists(Path.Combine(run0, f)), $"missing {f}");
            Assert.True(File.Exists(Path.Combine(root, "a", "main_row.json")));
            var gz = ZooTask.Open(Path.Combine(run0, "generated_zoo"));
            Assert.Equal(6, gz.K);
            Assert.StartsWith("generated:", gz.Manifest.Source);
            Assert.Equal(generated.Select(m => m.TestAcc), gz.Manifest.Checkpoints.Select(c => c.TestAccuracy));
            using (var vectors = gz.LoadMatrix())
            using (var data = gz.LoadData())
            using (var model = gz.LoadBaseModel())
            using (var scorer = new CachedScorer(model, gz.Layout, new LabeledImages(data.Validation.X, data.Validation.Y), new LabeledImages(data.Test.X, data.Test.Y)))
                Assert.Equal(generated.Select(m => m.TestAcc), scorer.Score(vectors, EvalSplit.Test).Select(s => s.Accuracy));

            // Same seeds, same bits: the generated vectors and every score repeat exactly.
            using var a = ZooTask.Open(Path.Combine(root, "a", "run0", "generated_zoo")).LoadMatrix();
            using var b = ZooTask.Open(Path.Combine(root, "b", "run0", "generated_zoo")).LoadMatrix();
            Assert.True(a.allclose(b, 0, 0));
            Assert.Equal(File.ReadAllText(Path.Combine(run0, "scores.csv")), File.ReadAllText(Path.Combine(root, "b", "run0", "scores.csv")));
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, true);
        }
    }
}
