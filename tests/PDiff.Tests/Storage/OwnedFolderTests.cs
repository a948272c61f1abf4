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

    string UserFile(string relative, string content = "the user's own bytes")
    {
        var p = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllText(p, content);
        return p;
    }

    static readonly string[] ZooPlan = { "manifest.json", "base.safetensors", "checkpoints/#.safetensors", ".pdiff-staging/" };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AUserFileAtAPlannedNameIsRefusedBeforeAnythingIsWrittenForcedOrNot(bool force)
    {
        var mine = UserFile("c/checkpoints/0003.safetensors");
        var e = Assert.Throws<ForeignFileException>(() => OwnedFolder.Claim(Dir("c"), "zoo", force, planned: ZooPlan));
        Assert.Equal(mine, e.Path);
        Assert.StartsWith(mine + " was not written by pdiff", e.Message);
        Assert.Contains("--force does not change this", e.Message);
        Assert.DoesNotContain("\n", e.Message);
        Assert.IsAssignableFrom<ForeignFolderException>(e);   // library callers that catch the folder refusal catch this too
        Assert.False(File.Exists(Path.Combine(Dir("c"), OwnedFolder.MarkerName)));
        Assert.Equal("the user's own bytes", File.ReadAllText(mine));
        // Check refuses the same way and writes nothing either.
        Assert.Throws<ForeignFileException>(() => OwnedFolder.Check(Dir("c"), "zoo", force, planned: ZooPlan));
        Assert.False(File.Exists(Path.Combine(Dir("c"), OwnedFolder.MarkerName)));
    }

    [Fact]
    public void ForcedWeWriteBesideTheUsersFilesAndListOnlyOurs()
    {
        var notes = UserFile("f/notes.txt");
        var theirs = UserFile("f/checkpoints/my_model.safetensors");   // not a name we write (digits only)
        var hidden = UserFile("f/checkpoints/0001.safetensors.bak");
        Assert.Throws<ForeignFolderException>(() => OwnedFolder.Claim(Dir("f"), "zoo", planned: ZooPlan));
        var f = OwnedFolder.Claim(Dir("f"), "zoo", force: true, planned: ZooPlan);
        File.WriteAllText(f.Writable("checkpoints/0001.safetensors"), "ours");
        File.WriteAllText(f.Writable("manifest.json"), "{}");
        Assert.Equal(new[] { "checkpoints/0001.safetensors", "manifest.json" }, f.Files);
        f.DeleteAllBut(Array.Empty<string>());
        Assert.False(File.Exists(Path.Combine(Dir("f"), "manifest.json")));
        foreach (var p in new[] { notes, theirs, hidden }) Assert.Equal("the user's own bytes", File.ReadAllText(p));
    }

    [Fact]
    public void AFileThatAppearsAfterTheClaimIsNeverWrittenOverNorListed()
    {
        var f = OwnedFolder.Claim(Dir("w"), "results", planned: new[] { "run0/table.csv", "main_row.json" });
        File.WriteAllText(f.Writable("run0/table.csv"), "ours");
        var mine = UserFile("w/main_row.json");   // put there while the job ran
        var e = Assert.Throws<ForeignFileException>(() => f.Writable("main_row.json"));
        Assert.Equal(mine, e.Path);
        Assert.Contains("it was not written over", e.Message);
        Assert.False(f.Owns("main_row.json"));
        Assert.DoesNotContain("main_row.json", File.ReadAllText(Path.Combine(Dir("w"), OwnedFolder.MarkerName)));
        Assert.Equal("the user's own bytes", File.ReadAllText(mine));
        // One foreign name in a batch: nothing of the batch is listed.
        Assert.Throws<ForeignFileException>(() => f.Record("run0/groups.csv", "main_row.json"));
        Assert.False(f.Owns("run0/groups.csv"));
        // Our own file is rewritten as before, and a claim again still refuses the user's.
        File.WriteAllText(f.Writable("run0/table.csv"), "ours again");
        Assert.Throws<ForeignFileException>(() => OwnedFolder.Claim(Dir("w"), "results", planned: new[] { "main_row.json" }));
    }

    [Fact]
    public void AFolderWeFillMustHoldOnlyOurFilesAndAFolderEntryOwnsAllUnderIt()
    {
        var notes = UserFile("d/run0/notes.md");
        var e = Assert.Throws<ForeignFileException>(() => OwnedFolder.Claim(Dir("d"), "results", force: true, planned: new[] { "run0/" }));
        Assert.Equal(notes, e.Path);
        // A folder with a marker of its own (a zoo inside a run folder) answers for itself.
        File.Delete(notes);
        OwnedFolder.Claim(Path.Combine(Dir("d"), "run0", "generated_zoo"), "zoo");
        UserFile("d/run0/generated_zoo/notes.md");
        var f = OwnedFolder.Claim(Dir("d"), "results", force: true, planned: new[] { "run0/" });
        f.Record("run0/");
        UserFile("d/run0/staged.bin", "written by us under the folder entry");
        Assert.True(f.Owns("run0/staged.bin"));
        Assert.Null(f.FirstForeign(new[] { "run0/" }));
        f.DeleteAllBut(Array.Empty<string>());
        Assert.True(f.Owns("run0/"));   // folder entries stay until their writer removes the folder
    }

    [Fact]
    public void AFileOrLinkWhereWeNeedAFolderOrAFileIsAClash()
    {
        var blocker = UserFile("b/checkpoints");   // a file named like the folder the checkpoints go into
        var e = Assert.Throws<ForeignFileException>(() => OwnedFolder.Claim(Dir("b"), "zoo", force: true, planned: new[] { "checkpoints/0000.safetensors" }));
        Assert.Equal(blocker, e.Path);
        Directory.CreateDirectory(Dir("l"));
        var target = UserFile("elsewhere.json");
        File.CreateSymbolicLink(Path.Combine(Dir("l"), "manifest.json"), target);
        e = Assert.Throws<ForeignFileException>(() => OwnedFolder.Claim(Dir("l"), "zoo", force: true, planned: ZooPlan));
        Assert.Equal(Path.Combine(Dir("l"), "manifest.json"), e.Path);
        Assert.Equal("the user's own bytes", File.ReadAllText(target));
    }

    [Fact]
    public void PatternsMatchOnlyTheNamesTheyDescribe()
    {
        UserFile("p/checkpoints/0000.safetensors.txt");
        UserFile("p/checkpoints/abcd.safetensors");
        UserFile("p/embedding_notes.txt");
        var f = OwnedFolder.Claim(Dir("p"), "x", force: true);
        Assert.Null(f.FirstForeign(new[] { "checkpoints/#.safetensors", "embedding_*.csv" }));
        UserFile("p/embedding_tsne.csv");
        Assert.Equal("embedding_tsne.csv", f.FirstForeign(new[] { "checkpoints/#.safetensors", "embedding_*.csv" }));
        UserFile("p/checkpoints/12345.safetensors");
        Assert.Equal("checkpoints/12345.safetensors", f.FirstForeign(new[] { "checkpoints/#.safetensors" }));
    }

    [Fact]
    public void LegacyAdoptionTakesOnlyExistingPlainFiles()
    {
        UserFile("g/a.csv");
        Directory.CreateDirectory(Path.Combine(Dir("g"), "sub"));
        var f = OwnedFolder.Claim(Dir("g"), "results", legacy: _ => new[] { "a.csv", "sub", "missing.csv" });
        Assert.Equal(new[] { "a.csv" }, f.Files);
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
