using System.Security.Cryptography;
using System.Text.Json.Nodes;
using PDiff.Data;
using PDiff.Models;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Serialization;

/// <summary>
/// The hostile TorchScript files of the corpus (fixtures/hostile/ts_*.pt, listed in manifest.json) as a user
/// meets them: through the built CLI in its own process. libtorch ends the process on several of them (abort,
/// stack overflow); each run must still be a reported failure (exit 1, one line on stderr naming the file and
/// the problem), never 134/139, and the --out folder it was given must not exist afterwards: the file is probed
/// before the folder is created. In-process, the same files throw <see cref="InvalidDataException"/> and the test
/// host lives on (HostileCorpusTests runs each through <see cref="TorchScriptModel.Load"/>).
/// </summary>
[Collection(PDiff.Tests.TorchFixes.NativeStateCollection.Name)]
public class TorchScriptBoundaryTests
{
    static string ByoFixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "byo_cnn", name);

    static IEnumerable<HostileCorpusTests.Case> Hostile() =>
        HostileCorpusTests.Manifest.Value.Values.Where(c => c.Reader == "torchscript").OrderBy(c => c.File, StringComparer.Ordinal);

    [Fact]
    public void ZooImportRefusesEveryHostileTorchScriptBeforeCreatingItsFolder()
    {
        using var dir = new TempDir();
        var failures = ForEachFile(c =>
        {
            var path = Path.Combine(HostileCorpusTests.Dir, c.File);
            var outDir = dir.File("zoo-" + c.File);
            var run = RunPdiff(c, "zoo", "import", "--checkpoints", ByoFixture("checkpoints"), "--base", ByoFixture("base.pth"),
                "--torchscript", path, "--out", outDir);
            return Judge(c, path, run).Concat(Directory.Exists(outDir) ? new[] { $"{c.File}: --out {outDir} was created" } : Array.Empty<string>());
        });
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void ZooSubsetsRefusesEveryHostileTorchScript()
    {
        var failures = ForEachFile(c =>
        {
            var path = Path.Combine(HostileCorpusTests.Dir, c.File);
            return Judge(c, path, RunPdiff(c, "zoo", "subsets", "--torchscript", path));
        });
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    // One pdiff process a file, as many at once as there are cores (each is one process start and libtorch's load).
    static List<string> ForEachFile(Func<HostileCorpusTests.Case, IEnumerable<string>> run)
    {
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.ForEach(Hostile(), new ParallelOptions { MaxDegreeOfParallelism = Math.Clamp(Environment.ProcessorCount, 1, 4) }, c =>
        {
            foreach (var f in run(c).ToList()) failures.Add(f);
        });
        return failures.Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// A zoo whose TorchScript copy was replaced by one that aborts libtorch (its manifest hash updated to match, as
    /// someone editing the zoo by hand would): `pdiff run --zoo` refuses it before it claims its results folder.
    /// </summary>
    [Fact]
    public void RunZooRefusesAZooWhoseTorchScriptCopyAbortsBeforeClaimingItsFolder()
    {
        using var dir = new TempDir();
        var zooDir = dir.File("zoo");
        var imported = ZooImport.FromPthFolder(new ZooImportOptions
        {
            Checkpoints = ByoFixture("checkpoints"),
            BaseModel = ByoFixture("base.pth"),
            Model = new ModelSpec { Arch = ModelSpec.TorchScript, Source = ByoFixture("model.pt"), Input = ModelSpec.UnitInput },
            Out = zooDir,
            Dataset = "mnist",
            Data = new DataOptions { MaxTrain = 200, ValidationSize = 100, MaxTest = 100 },
        });
        var hostile = Path.Combine(HostileCorpusTests.Dir, "ts_unknown_type.pt");
        var copy = Path.Combine(zooDir, imported.Manifest.Model.Source!);   // inside the zoo's revision folder
        File.Copy(hostile, copy, overwrite: true);
        var manifestPath = Path.Combine(zooDir, "manifest.json");
        var manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!;
        manifest["sourceSha256"] = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(copy))).ToLowerInvariant();
        File.WriteAllText(manifestPath, manifest.ToJsonString());
        var zooFiles = Directory.GetFiles(zooDir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();

        var outDir = dir.File("results");
        var c = HostileCorpusTests.Manifest.Value["ts_unknown_type.pt"];
        var run = RunPdiff(c, "run", "--zoo", zooDir, "--profile", "smoke", "--out", outDir);
        var failures = Judge(c, copy, run).ToList();
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.False(Directory.Exists(outDir), $"{outDir} was created");
        Assert.Equal(zooFiles, Directory.GetFiles(zooDir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray());
    }

    /// <summary>The library in this process: the aborting file is an exception, probed once however often it is loaded.</summary>
    [Fact]
    public void LoadingAnArchiveThatAbortsLibtorchThrowsHereAndIsProbedOnce()
    {
        var path = Path.Combine(HostileCorpusTests.Dir, "ts_unknown_type.pt");
        var shape = new long[] { 1, 28, 28 };
        var first = Assert.Throws<InvalidDataException>(() => TorchScriptModel.Load(path, inputShape: shape));
        var started = TorchScriptProbe.ProcessesStarted;
        Assert.StartsWith($"TorchScript model '{path}' cannot be used: libtorch aborted while loading it (Unknown type name '__torch__.NoSuchType')", first.Message);
        Assert.Contains("To fix: Export the model in Python with `torch.jit.script(model).save(\"model.pt\")`", first.Message);
        Assert.DoesNotContain('\n', first.Message);

        var again = Assert.Throws<InvalidDataException>(() => TorchScriptModel.Validate(path, shape));
        Assert.Equal(first.Message, again.Message);
        // The same bytes under another name (a zoo's copy) are the same verdict: named by the new path, not probed again.
        using var dir = new TempDir();
        var copy = dir.File("model.pt");
        File.Copy(path, copy);
        var viaCopy = Assert.Throws<InvalidDataException>(() => ModelRegistry.Build(new ModelSpec { Arch = ModelSpec.TorchScript, Source = copy }, 0));
        Assert.Equal(first.Message.Replace(path, copy), viaCopy.Message);
        Assert.Equal(started, TorchScriptProbe.ProcessesStarted);
    }

    /// <summary>A good archive: the probe's report is what the in-process load then shows, and forward ran on zeros.</summary>
    [Fact]
    public void TheProbeReportsWhatTheLoadedModelHas()
    {
        var path = ByoFixture("model.pt");
        var report = TorchScriptModel.Validate(path, new long[] { 1, 28, 28 });
        using var model = TorchScriptModel.Load(path, inputShape: new long[] { 1, 28, 28 });
        Assert.Equal(1, report.Inputs);
        Assert.Null(report.ForwardError);
        Assert.Equal(new long[] { 2, 10 }, report.Output);
        Assert.Equal(model.named_parameters().Select(p => (p.name, string.Join(",", p.parameter.shape), p.parameter.dtype.ToString())),
            report.Parameters.Select(p => (p.Name, string.Join(",", p.Shape), p.DType)));
        Assert.Equal(model.named_buffers().Select(b => (b.name, string.Join(",", b.buffer.shape))),
            report.Buffers.Select(b => (b.Name, string.Join(",", b.Shape))));
        Assert.Contains(report.Buffers, b => b.Name == "bn1.running_mean");
    }

    /// <summary>Exit 1, one line naming the file and the problem, no crash, no stack trace.</summary>
    static IEnumerable<string> Judge(HostileCorpusTests.Case c, string path, (int Code, string Stdout, string Stderr) run)
    {
        var lines = run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (run.Code is 134 or 139 || run.Code < 0) yield return $"{c.File}: pdiff crashed (exit {run.Code}): {run.Stderr}";
        else if (run.Code != 1) yield return $"{c.File}: exit {run.Code}, expected 1: {run.Stderr}{run.Stdout}";
        if (lines.Length != 1) yield return $"{c.File}: {lines.Length} lines on stderr, expected one:\n{run.Stderr}";
        if (!run.Stderr.Contains(path, StringComparison.Ordinal)) yield return $"{c.File}: stderr does not name {path}: {run.Stderr}";
        if (!run.Stderr.Contains(c.Expect, StringComparison.Ordinal)) yield return $"{c.File}: expected \"{c.Expect}\" in: {run.Stderr}";
        if (run.Stderr.Contains("internal error", StringComparison.Ordinal)) yield return $"{c.File}: {run.Stderr}";
        foreach (var f in c.Forbid.Where(f => run.Stderr.Contains(f, StringComparison.Ordinal)))
            yield return $"{c.File}: stderr quotes \"{f}\" from the file: {run.Stderr}";
    }

    static (int Code, string Stdout, string Stderr) RunPdiff(HostileCorpusTests.Case c, params string[] args) =>
        // The file that hangs is stopped after 5 s instead of the default 120 (the message is the same).
        HostileCorpusTests.RunPdiff(TimeSpan.FromMinutes(3),
            c.Class == "timeout" ? new Dictionary<string, string> { ["PDIFF_TORCHSCRIPT_TIMEOUT"] = "5" } : null, args);
}
