using PDiff.LoadCheck;
using PDiff.Studies;
using PDiff.Storage;
using PDiff.Tests.Storage;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Studies;

/// <summary>
/// Where trained p-diff models are cached (<see cref="ModelCache"/>): beside a writable zoo, else the user's cache
/// folder, a chosen folder when set, nowhere when off; a chosen folder that cannot be written, or no writable
/// place at all, is an error naming the folders and the fix. The rule is tested with an injected write probe (every
/// branch, whoever runs the tests); the real probe and the CLI's check before work on folders made unwritable
/// for real (chattr +i, since tests run as root here).
/// </summary>
public class ModelCacheTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("pdiff-mcache-").FullName;

    public void Dispose()
    {
        if (Directory.Exists(root)) Directory.Delete(root, true);
    }

    static Func<string, bool> Writable(params string[] writable) => d => writable.Any(w => d.StartsWith(w, StringComparison.Ordinal));

    [Fact]
    public void BesideTheZooWhenItsFolderIsWritable()
    {
        Assert.Equal("/zoos/z/pdiff", ModelCache.FolderFor("/zoos/z", "task", null, Writable("/zoos/z"), "/home/u/.cache/pdiff/models"));
    }

    [Fact]
    public void ARead_onlyZooCachesInTheUsersCacheFolder()
    {
        Assert.Equal("/home/u/.cache/pdiff/models/task", ModelCache.FolderFor("/shared/z", "task", null, Writable("/home/u"), "/home/u/.cache/pdiff/models"));
    }

    [Fact]
    public void AChosenFolderWinsAndOffMeansNoCache()
    {
        Assert.Equal("/mine/task", ModelCache.FolderFor("/zoos/z", "task", "/mine", Writable("/mine", "/zoos"), "/home/u/c"));
        Assert.Null(ModelCache.FolderFor("/zoos/z", "task", "off", Writable(), "/home/u/c"));
        Assert.Null(ModelCache.FolderFor("/zoos/z", "task", "OFF", Writable(), "/home/u/c"));
    }

    [Fact]
    public void AChosenFolderThatCannotBeWrittenIsAnErrorEvenWhenTheZooIsWritable()
    {
        var e = Assert.Throws<IOException>(() => ModelCache.FolderFor("/zoos/z", "task", "/ro", Writable("/zoos"), "/home/u/c"));
        Assert.Equal("The p-diff model cache /ro (PDIFF_MODEL_CACHE / --model-cache) cannot be written; choose a folder you can write, " +
            "or PDIFF_MODEL_CACHE=off to train without caching (nothing was done).", e.Message);
    }

    [Fact]
    public void NoWritablePlaceIsAnErrorNamingBoth()
    {
        var e = Assert.Throws<IOException>(() => ModelCache.FolderFor("/shared/z", "task", null, Writable(), "/home/u/c"));
        Assert.Contains("neither the zoo folder /shared/z nor the user cache folder /home/u/c can be written", e.Message);
        Assert.Contains("--model-cache <dir>", e.Message);
        Assert.Contains("PDIFF_MODEL_CACHE=off", e.Message);
    }

    [ReadOnlyFolderFact]
    public void TheWriteProbeSaysNoForAFolderNotEvenRootCanWriteAndTheRuleThenLooksElsewhere()
    {
        var zoo = Directory.CreateDirectory(Path.Combine(root, "zoo")).FullName;
        var user = Path.Combine(root, "user-cache");
        Assert.True(FolderProbe.CanWrite(zoo));
        Assert.Equal(Path.Combine(zoo, "pdiff"), ModelCache.FolderFor(zoo, "t", null, FolderProbe.CanWrite, user));
        using (ReadOnlyFolder.Make(zoo))
        {
            Assert.False(ReadOnlyFolder.Writes(zoo));
            Assert.False(FolderProbe.CanWrite(zoo));
            Assert.False(FolderProbe.CanWrite(Path.Combine(zoo, "pdiff")));   // not there yet: it would be made in the zoo
            Assert.Equal(Path.Combine(user, "t"), ModelCache.FolderFor(zoo, "t", null, FolderProbe.CanWrite, user));
        }
        Assert.Empty(Directory.GetFileSystemEntries(zoo));   // the probe leaves nothing behind
    }

    /// <summary>`pdiff run --zoo` on a zoo nobody can write: the cache goes elsewhere, or the run is refused before any work.</summary>
    [ReadOnlyFolderFact]
    public void PdiffRunOnARead_onlyZooChecksItsModelCacheBeforeAnyWork()
    {
        var zoo = Path.Combine(root, "zoo");
        LockTarget.TinyZoo(zoo, 1);   // no data split: a run that passes the cache check stops at that, exit 1
        var userCache = Directory.CreateDirectory(Path.Combine(root, "xdg")).FullName;
        var env = new Dictionary<string, string> { ["XDG_CACHE_HOME"] = userCache, ["PDIFF_MODEL_CACHE"] = "" };
        string[] Args(params string[] more) => new[] { "run", "--zoo", zoo, "--profile", "smoke", "--out", Path.Combine(root, "out") }.Concat(more).ToArray();
        using var ro = ReadOnlyFolder.Make(zoo)!;

        // The zoo cannot be written, the user's cache folder can: the run goes on (here to the missing data split).
        var (code, err) = Pdiff(env, Args());
        Assert.Equal(1, code);
        Assert.Contains("records no data split", err);

        // A chosen cache folder nobody can write: exit 2, one line naming it.
        var chosen = Directory.CreateDirectory(Path.Combine(root, "chosen")).FullName;
        using (ReadOnlyFolder.Make(chosen))
        {
            (code, err) = Pdiff(env, Args("--model-cache", chosen));
            Assert.Equal(2, code);
            Assert.StartsWith($"pdiff run: The p-diff model cache {chosen} (PDIFF_MODEL_CACHE / --model-cache) cannot be written;", err);
            Assert.Equal(2, err.Trim().Split('\n').Length);   // the message and the pointer to --help
        }

        // Neither the zoo nor the user's cache folder: exit 2 naming both.
        using (ReadOnlyFolder.Make(userCache))
        {
            (code, err) = Pdiff(env, Args());
            Assert.Equal(2, code);
            Assert.Contains($"neither the zoo folder {zoo} nor the user cache folder {Path.Combine(userCache, "pdiff", "models")} can be written", err);
        }
        Assert.False(Directory.Exists(Path.Combine(root, "out")));   // nothing was done
    }

    static (int Code, string Stderr) Pdiff(IReadOnlyDictionary<string, string> env, string[] args)
    {
        using var p = ChildProcess.Start("pdiff.dll", env, args);
        var (code, _) = p.WaitForExit();
        return (code, p.Stderr);
    }
}
