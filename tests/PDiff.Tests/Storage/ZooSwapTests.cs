using PDiff.LoadCheck;
using System.Text.Json.Nodes;
using PDiff.Storage;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Storage;

/// <summary>
/// The swap of a zoo is one rename: a writer stopped at each step of <see cref="ZooWriter"/>'s swap (a child process,
/// then SIGKILLed there) leaves a zoo that a reader opens complete, the old one before the manifest's rename and the
/// new one from it, both while the writer is stopped and after the kill; the next writer clears what the killed one
/// left. Zoos from before revisions (files beside the manifest) read and are replaced the same way.
/// </summary>
public class ZooSwapTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("pdiff-swap-").FullName;

    public void Dispose()
    {
        if (Directory.Exists(root)) Directory.Delete(root, true);
    }

    /// <summary>The zoo a reader finds in <paramref name="dir"/>: opened, every file checked against its hash, its checkpoint hashes.</summary>
    static string[] Read(string dir)
    {
        var zoo = ZooTask.Open(dir);
        zoo.Verify();
        using var m = zoo.LoadMatrix();
        Assert.Equal(3, m.size(0));
        return zoo.Manifest.Checkpoints.Select(c => c.Sha256!).ToArray();
    }

    /// <summary>Checkpoint hashes of tiny zoo <paramref name="seed"/>, written here into a folder of its own.</summary>
    string[] Expected(ulong seed) => LockTarget.TinyZoo(Path.Combine(root, $"expected{seed}"), seed).Manifest.Checkpoints.Select(c => c.Sha256!).ToArray();

    [Theory]
    [InlineData("staged", 1)]
    [InlineData("listed", 1)]
    [InlineData("moved", 1)]
    [InlineData("committed", 2)]
    [InlineData("cleaned", 2)]
    public void AWriterKilledAtEachStepOfTheSwapLeavesACompleteZooOldOrNew(string step, int seenZoo)
    {
        var dir = Path.Combine(root, "zoo");
        var (one, two) = (Expected(1), Expected(2));
        using (var writer = ChildProcess.Start("PDiff.LoadCheck.dll", "swap", dir, step))
        {
            Assert.Equal($"at {step}", writer.NextLine());
            Assert.Equal(seenZoo == 1 ? one : two, Read(dir));   // a reader while the writer is in the middle of its swap
            writer.Kill();
        }
        Assert.Equal(seenZoo == 1 ? one : two, Read(dir));       // and after the kill

        // The next writer clears the killed one's leftovers: one revision, and the marker lists exactly the zoo's files.
        var three = LockTarget.TinyZoo(dir, 3);
        Assert.Equal(Expected(3), Read(dir));
        var revisions = Directory.GetDirectories(dir).Select(Path.GetFileName).ToList();
        Assert.Single(revisions);
        Assert.StartsWith(ZooWriter.RevisionPrefix, revisions[0]);
        // The staging folder stays listed as ours (a user's file in it would be refused) while it exists no more.
        var listed = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, OwnedFolder.MarkerName)))!["files"]!.AsArray().Select(x => (string)x!)
            .Where(f => f != ZooWriter.StagingFolder + "/").Order(StringComparer.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir, ZooWriter.StagingFolder)));
        var files = Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(dir, f).Replace('\\', '/'))
            .Where(f => f != OwnedFolder.MarkerName && !FolderLock.IsLockFile(f)).Order(StringComparer.Ordinal);
        Assert.Equal(files, listed);
        Assert.Equal(three.Manifest.DataFiles().Append("manifest.json").Order(StringComparer.Ordinal), listed);
    }

    [Fact]
    public void TheCheckpointBytesAreTheSameAsBeforeRevisions()
    {
        var zoo = LockTarget.TinyZoo(Path.Combine(root, "zoo"), 1);
        Assert.Equal(BeforeRevisions, zoo.Manifest.Checkpoints.Select(c => c.Sha256!).ToArray());
        Assert.Equal(BaseBeforeRevisions, zoo.Manifest.BaseSha256);
        Assert.Equal(BeforeRevisions, zoo.Manifest.Checkpoints.Select(c => AtomicFile.Sha256(Path.Combine(zoo.Directory, c.File))).ToArray());
        Assert.Equal(new[] { "rev-1/checkpoints/0000.safetensors", "rev-1/checkpoints/0001.safetensors", "rev-1/checkpoints/0002.safetensors" },
            zoo.Manifest.Checkpoints.Select(c => c.File));
    }

    // Written by main 647d844's ZooWriter (a throw-away program: LockTarget.TinyZoo's recipe against that commit's PDiff.Lib).
    static readonly string[] BeforeRevisions =
    {
        "ec06b1ba17c7f9f3f1b82294fda229203eec24f65e921f7f1ee66274fdfb80c0",
        "1bb6971bc7a4a17df216636dde2f5f2e4968356985e3d4d30fb4894f8f4f1eea",
        "3b894b518db81f19a17ba353f4c52e1c2ebd70b81a4e3032cd0ad9462d355484",
    };
    const string BaseBeforeRevisions = "4190ea5d40de650c0b32dede3749f913cb4dad08534003672919e6a73addfa24";

    [Fact]
    public void AZooFromBeforeRevisionsIsReadAndReplacedKeepingTheUsersFiles()
    {
        // A zoo of the old layout: its files beside the manifest, the manifest naming them so.
        var dir = Path.Combine(root, "old");
        var written = LockTarget.TinyZoo(dir, 1);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")))!;
        foreach (var f in written.Manifest.DataFiles())
        {
            var flat = f["rev-1/".Length..];
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(dir, flat))!);
            File.Move(Path.Combine(dir, f), Path.Combine(dir, flat));
        }
        Directory.Delete(Path.Combine(dir, "rev-1"), true);
        json["baseModel"] = "base.safetensors";
        foreach (var c in json["checkpoints"]!.AsArray()) c!["file"] = ((string)c["file"]!)["rev-1/".Length..];
        File.WriteAllText(Path.Combine(dir, "manifest.json"), json.ToJsonString());
        File.Delete(Path.Combine(dir, OwnedFolder.MarkerName));   // from before markers too: adopted by its manifest
        File.WriteAllText(Path.Combine(dir, "checkpoints", "mine.txt"), "mine");

        Assert.Equal(Expected(1), Read(dir));
        Assert.Equal("checkpoints/0000.safetensors", ZooTask.Open(dir).Manifest.Checkpoints[0].File);

        LockTarget.TinyZoo(dir, 2);
        Assert.Equal(Expected(2), Read(dir));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(dir, "checkpoints", "mine.txt")));
        Assert.Equal(new[] { "mine.txt" }, Directory.GetFiles(Path.Combine(dir, "checkpoints")).Select(Path.GetFileName));
        Assert.False(File.Exists(Path.Combine(dir, "base.safetensors")));
    }

    [Fact]
    public void AReaderWhoseZooWasSwappedAwayIsToldToOpenItAgain()
    {
        var dir = Path.Combine(root, "zoo");
        LockTarget.TinyZoo(dir, 1);
        var old = ZooTask.Open(dir);
        LockTarget.TinyZoo(dir, 2);
        var e = Assert.Throws<FileNotFoundException>(() => old.LoadMatrix());
        Assert.Contains($"The zoo at {dir} was rewritten while it was being read", e.Message);
        Assert.Equal(Expected(2), Read(dir));
    }
}
