using PDiff.LoadCheck;
using PDiff.Storage;
using PDiff.Tests.Storage;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Cli;

/// <summary>
/// The CLI's side of one writer per folder and of verified zoos: a folder another process writes is refused before
/// any work (exit 2, one line naming the folder and the process) by `zoo build` and `run`; `zoo info` checks every
/// file's SHA-256 and names the first bad one (exit 1).
/// </summary>
[Collection(CliInProcess.Name)]
public class ZooFolderCliTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("pdiff-zoocli-").FullName;

    public void Dispose()
    {
        if (Directory.Exists(root)) Directory.Delete(root, true);
    }

    [Fact]
    public void ASecondWriterOfAFolderIsRefusedBeforeAnyWorkNamingTheFolderAndTheProcess()
    {
        var zoo = Path.Combine(root, "zoo");
        var results = Path.Combine(root, "results");
        // Stand-ins for a first `pdiff zoo build` / `pdiff run` still at work: processes holding the folders' locks.
        using var zooHolder = ChildProcess.Start("PDiff.LoadCheck.dll", "hold", zoo);
        using var resultsHolder = ChildProcess.Start("PDiff.LoadCheck.dll", "hold", results);
        Assert.Equal("held", zooHolder.NextLine());
        Assert.Equal("held", resultsHolder.NextLine());

        var (code, stdout, stderr, _) = CliKit.Pdiff("zoo", "build", "--profile", "smoke", "--k", "2", "--threads", "1", "--out", zoo);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);   // no "[zoo] ..." line: nothing started
        var line = Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.StartsWith($"pdiff zoo build: {zoo} is being written by another pdiff process: pid {zooHolder.Pid} (PDiff.LoadCheck.dll hold {zoo}), since ", line);
        Assert.EndsWith("wait for it to finish or choose another folder for the zoo (nothing was done).", line);

        (code, _, stderr, _) = CliKit.Pdiff("run", "--profile", "smoke", "--out", results);
        Assert.Equal(2, code);
        Assert.StartsWith($"pdiff run: {results} is being written by another pdiff process: pid {resultsHolder.Pid} ", Assert.Single(stderr.TrimEnd('\n').Split('\n')));

        foreach (var d in new[] { zoo, results })
            Assert.Equal(new[] { FolderLock.FileName, FolderLock.HolderFileName }, Directory.GetFileSystemEntries(d).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ZooInfoVerifiesEveryFileAndNamesTheFirstBadOne()
    {
        var dir = Path.Combine(root, "zoo");
        var zoo = LockTarget.TinyZoo(dir, 1);
        var (code, stdout, stderr, _) = CliKit.Pdiff("zoo", "info", dir);
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.Contains("\nfiles     OK: 4 files match the SHA-256 in the manifest\n", stdout);   // the base model and 3 checkpoints

        // One byte of checkpoint 1 flipped.
        var cp = Path.Combine(dir, zoo.Manifest.Checkpoints[1].File);
        var bytes = File.ReadAllBytes(cp);
        bytes[^1] ^= 0x40;
        File.WriteAllBytes(cp, bytes);
        (code, _, stderr, _) = CliKit.Pdiff("zoo", "info", dir);
        Assert.Equal(1, code);
        Assert.Equal($"pdiff zoo info: {cp} (checkpoint 1) does not match the SHA-256 in {Path.Combine(dir, "manifest.json")}: it changed or was " +
            $"damaged after the zoo was written. Rebuild the zoo (pdiff zoo build ... --out {dir}) or re-import it.\n", stderr);

        // A missing file.
        bytes[^1] ^= 0x40;
        File.WriteAllBytes(cp, bytes);
        File.Delete(Path.Combine(dir, zoo.Manifest.BaseModel));
        (code, _, stderr, _) = CliKit.Pdiff("zoo", "info", dir);
        Assert.Equal(1, code);
        Assert.StartsWith($"pdiff zoo info: The zoo at {dir} lacks its base model {zoo.Manifest.BaseModel};", stderr);
    }
}
