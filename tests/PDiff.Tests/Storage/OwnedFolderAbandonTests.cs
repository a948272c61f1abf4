using PDiff.Storage;
using Xunit;

namespace PDiff.Tests.Storage;

/// <summary>
/// <see cref="OwnedFolder.Abandon"/>: after a failed job the folder is as the job found it, as far as files go: what the
/// claim created is gone (a folder it made included), what was there before stays, a user's file is never touched.
/// </summary>
public class OwnedFolderAbandonTests
{
    static string Root() => Directory.CreateTempSubdirectory("pdiff-abandon-").FullName;

    [Fact]
    public void ANewFolderIsRemovedWithEverythingTheJobWroteIntoIt()
    {
        var root = Root();
        try
        {
            var folder = OwnedFolder.Claim(Path.Combine(root, "a", "b", "results"), "results");
            File.WriteAllText(folder.Writable("run0/table.csv"), "x");
            // A sub-folder handed to another writer (a generated zoo) that failed halfway: its marker, files and staging go.
            var sub = OwnedFolder.Claim(folder.Sub("run0/generated_zoo"), "zoo");
            File.WriteAllText(sub.Writable("checkpoints/0000.safetensors"), "x");
            Directory.CreateDirectory(Path.Combine(sub.Directory, ".pdiff-staging"));
            File.WriteAllText(Path.Combine(sub.Directory, ".pdiff-staging", "base.safetensors"), "x");

            folder.Abandon();
            Assert.False(Directory.Exists(Path.Combine(root, "a")));
            Assert.Empty(Directory.EnumerateFileSystemEntries(root));
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    [Fact]
    public void AFolderThatHeldFilesKeepsThemAndItsMarker()
    {
        var root = Root();
        try
        {
            var dir = Path.Combine(root, "results");
            var first = OwnedFolder.Claim(dir, "results");
            File.WriteAllText(first.Writable("old.txt"), "old");
            first.SetTag("first");
            File.WriteAllText(Path.Combine(dir, "mine.txt"), "mine");      // the user's, beside ours
            var marker = File.ReadAllText(Path.Combine(dir, OwnedFolder.MarkerName));

            var again = OwnedFolder.Claim(dir, "results");
            again.SetTag("second");
            File.WriteAllText(again.Writable("old.txt"), "rewritten");    // ours, there before: stays (with what was written)
            File.WriteAllText(again.Writable("new/inner.txt"), "new");      // created by this claim: goes, with its folder
            var sub = again.Sub("made");
            Directory.CreateDirectory(sub);
            File.WriteAllText(Path.Combine(sub, "users-own.txt"), "mine");  // a user's file in a sub-folder we made: stays

            again.Abandon();
            Assert.Equal(marker, File.ReadAllText(Path.Combine(dir, OwnedFolder.MarkerName)));
            Assert.Equal("rewritten", File.ReadAllText(Path.Combine(dir, "old.txt")));
            Assert.Equal("mine", File.ReadAllText(Path.Combine(dir, "mine.txt")));
            Assert.False(Directory.Exists(Path.Combine(dir, "new")));
            Assert.Equal("mine", File.ReadAllText(Path.Combine(sub, "users-own.txt")));
            Assert.Equal(new[] { OwnedFolder.MarkerName, "made", "mine.txt", "old.txt" },   // the lock's files were the first claim's
                Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Where(f => !FolderLock.IsLockFile(f!)).Order(StringComparer.Ordinal));
            Assert.Equal("first", OwnedFolder.Claim(dir, "results").Tag);
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    [Fact]
    public void AForcedClaimOnAUsersFolderLeavesOnlyTheUsersFiles()
    {
        var root = Root();
        try
        {
            File.WriteAllText(Path.Combine(root, "notes.txt"), "mine");
            var folder = OwnedFolder.Claim(root, "zoo", force: true);
            File.WriteAllText(folder.Writable("manifest.json"), "{}");
            folder.Abandon();
            Assert.Equal(new[] { "notes.txt" }, Directory.EnumerateFileSystemEntries(root).Select(Path.GetFileName));
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }
}
