using System.Text.Json.Nodes;
using PDiff.Models;
using PDiff.Storage;
using PDiff.Zoo;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PDiff.Tests.Zoo;

/// <summary>
/// Zoo folders: hashes checked on every read, manifest paths confined to the folder, a user's files never
/// touched, and a rewrite that replaces the old zoo only when the new one is complete.
/// </summary>
public class ZooSafetyTests : IDisposable
{
    readonly string root = Path.Combine(Path.GetTempPath(), "pdiff-zoosafe-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(root)) Directory.Delete(root, true);
    }

    /// <summary>A zoo of k random classifier vectors of a small MLP, written through <see cref="ZooWriter"/> (no training).</summary>
    static ZooTask TinyZoo(string dir, int k, ulong seed = 1, bool force = false)
    {
        var spec = ModelRegistry.Complete(new ModelSpec { Arch = "mlp", Hidden = new[] { 16 } });
        using var g = new Generator(seed);
        using var model = ModelRegistry.Build(spec, g);
        var layout = Subsets.Resolve(model, "classifier");
        var writer = ZooWriter.Begin(dir, force);
        BaseModels.SaveWeights(writer.Staged("base.safetensors"), model, spec);
        using var vectors = torch.randn(new long[] { k, layout.Length }, generator: g);
        var manifest = new ZooManifest
        {
            Task = "tiny", Dataset = "fashion-mnist", Model = spec,
            Subset = new SubsetRecord("classifier", layout.Tensors, layout.Length),
            Checkpoints = Enumerable.Range(0, k).Select(i => new CheckpointRecord(i, ZooStore.CheckpointFile(i), i, 0, double.NaN, double.NaN)).ToList(),
        };
        return writer.Commit(manifest, vectors);
    }

    [Fact]
    public void EveryFileCarriesItsHashAndAChangedByteIsRefusedNamingTheFile()
    {
        var dir = Path.Combine(root, "zoo");
        var zoo = TinyZoo(dir, 3);
        Assert.All(zoo.Manifest.Checkpoints, c => Assert.Matches("^[0-9a-f]{64}$", c.Sha256!));
        Assert.Equal(AtomicFile.Sha256(Path.Combine(dir, zoo.Manifest.BaseModel)), zoo.Manifest.BaseSha256);
        using (var m = zoo.LoadMatrix()) Assert.Equal(new long[] { 3, zoo.Layout.Length }, m.shape);
        zoo.Verify();

        // One byte of checkpoint 1's data flipped (the last byte: a float of the payload, not the header).
        var cp = Path.Combine(dir, zoo.Manifest.Checkpoints[1].File);
        var bytes = File.ReadAllBytes(cp);
        bytes[^1] ^= 0x40;
        File.WriteAllBytes(cp, bytes);
        var e = Assert.Throws<InvalidDataException>(() => ZooTask.Open(dir).LoadMatrix());
        Assert.Contains("0001.safetensors", e.Message);
        Assert.Contains("SHA-256", e.Message);
        Assert.Contains("pdiff zoo build", e.Message);
        Assert.Throws<InvalidDataException>(() => ZooTask.Open(dir).Verify());

        // The base model too.
        var b = Path.Combine(dir, zoo.Manifest.BaseModel);
        var bb = File.ReadAllBytes(b);
        bb[^2] ^= 0x01;
        File.WriteAllBytes(b, bb);
        Assert.Contains("base model", Assert.Throws<InvalidDataException>(() => ZooTask.Open(dir).LoadBaseModel()).Message);
    }

    [Theory]
    [InlineData("../../../../etc/passwd")]
    [InlineData("/etc/passwd")]
    public void AManifestThatPointsOutOfTheZooIsRefusedWithoutEchoingTheFile(string file)
    {
        var dir = Path.Combine(root, "zoo");
        TinyZoo(dir, 2);
        var path = Path.Combine(dir, "manifest.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        json["checkpoints"]![1]!["file"] = file;
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<InvalidDataException>(() => ZooTask.Open(dir));
        Assert.Contains("manifest.json", e.Message);
        Assert.DoesNotContain("root:", e.Message);   // /etc/passwd's first bytes
    }

    [Fact]
    public void ATruncatedManifestIsAClearErrorNotACrash()
    {
        var dir = Path.Combine(root, "zoo");
        TinyZoo(dir, 2);
        var path = Path.Combine(dir, "manifest.json");
        File.WriteAllText(path, File.ReadAllText(path)[..100]);
        var e = Assert.Throws<InvalidDataException>(() => ZooTask.Open(dir));
        Assert.Contains("not a valid zoo manifest", e.Message);
    }

    [Fact]
    public void RewritingAZooKeepsTheUsersFilesAndDropsOnlyItsOwnStaleOnes()
    {
        var dir = Path.Combine(root, "zoo");
        var first = TinyZoo(dir, 4);
        var checkpoints = Path.GetDirectoryName(Path.Combine(dir, first.Manifest.Checkpoints[0].File))!;
        // The user keeps notes and a model of their own inside the zoo folder after it was written.
        Directory.CreateDirectory(Path.Combine(dir, "pdiff", "notes"));
        File.WriteAllText(Path.Combine(dir, "pdiff", "notes", "thesis.txt"), "chapter 1");
        File.WriteAllText(Path.Combine(checkpoints, "my_model.safetensors"), "mine");

        var again = TinyZoo(dir, 2, seed: 2);
        Assert.Equal(2, again.K);
        Assert.Equal("chapter 1", File.ReadAllText(Path.Combine(dir, "pdiff", "notes", "thesis.txt")));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(checkpoints, "my_model.safetensors")));
        // The old zoo's files are gone (ours, no longer listed); the user's keeps their folder.
        Assert.Equal(new[] { "my_model.safetensors" }, Directory.GetFileSystemEntries(checkpoints).Select(Path.GetFileName));
        Assert.False(Directory.Exists(Path.Combine(dir, ZooWriter.StagingFolder)));
        again.Verify();
    }

    [Fact]
    public void AFolderOfUserFilesIsRefusedBeforeAnythingIsWritten()
    {
        var dir = Path.Combine(root, "mine");
        Directory.CreateDirectory(Path.Combine(dir, "checkpoints"));
        File.WriteAllText(Path.Combine(dir, "checkpoints", "my_model.safetensors"), "mine");
        Assert.Throws<ForeignFolderException>(() => TinyZoo(dir, 2));
        Assert.Equal(new[] { "checkpoints" }, Directory.GetFileSystemEntries(dir).Select(Path.GetFileName));
        // Forced, the zoo is written beside them and theirs stays.
        TinyZoo(dir, 2, force: true).Verify();
        Assert.Equal("mine", File.ReadAllText(Path.Combine(dir, "checkpoints", "my_model.safetensors")));
    }

    /// <summary>
    /// A zoo from before markers is adopted only with the files its manifest lists that are recognisably ours: the
    /// hash matches, or (zoos from before hashes) the file's metadata names the zoo's task or holds our model spec.
    /// </summary>
    [Fact]
    public void AnOlderZooIsAdoptedOnlyWithTheListedFilesThatAreRecognisablyOurs()
    {
        var dir = Path.Combine(root, "old");
        FlattenToOldLayout(TinyZoo(dir, 3));
        File.Delete(Path.Combine(dir, OwnedFolder.MarkerName));
        var mine = Path.Combine(dir, "checkpoints", "0001.safetensors");
        File.WriteAllText(mine, "mine");   // the user's file where the manifest lists checkpoint 1
        Assert.Equal(new[] { "base.safetensors", "checkpoints/0000.safetensors", "checkpoints/0002.safetensors", "manifest.json" },
            LegacyZoo.OwnedFiles(dir)!.Order(StringComparer.Ordinal));

        // Without hashes: a safetensors file of someone else (other metadata) is not ours either.
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")))!.AsObject();
        manifest.Remove("baseSha256");
        foreach (var c in manifest["checkpoints"]!.AsArray()) c!.AsObject().Remove("sha256");
        File.WriteAllText(Path.Combine(dir, "manifest.json"), manifest.ToJsonString());
        var other = Path.Combine(dir, "checkpoints", "0002.safetensors");
        using (var t = torch.zeros(2)) PDiff.Checkpoints.Safetensors.Save(other, new Dictionary<string, Tensor> { ["w"] = t }, new Dictionary<string, string> { ["pdiff.task"] = "not-tiny" });
        var otherBytes = File.ReadAllBytes(other);
        Assert.Equal(new[] { "base.safetensors", "checkpoints/0000.safetensors", "manifest.json" }, LegacyZoo.OwnedFiles(dir)!.Order(StringComparer.Ordinal));

        // Rewriting it (the new zoo goes into a revision folder) removes only the adopted files and leaves the user's as they were.
        TinyZoo(dir, 3).Verify();
        Assert.Equal("mine", File.ReadAllText(mine));
        Assert.Equal(otherBytes, File.ReadAllBytes(other));
        Assert.False(File.Exists(Path.Combine(dir, "checkpoints", "0000.safetensors")));
        Assert.False(File.Exists(Path.Combine(dir, "base.safetensors")));
        var listed = File.ReadAllText(Path.Combine(dir, OwnedFolder.MarkerName));
        Assert.DoesNotContain("\"checkpoints/0001.safetensors\"", listed);
        Assert.DoesNotContain("\"checkpoints/0002.safetensors\"", listed);
    }

    /// <summary>Moves a zoo's files out of its revision folder to where zoos from before revisions kept them, and its manifest with them.</summary>
    static void FlattenToOldLayout(ZooTask zoo)
    {
        var dir = zoo.Directory;
        var revision = zoo.Manifest.BaseModel.Split('/')[0] + "/";
        foreach (var f in zoo.Manifest.DataFiles())
        {
            var flat = f[revision.Length..];
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(dir, flat))!);
            File.Move(Path.Combine(dir, f), Path.Combine(dir, flat));
        }
        Directory.Delete(Path.Combine(dir, revision), true);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")))!;
        json["baseModel"] = ((string)json["baseModel"]!)[revision.Length..];
        if (json["scores"] is { } sc) json["scores"] = ((string)sc!)[revision.Length..];
        if (json["baseManifest"] is { } bm) json["baseManifest"] = ((string)bm!)[revision.Length..];
        foreach (var c in json["checkpoints"]!.AsArray()) c!["file"] = ((string)c["file"]!)[revision.Length..];
        File.WriteAllText(Path.Combine(dir, "manifest.json"), json.ToJsonString());
    }

    [Fact]
    public void AWriteKilledBeforeItsCommitLeavesTheOldZooWhole()
    {
        var dir = Path.Combine(root, "zoo");
        var old = TinyZoo(dir, 3);
        var oldHashes = old.Manifest.Checkpoints.Select(c => c.Sha256).ToList();
        // A new build that staged its files and died before Commit: the zoo is still the old one.
        using (var writer = ZooWriter.Begin(dir))
        {
            File.WriteAllText(writer.Staged("base.safetensors"), "half a base model");
            var zoo = ZooTask.Open(dir);
            zoo.Verify();
            Assert.Equal(oldHashes, zoo.Manifest.Checkpoints.Select(c => c.Sha256));
        }
        // The next complete write replaces it.
        TinyZoo(dir, 3, seed: 7).Verify();
    }
}
