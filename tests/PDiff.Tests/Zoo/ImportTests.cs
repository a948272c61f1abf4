using PDiff.Checkpoints;
using PDiff.Models;
using TorchSharp;
using static TorchSharp.torch;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Zoo;

/// <summary>A folder of PyTorch subset checkpoints (made by fixtures/zoo/make_fixtures.py) imports into the zoo format.</summary>
public class ImportTests
{
    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "zoo", name);

    [Fact]
    public void PthFolderImportsAndReproducesPyTorchLogits()
    {
        var outDir = Path.Combine(Path.GetTempPath(), "pdiff-import-" + Guid.NewGuid().ToString("N"));
        try
        {
            var spec = new ModelSpec { Arch = "mlp", Hidden = new[] { 32, 16 } };
            var task = ZooImport.FromPthFolder(new ZooImportOptions
            {
                Checkpoints = Fixture("import_mlp"),
                BaseModel = Fixture("import_mlp/base.pth"), // inside the folder: must not count as a checkpoint
                Model = spec,
                Out = outDir,
            });
            Assert.Equal(3, task.K);
            Assert.Equal(new[] { "bn1.weight", "bn1.bias", "bn2.weight", "bn2.bias" }, task.Layout.Tensors.Select(t => t.Name));
            Assert.Equal(2 * 32 + 2 * 16, task.Layout.Length);
            Assert.Equal("0000_acc0.5000_seed0040_mlp.pth", task.Manifest.Checkpoints[0].Origin);
            Assert.Equal("0002_acc0.5002_seed0040_mlp.pth", task.Manifest.Checkpoints[2].Origin);
            Assert.StartsWith("imported:", task.Manifest.Source);
            Assert.True(double.IsNaN(task.Manifest.Checkpoints[0].ValAccuracy)); // no dataset given

            // Reopened from disk: matrix [3, 96]; each row written into the base gives PyTorch's logits.
            var reopened = ZooTask.Open(outDir);
            using var matrix = reopened.LoadMatrix();
            Assert.Equal(new long[] { 3, 96 }, matrix.shape);
            using var model = reopened.LoadBaseModel();
            var expected = PtCheckpoint.Load(Fixture("import_mlp_expected.pth"));
            try
            {
                for (var k = 0; k < 3; k++)
                {
                    using var row = matrix.select(0, k);
                    Subsets.WriteBack(model, reopened.Layout, row);
                    using var y = model.forward(expected["x"]);
                    using var want = expected["logits"].select(0, k);
                    Assert.True(y.allclose(want, 1e-5, 1e-5), $"checkpoint {k}: imported vector does not reproduce PyTorch's logits");
                }
            }
            finally
            {
                foreach (var t in expected.Values) t.Dispose();
            }
        }
        finally
        {
            if (Directory.Exists(outDir)) Directory.Delete(outDir, true);
        }
    }

    [Fact]
    public void MismatchedCheckpointsAreReported()
    {
        var dir = Path.Combine(Path.GetTempPath(), "pdiff-import-bad-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var spec = new ModelSpec { Arch = "mlp", Hidden = new[] { 32, 16 } };
            var empty = Assert.Throws<FileNotFoundException>(() => ZooImport.FromPthFolder(new ZooImportOptions
            { Checkpoints = dir, BaseModel = Fixture("mlp_state.pth"), Model = spec, Out = Path.Combine(dir, "out") }));
            Assert.Contains(dir, empty.Message);
            // A checkpoint from another network: the error names the keys and the fix.
            File.Copy(Fixture("import_mlp/0000_acc0.5000_seed0040_mlp.pth"), Path.Combine(dir, "a.pth"));
            File.Copy(Fixture("vit_io.pth"), Path.Combine(dir, "b.pth"));
            var e = Assert.Throws<InvalidDataException>(() => ZooImport.FromPthFolder(new ZooImportOptions
            { Checkpoints = dir, BaseModel = Fixture("mlp_state.pth"), Model = spec, Out = Path.Combine(dir, "out") }));
            Assert.Contains($"checkpoint {Path.Combine(dir, "b.pth")} does not fit the network mlp(hidden [32, 16], 10 classes)", e.Message);
            Assert.Contains("logits", e.Message);
            Assert.Contains($"The checkpoints in {dir} were saved from another architecture", e.Message);
            Assert.False(Directory.Exists(Path.Combine(dir, "out")));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
