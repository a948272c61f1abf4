using PDiff.LoadCheck;
using PDiff.Storage;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Storage;

/// <summary>
/// One writer per folder: a folder another process holds is refused at once, naming it and the process, by every
/// writer (the lock itself, <see cref="OwnedFolder"/>, <see cref="ZooWriter"/>), before anything is written; a waiter
/// gets the lock when the holder lets go; a SIGKILLed holder frees it; within one process the lock is re-entrant.
/// </summary>
public class FolderLockTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("pdiff-lock-").FullName;

    public void Dispose()
    {
        if (Directory.Exists(root)) Directory.Delete(root, true);
    }

    static string[] Entries(string dir) => Directory.GetFileSystemEntries(dir).Select(p => Path.GetFileName(p)!).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void AFolderAnotherProcessHoldsIsRefusedAtOnceNamingItAndThatProcessAndAKillFreesIt()
    {
        var dir = Path.Combine(root, "zoo");
        using var holder = ChildProcess.Start("PDiff.LoadCheck.dll", "hold", dir);
        Assert.Equal("held", holder.NextLine());

        var e = Assert.Throws<FolderInUseException>(() => FolderLock.Take(dir, "zoo"));
        Assert.StartsWith($"{dir} is being written by another pdiff process: pid {holder.Pid} (PDiff.LoadCheck.dll hold {dir}), since ", e.Message);
        Assert.EndsWith("; wait for it to finish or choose another folder for the zoo (nothing was done).", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        // Every writer of a folder takes the lock before it writes anything (or trains): nothing was written.
        Assert.Throws<FolderInUseException>(() => ZooWriter.Begin(dir));
        Assert.Throws<FolderInUseException>(() => OwnedFolder.Claim(dir, "results"));
        Assert.Equal(new[] { FolderLock.FileName, FolderLock.HolderFileName }, Entries(dir));

        holder.Kill();   // SIGKILL: the kernel drops the lock with the process
        using (FolderLock.Take(dir, "zoo")) { }
        LockTarget.TinyZoo(dir, 1).Verify();
    }

    [Fact]
    public void AWaiterSaysWhoItWaitsForAndGetsTheLockWhenTheHolderLetsGo()
    {
        var dir = Path.Combine(root, "cache");
        var held = FolderLock.Take(dir, "zoo");
        using var waiter = ChildProcess.Start("PDiff.LoadCheck.dll", "wait", dir);
        var line = waiter.NextLine();
        Assert.StartsWith($"[lock] {dir} is being written by another pdiff process: pid {Environment.ProcessId} (", line);
        Assert.EndsWith("; waiting for it to finish before using the test folder", line);
        held.Dispose();
        Assert.Equal("acquired", waiter.NextLine());
        Assert.Equal(0, waiter.WaitForExit().Code);
    }

    [Fact]
    public void WithinOneProcessTheLockIsReentrantAndGoesWithTheLastHold()
    {
        var dir = Path.Combine(root, "nested");
        var outer = FolderLock.Take(dir, "zoo");
        var inner = FolderLock.Take(dir, "zoo");   // a nested writer of the same folder (e.g. a build inside a cache check)
        inner.Dispose();
        using (var refused = ChildProcess.Start("PDiff.LoadCheck.dll", "hold", dir))
        {
            var (code, _) = refused.WaitForExit();
            Assert.NotEqual(0, code);
            Assert.Contains($"is being written by another pdiff process: pid {Environment.ProcessId}", refused.Stderr);
        }
        outer.Dispose();
        outer.Dispose();   // a second dispose changes nothing
        using var holder = ChildProcess.Start("PDiff.LoadCheck.dll", "hold", dir);
        Assert.Equal("held", holder.NextLine());
        holder.CloseInput();
        Assert.Equal(0, holder.WaitForExit().Code);
    }

    /// <summary>
    /// A cache-like writer (here `pdiff zoo align`, as the notebooks' zoo cache) waits for the process making the same zoo,
    /// then reuses that zoo instead of making it twice.
    /// </summary>
    [Fact]
    public void ASecondMakerOfTheSameZooWaitsForTheFirstAndReusesItsZoo()
    {
        var (src, dst) = (Path.Combine(root, "src"), Path.Combine(root, "aligned"));
        LockTarget.TinyZoo(src, 1, subset: "whole");
        using var first = ChildProcess.Start("PDiff.LoadCheck.dll", "align-when-told", src, dst);
        Assert.Equal("held", first.NextLine());
        using var second = ChildProcess.Start("pdiff.dll", "zoo", "align", src, "--out", dst, "--threads", "1");
        Assert.Equal($"[lock] {dst} is being written by another pdiff process: pid {first.Pid} (PDiff.LoadCheck.dll align-when-told {src} {dst}), since ",
            second.NextLine()[..^"yyyy-MM-dd HH:mm:ss UTC; waiting for it to finish before using the zoo".Length]);
        first.Send("go");
        Assert.Equal("aligned", first.NextLine());
        var (code, rest) = second.WaitForExit();
        Assert.Equal(0, code);
        Assert.StartsWith($"[align] reusing {dst} (3 aligned networks)\naligned zoo written to {dst}", rest);
        Assert.DoesNotContain("by weight matching", rest);   // the second did no alignment of its own
        Assert.Single(Directory.GetDirectories(dst));          // one revision: written once
    }

    [Fact]
    public void AFolderOfUserFilesIsRefusedWithoutALockFileWrittenIntoIt()
    {
        var dir = Directory.CreateDirectory(Path.Combine(root, "mine")).FullName;
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "mine");
        Assert.Throws<ForeignFolderException>(() => ZooWriter.Begin(dir));
        Assert.Equal(new[] { "notes.txt" }, Entries(dir));
    }
}
