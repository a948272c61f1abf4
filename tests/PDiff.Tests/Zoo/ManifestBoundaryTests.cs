using System.Text.Json.Nodes;
using PDiff.Models;
using PDiff.Tests.Serialization;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Zoo;

/// <summary>
/// A zoo's manifest sizes tensors (the checkpoint matrix is allocated from its subset's shapes before any file is
/// read): a hand-edited or damaged manifest is refused by .NET, naming the manifest, before libtorch allocates.
/// </summary>
public class ManifestBoundaryTests
{
    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "zoo", name);

    /// <summary>The 3-checkpoint MLP import of fixtures/zoo/import_mlp, with its manifest's subset edited by <paramref name="edit"/>.</summary>
    static string ZooWithSubset(TempDir dir, Action<JsonObject> edit)
    {
        var zooDir = dir.File("zoo");
        ZooImport.FromPthFolder(new ZooImportOptions
        {
            Checkpoints = Fixture("import_mlp"),
            BaseModel = Fixture("import_mlp/base.pth"),
            Model = new ModelSpec { Arch = "mlp", Hidden = new[] { 32, 16 } },
            Out = zooDir,
        });
        var path = Path.Combine(zooDir, "manifest.json");
        var manifest = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(manifest["subset"]!.AsObject());
        File.WriteAllText(path, manifest.ToJsonString());
        return zooDir;
    }

    [Theory]
    [InlineData("negative", "its subset tensor 'bn1.weight' has the shape [-32]")]
    [InlineData("overflow", "its subset's shapes hold more numbers than fit in 64 bits")]
    [InlineData("length", "its subset's shapes hold 96 numbers but it records a length of 97")]
    [InlineData("empty", "its subset names no tensors")]
    public void ShapesThatCannotSizeATensorAreRefusedOnOpen(string kind, string expect)
    {
        using var dir = new TempDir();
        var zooDir = ZooWithSubset(dir, subset =>
        {
            var tensors = subset["tensors"]!.AsArray();
            switch (kind)
            {
                case "negative": tensors[0]!["shape"] = new JsonArray(-32); break;
                case "overflow": tensors[0]!["shape"] = new JsonArray(1L << 40, 1L << 40); break;
                case "length": subset["length"] = 97; break;
                case "empty": tensors.Clear(); subset["length"] = 0; break;
            }
        });
        var e = Assert.Throws<InvalidDataException>(() => ZooTask.Open(zooDir));
        Assert.Equal($"{Path.Combine(zooDir, "manifest.json")} is damaged: {expect}. Rebuild or re-import the zoo.", e.Message);
    }

    /// <summary>2^40 numbers a checkpoint is a valid shape, but no checkpoint file of the zoo holds them: refused before the 4 TB allocation.</summary>
    [Fact]
    public void ALengthNoCheckpointFileHoldsIsRefusedBeforeAllocation()
    {
        using var dir = new TempDir();
        var zooDir = ZooWithSubset(dir, subset =>
        {
            var tensors = subset["tensors"]!.AsArray();
            tensors[0]!["shape"] = new JsonArray(1L << 40);
            subset["length"] = (1L << 40) + 32 + 16 + 16;
        });
        var zoo = ZooTask.Open(zooDir);
        var e = Assert.Throws<InvalidDataException>(() => zoo.LoadMatrix().Dispose());
        var first = Path.Combine(zooDir, zoo.Manifest.Checkpoints[0].File);
        Assert.StartsWith($"{first} holds {new FileInfo(first).Length} bytes, too few for the {(1L << 40) + 64} numbers the zoo's manifest says each checkpoint holds", e.Message);
        Assert.Throws<InvalidDataException>(() => ZooTask.ReadCheckpoint(first, zoo.Layout).Dispose());
    }
}
