using System.Diagnostics;
using System.Text.Json.Nodes;
using PDiff.Notebooks;
using PDiff.Tests.Data;
using PDiff.Tests.Notebooks;
using PDiff.Zoo;
using Xunit;
using Xunit.Abstractions;

namespace PDiff.Tests.Storage;

/// <summary>
/// SIGKILL at random moments (22 kills in all): a zoo build, a p-diff training and an in-place notebook run,
/// each rerun after every kill. After a kill the folder holds the old state or the new one, never a mix; the
/// final rerun gives the same bits as an uninterrupted run. Kill moments come from a fixed seed, spread over
/// the uninterrupted run's measured length, so the test is repeatable in what it tries.
/// </summary>
[Collection("notebook kernel")]
public class FaultInjectionTests(ITestOutputHelper output) : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("pdiff-faults-").FullName;
    readonly Random random = new(2026);

    public void Dispose()
    {
        if (Directory.Exists(root)) Directory.Delete(root, true);
    }

    /// <summary>Runs a dll to its end (returns stdout) or, with <paramref name="killAfter"/>, kills it -9 then (true if it was killed).</summary>
    static (string Stdout, bool Killed, double Seconds) Run(string dll, string[] args, TimeSpan? killAfter = null)
    {
        var psi = new ProcessStartInfo(TestHost.Dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, dll));
        foreach (var a in args) psi.ArgumentList.Add(a);
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (killAfter is { } t && !p.WaitForExit(t))
        {
            p.Kill(entireProcessTree: true);   // SIGKILL: no finally blocks, no flushing
            p.WaitForExit();
            return (stdout.Result, true, clock.Elapsed.TotalSeconds);
        }
        if (!p.WaitForExit(TimeSpan.FromMinutes(5))) { p.Kill(true); throw new TimeoutException($"{dll} {string.Join(' ', args)} took over 5 minutes"); }
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{dll} {string.Join(' ', args)}: exit {p.ExitCode}\n{stdout.Result}\n{stderr.Result}");
        return (stdout.Result, false, clock.Elapsed.TotalSeconds);
    }

    TimeSpan RandomMoment(double seconds) => TimeSpan.FromSeconds(0.3 + random.NextDouble() * 0.9 * seconds);

    /// <summary>
    /// Starts <paramref name="attempt"/> (which kills its process at the moment given, or lets it finish) until
    /// <paramref name="kills"/> processes were killed mid-run. A run that finished is checked with
    /// <paramref name="finished"/> and its folder reset by <paramref name="restart"/>, so the next one has work
    /// to be killed in. Returns how many attempts it took.
    /// </summary>
    int KillRepeatedly(int kills, double seconds, Func<TimeSpan, bool> attempt, Action afterKill, Action finished, Action restart)
    {
        var (done, attempts) = (0, 0);
        while (done < kills)
        {
            Assert.True(++attempts <= 4 * kills, $"only {done} of {attempts - 1} runs were killed before they finished");
            if (attempt(RandomMoment(seconds))) { done++; afterKill(); }
            else { finished(); restart(); }
        }
        return attempts;
    }

    [Fact]
    public void APDiffTrainingKilledEightTimesResumesToTheSameBits()
    {
        var (reference, _, seconds) = Run("PDiff.LoadCheck.dll", new[] { "train", Path.Combine(root, "a") });
        Assert.StartsWith("state=", reference.Trim());
        var dir = Path.Combine(root, "b");
        var attempts = KillRepeatedly(8, seconds,
            moment => Run("PDiff.LoadCheck.dll", new[] { "train", dir }, moment).Killed,
            afterKill: () => { },
            finished: () => Assert.Equal(reference.Trim(), Run("PDiff.LoadCheck.dll", new[] { "train", dir }).Stdout.Trim()),
            restart: () => Directory.Delete(dir, true));
        var (resumed, _, _) = Run("PDiff.LoadCheck.dll", new[] { "train", dir });
        output.WriteLine($"uninterrupted {seconds:F1}s; 8 kills in {attempts} runs");
        Assert.Equal(reference.Trim(), resumed.Trim());
    }

    [FashionMnistFact]
    public void AZooBuildKilledEightTimesIsNeverSeenHalfWrittenAndEndsWithTheSameBits()
    {
        string[] Args(string dir) => new[] { "zoo", "build", "--profile", "smoke", "--k", "4", "--threads", "1", "--out", dir };
        var (_, _, seconds) = Run("pdiff.dll", Args(Path.Combine(root, "a")));
        var reference = ZooTask.Open(Path.Combine(root, "a")).Manifest;
        var dir = Path.Combine(root, "b");
        void Same()
        {
            var zoo = ZooTask.Open(dir);
            zoo.Verify();
            Assert.Equal(reference.BaseSha256, zoo.Manifest.BaseSha256);
            Assert.Equal(reference.Checkpoints.Select(c => c.Sha256), zoo.Manifest.Checkpoints.Select(c => c.Sha256));
        }
        var attempts = KillRepeatedly(8, seconds,
            moment => Run("pdiff.dll", Args(dir), moment).Killed,
            // Either no zoo yet, or a complete one whose every file matches its manifest.
            afterKill: () => { if (File.Exists(Path.Combine(dir, "manifest.json"))) ZooTask.Open(dir).Verify(); },
            finished: Same,
            restart: () => Directory.Delete(dir, true));
        Run("pdiff.dll", Args(dir));
        output.WriteLine($"uninterrupted {seconds:F1}s; 8 kills in {attempts} runs");
        Same();
    }

    [Fact]
    public void ANotebookRunInPlaceKilledSixTimesIsEitherAsItWasOrComplete()
    {
        var nb = new NotebookBuilder()
            .Code("Console.WriteLine(\"one\");")
            .Code("System.Threading.Thread.Sleep(700); Console.WriteLine(\"two\");")
            .Code("System.Threading.Thread.Sleep(700); Console.WriteLine(\"three\");")
            .Build();
        var path = Path.Combine(root, "nb.ipynb");
        nb.Save(path);
        var original = File.ReadAllBytes(path);
        var (_, _, seconds) = Run("pdiff.dll", new[] { "notebook", "run", path, "--no-png", "--quiet", "--output", Path.Combine(root, "reference.ipynb") });
        static string Texts(string p) => string.Join("|", NotebookDocument.Load(p).Cells.Select(c => c!["outputs"] is JsonArray o
            ? string.Concat(o.Select(x => JupyterJson.JoinText(x!["text"]))) : ""));
        var expected = Texts(Path.Combine(root, "reference.ipynb"));
        Assert.Equal("one\n|two\n|three\n", expected);
        var attempts = KillRepeatedly(6, seconds,
            moment =>
            {
                File.WriteAllBytes(path, original);
                return Run("pdiff.dll", new[] { "notebook", "run", path, "--no-png", "--quiet" }, moment).Killed;
            },
            // Killed: the notebook is as it was, or (killed after its last write) the whole run; nothing else is left.
            afterKill: () =>
            {
                if (!File.ReadAllBytes(path).SequenceEqual(original)) Assert.Equal(expected, Texts(path));
                Assert.Equal(new[] { "nb.ipynb", "reference.ipynb" }, Directory.GetFiles(root).Select(Path.GetFileName).Where(n => !n!.StartsWith('.')).Order());
            },
            finished: () => Assert.Equal(expected, Texts(path)),
            restart: () => { });
        File.WriteAllBytes(path, original);
        Run("pdiff.dll", new[] { "notebook", "run", path, "--no-png", "--quiet" });
        output.WriteLine($"uninterrupted {seconds:F1}s; 6 kills in {attempts} runs");
        Assert.Equal(expected, Texts(path));
    }
}
