using PDiff.Storage;
using Xunit;

namespace PDiff.Tests.Storage;

/// <summary>Folders we write: markers, refusal of foreign folders, deleting only our own files, confinement, atomic writes.</summary>
public class OwnedFolderTests : IDisposable
{
    readonly string root = Path.Combine(Path.GetTempPath(), "pdiff-owned-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(root)) Directory.Delete(root, true);
    }

    string Dir(string name) => Path.Combine(root, name);

    [Fact]
    public void AnEmptyOrNewFolderIsClaimedAndRemembersItsFiles()
    {
        var f = OwnedFolder.Claim(Dir("new"), "zoo");
        Assert.True(File.Exists(Path.Combine(Dir("new"), OwnedFolder.MarkerName)));
        File.WriteAllText(f.Writable("a/b.txt"), "x");
        var again = OwnedFolder.Claim(Dir("new"), "zoo");
        Assert.True(again.Owns("a/b.txt"));
        Assert.Equal("zoo", OwnedFolder.KindOf(Dir("new")));
        var e = Assert.Throws<ForeignFolderException>(() => OwnedFolder.Claim(Dir("new"), "results"));
        Assert.Contains("holds a pdiff zoo, not a results", e.Message);
    }

    [Fact]
    public void AFolderOfSomeoneElsesFilesIsRefusedAndLeftAsItWas()
    {
        var dir = Dir("thesis");
        Directory.CreateDirectory(Path.Combine(dir, "pdiff", "notes"));
        File.WriteAllText(Path.Combine(dir, "pdiff", "notes", "thesis.txt"), "chapter 1");
        var e = Assert.Throws<ForeignFolderException>(() => OwnedFolder.Claim(dir, "zoo"));
        Assert.Contains("--force", e.Message);
        Assert.Contains(dir, e.Message);
        Assert.False(File.Exists(Path.Combine(dir, OwnedFolder.MarkerName)));

        // Forced: we write beside the user's files and delete only ours.
        var f = OwnedFolder.Claim(dir, "zoo", force: true);
        File.WriteAllText(f.Writable("manifest.json"), "{}");
        f.DeleteAllBut(Array.Empty<string>());
        Assert.False(File.Exists(Path.Combine(dir, "manifest.json")));
        Assert.Equal("chapter 1", File.ReadAllText(Path.Combine(dir, "pdiff", "notes", "thesis.txt")));
    }

    [Fact]
    public void DeletingNamesOnlyFilesOnTheList()
    {
        var f = OwnedFolder.Claim(Dir("d"), "results");
        File.WriteAllText(f.Writable("run0/x.csv"), "1");
        File.WriteAllText(Path.Combine(Dir("d"), "run0", "mine.txt"), "user");   // put there by the user later
        f.Delete(new[] { "run0/x.csv", "run0/mine.txt" });
        Assert.False(File.Exists(Path.Combine(Dir("d"), "run0", "x.csv")));
        Assert.True(File.Exists(Path.Combine(Dir("d"), "run0", "mine.txt")));
        Assert.False(f.Owns("run0/x.csv"));
    }

    [Theory]
    [InlineData("../../../../etc/passwd")]
    [InlineData("/etc/passwd")]
    [InlineData("a/../../outside.txt")]
    [InlineData("")]
    public void PathsThatLeaveTheFolderAreRefused(string relative)
    {
        Directory.CreateDirectory(Dir("z"));
        var e = Assert.Throws<InvalidDataException>(() => OwnedFolder.Confine(Dir("z"), relative, "manifest.json"));
        Assert.Contains("manifest.json", e.Message);
    }

    [Fact]
    public void ASymbolicLinkThatLeadsOutIsRefused()
    {
        Directory.CreateDirectory(Dir("z"));
        Directory.CreateDirectory(Dir("elsewhere"));
        File.WriteAllText(Path.Combine(Dir("elsewhere"), "secret.txt"), "SECRET-CONTENT");
        Directory.CreateSymbolicLink(Path.Combine(Dir("z"), "checkpoints"), Dir("elsewhere"));
        var e = Assert.Throws<InvalidDataException>(() => OwnedFolder.Confine(Dir("z"), "checkpoints/secret.txt", "manifest.json"));
        Assert.Contains("leads outside", e.Message);
        Assert.DoesNotContain("SECRET", e.Message);
        Assert.EndsWith("inside.txt", OwnedFolder.Confine(Dir("z"), "sub/inside.txt", "m"));
    }

    [Fact]
    public void ADamagedMarkerIsAClearError()
    {
        Directory.CreateDirectory(Dir("m"));
        File.WriteAllText(Path.Combine(Dir("m"), OwnedFolder.MarkerName), "{\"format\": \"pdiff-fol");
        var e = Assert.Throws<InvalidDataException>(() => OwnedFolder.Claim(Dir("m"), "zoo"));
        Assert.Contains("damaged", e.Message);
    }

    [Fact]
    public void AnAtomicWriteThatFailsLeavesTheOldFileAndNoTemporary()
    {
        Directory.CreateDirectory(Dir("w"));
        var path = Path.Combine(Dir("w"), "table.csv");
        AtomicFile.WriteAllText(path, "old");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write("new, half"u8);
            throw new InvalidOperationException("killed half-way");
        }));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Equal(new[] { "table.csv" }, Directory.GetFiles(Dir("w")).Select(Path.GetFileName));
        AtomicFile.WriteAllText(path, "new");
        Assert.Equal("new", File.ReadAllText(path));
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", AtomicFile.Sha256(WriteEmpty()));
    }

    string WriteEmpty()
    {
        var p = Path.Combine(Dir("w"), "empty");
        AtomicFile.WriteAllBytes(p, ReadOnlySpan<byte>.Empty);
        return p;
    }
}
