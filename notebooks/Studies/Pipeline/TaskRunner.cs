using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Analysis;
using PDiff.Data;
using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Models;
using PDiff.Storage;
using PDiff.Zoo;

namespace PDiff.Studies;

/// <summary>
/// One row of the main-results table for a task, p-diff averaged over its runs (the paper: "average in three
/// runs"), with the spread across runs. Accuracies are fractions; "best" is labelled by the split that chose it.
/// </summary>
public sealed record MainResultRow(
    string Task, int K, int Runs, int GeneratedPerRun,
    double OriginalBestOnTest, double OriginalBestOnValidation, double OriginalMean, double OriginalMedian,
    double Ensemble,
    double PDiffBestOnTest, double PDiffBestOnTestSpread, double PDiffBestOnValidation, double PDiffBestOnValidationSpread,
    double PDiffMean, double PDiffMeanSpread, double PDiffMedian, double PDiffMedianSpread)
{
    /// <summary>The paper's cell "original / ensemble / p-diff" (best chosen on test, in %).</summary>
    public string PaperCell => string.Create(CultureInfo.InvariantCulture, $"{100 * OriginalBestOnTest:F1}/{100 * Ensemble:F1}/{100 * PDiffBestOnTest:F1}");
    /// <summary>Our honest cell: best chosen on validation, reported on test.</summary>
    public string HonestCell => string.Create(CultureInfo.InvariantCulture, $"{100 * OriginalBestOnValidation:F1}/{100 * Ensemble:F1}/{100 * PDiffBestOnValidation:F1}");

    public static TextTable ToTable(IEnumerable<MainResultRow> rows)
    {
        var t = new TextTable("Main results (test accuracy %; p-diff = mean over runs, ± = spread over runs)", new[]
        {
            TableColumn.Text("task"), TableColumn.Text("paper_cell", "orig/ens/p-diff (best on test)"),
            TableColumn.Text("honest_cell", "orig/ens/p-diff (best on val)"),
            TableColumn.Percent("orig_mean", "orig mean"), TableColumn.Percent("pdiff_mean", "p-diff mean"),
            TableColumn.Percent("orig_median", "orig median"), TableColumn.Percent("pdiff_median", "p-diff median"),
            TableColumn.Text("runs"),
        });
        foreach (var r in rows)
            t.Add(r.Task, r.PaperCell, r.HonestCell, r.OriginalMean, r.PDiffMean, r.OriginalMedian, r.PDiffMedian, $"{r.Runs}×{r.GeneratedPerRun}");
        return t;
    }

    /// <summary>The columns of <see cref="ToTable"/> as a DataFrame (accuracies as fractions). Every field of the rows: <c>Tables.ToDataFrame(rows)</c>.</summary>
    public static DataFrame ToDataFrame(IEnumerable<MainResultRow> rows) => ToTable(rows).ToDataFrame();
}

/// <summary>Runs a task end to end (zoo, p-diff × runs, evaluation) and writes everything under a results folder.</summary>
public static class TaskRunner
{
    /// <summary>
    /// Builds or reuses the zoo, then for each run trains p-diff with seeds offset by the run index, generates,
    /// evaluates and writes <c>&lt;results&gt;/run&lt;i&gt;/</c> (the report, the configuration, the losses and the
    /// generated vectors as a zoo folder, <c>generated_zoo/</c>); returns the reports of every run and the table row.
    /// <paramref name="zooDir"/> overrides the zoo cache folder (<see cref="ZooCache.Folder"/>).
    /// </summary>
    public static TaskResult Run(TaskSpec task, PDiffConfig preset, Profile profile, int runs, string resultsDir,
        TextWriter? log = null, EvaluationOptions? evaluation = null, int? generate = null, int? useK = null, string? zooDir = null, bool force = false)
    {
        // The results folder is claimed (and locked) and the model cache checked before any compute: a folder of someone
        // else's files, one another process writes, or a model cache that cannot be written fails now.
        var zooFolder = zooDir ?? Path.Combine(ZooCache.Folder(profile), task.ZooName(profile));
        ModelCache.FolderFor(zooFolder, ZooStore.TaskName(task.Dataset, task.Arch, task.Subset));
        using var folder = ResultsFolders.Claim(resultsDir, ResultsFolders.Fingerprint(new
        {
            task = task.ToString(), profile = profile.Name(), preset = ConfigText.ToJson(preset), runs, generate, useK, zooDir,
            evaluation = evaluation?.ToString(),
        }), force, log, ResultsFolders.TaskFiles(runs));
        return AbandonOnFailure(folder, () =>
        {
            var zoo = ZooCache.Ensure(task, profile, log, zooDir);
            return RunOn(task, zoo, preset, profile, runs, folder, log, evaluation, generate, useK);
        });
    }

    /// <summary>
    /// A failed run leaves its results folder as it found it (<see cref="OwnedFolder.Abandon"/>): a folder the run
    /// created is removed with what it wrote, one that existed keeps what it held.
    /// </summary>
    static TaskResult AbandonOnFailure(OwnedFolder folder, Func<TaskResult> work)
    {
        try
        {
            return work();
        }
        catch
        {
            folder.Abandon();
            throw;
        }
    }

    /// <summary>
    /// The same on an existing zoo folder (imported PyTorch checkpoints, a TorchScript network, a zoo built
    /// elsewhere): nothing is collected, the base model is rebuilt from the folder. A zoo that records no
    /// collection recipe (an import) gets no fine-tuned baseline; the average baseline takes at most K originals.
    /// </summary>
    public static TaskResult RunOnZoo(ZooTask zoo, PDiffConfig preset, Profile profile, int runs, string resultsDir,
        TextWriter? log = null, EvaluationOptions? evaluation = null, int? generate = null, int? useK = null, bool force = false)
    {
        var m = zoo.Manifest;
        // The zoo's TorchScript copy is tried in a child process before the results folder is claimed.
        if (zoo.Spec.Source is { } source && File.Exists(source)) ModelRegistry.ValidateSource(zoo.Spec);
        ModelCache.FolderFor(zoo);   // a read-only zoo caches its trained models elsewhere; a cache that cannot be written fails now
        using var folder = ResultsFolders.Claim(resultsDir, ResultsFolders.Fingerprint(new
        {
            zoo = Path.GetFullPath(zoo.Directory), created = m.Created, profile = profile.Name(), preset = ConfigText.ToJson(preset), runs, generate, useK,
            evaluation = evaluation?.ToString(),
        }), force, log, ResultsFolders.TaskFiles(runs));
        var task = new TaskSpec(m.Dataset, m.Model.Arch, m.Subset.Selector, m.K);
        if (evaluation is null)
        {
            var e = ProfileDefaults.EvaluationFor(profile);
            var k = Math.Min(useK ?? zoo.K, zoo.K);
            evaluation = e with { Baselines = e.Baselines with { AverageOf = Math.Min(e.Baselines.AverageOf, k) } };
        }
        return AbandonOnFailure(folder, () => RunOn(task, zoo, preset, profile, runs, folder, log, evaluation, generate, useK));
    }

    static TaskResult RunOn(TaskSpec task, ZooTask zoo, PDiffConfig preset, Profile profile, int runs, OwnedFolder folder,
        TextWriter? log, EvaluationOptions? evaluation, int? generate, int? useK)
    {
        using var ctx = TaskContext.Open(zoo);
        // Every run's generated models and kept report are counted before the first run trains.
        PDiffMemory.CheckFits(ProfileDefaults.SamplingFor(profile, preset.ForProfile(profile)), new PDiffMemory.Job(zoo.Layout.Length,
            Math.Min(useK ?? zoo.K, zoo.K), generate ?? ProfileDefaults.GeneratedCount(profile), Math.Max(ctx.Data.Info.Validation, ctx.Data.Info.Test),
            ctx.Data.Train.Classes, runs));
        var reports = new List<EvaluationReport>();
        var runInfos = new List<RunSummary>();
        for (var r = 0; r < runs; r++)
        {
            var config = SeedsFor(ProfileDefaults.SamplingFor(profile, preset.ForProfile(profile)), r, task.Seed);
            log?.WriteLine($"[run {r + 1}/{runs}] {task}, profile {profile.Name()}, seeds init {config.InitSeed} ae {config.AeSeed} diffusion {config.DiffusionSeed} sample {config.SampleSeed}");
            using var run = Training.TrainAndGenerate(ctx, config, generate ?? ProfileDefaults.GeneratedCount(profile), log, useK: useK);
            var report = RunEvaluation.Evaluate(ctx, run, evaluation ?? ProfileDefaults.EvaluationFor(profile), log);
            var dir = ResultsFolders.WriteRun(folder, r, report, config, new { ae = run.AeLosses, diffusion = run.DiffusionLosses, validations = run.Validations });
            var generated = report.ModelsOf(Evaluator.Generated).OrderBy(m => m.Index).ToList();
            ZooStore.SaveDerived(zoo, folder.Sub($"{dir}/generated_zoo"), run.Generation.Vectors,
                $"generated:p-diff run {r}, sample seed {config.SampleSeed}",
                generated.Select(m => m.ValAcc).ToList(), generated.Select(m => m.TestAcc).ToList());
            runInfos.Add(new RunSummary(r, run.TrainSeconds, run.GenerateSeconds));
            reports.Add(report);
            log?.WriteLine(report.Table.ToPlain());
        }
        var row = Aggregate(task, zoo, reports);
        AtomicFile.WriteAllText(folder.Writable("main_row.json"), JsonSerializer.Serialize(row, ResultsJson.Options));
        AtomicFile.Copy(Path.Combine(zoo.Directory, "manifest.json"), folder.Writable("zoo_manifest.json"));
        return new TaskResult(task, zoo, reports, runInfos, row) { Folder = folder.Directory };
    }

    /// <summary>
    /// Run r of pipeline seed s shifts every stage's seed by 1000·r + s·<see cref="ZooProfiles.SeedStride"/>, so
    /// runs and seeds differ and each is reproducible; run 0 of seed 0 keeps the preset's seeds.
    /// </summary>
    public static PDiffConfig SeedsFor(PDiffConfig c, int run, int seed = 0)
    {
        var shift = 1000L * run + ZooProfiles.SeedStride * seed;
        return c with
        {
            InitSeed = c.InitSeed + shift, AeSeed = c.AeSeed + shift,
            DiffusionSeed = c.DiffusionSeed + shift, SampleSeed = c.SampleSeed + shift,
        };
    }

    /// <summary>
    /// The whole pipeline once per pipeline seed (<see cref="TaskSpec.Seed"/>: base model, zoo and p-diff anew,
    /// each cached under its own name), each seed's results as <see cref="Run"/> writes them in
    /// <c>&lt;results&gt;/seed&lt;s&gt;/</c>, then the spread over seeds and the paired differences with their
    /// 95 % intervals in <c>seeds_summary.csv</c>, <c>seeds_differences.csv</c> and <c>seeds_summary.json</c>,
    /// and the machine in <c>environment.json</c>. Seed 0's folder holds what a single-seed run of old held.
    /// <paramref name="zooRoot"/> puts the zoos in another folder than the cache (one sub-folder per seed).
    /// </summary>
    public static SeedsResult RunSeeds(TaskSpec task, PDiffConfig preset, Profile profile, IReadOnlyList<int> seeds, string resultsDir,
        TextWriter? log = null, int runs = 1, EvaluationOptions? evaluation = null, int? generate = null, int? useK = null, bool force = false,
        string? zooRoot = null)
    {
        SeedRunner.Check(seeds);
        var baseTask = task.WithSeed(0);
        using var folder = ResultsFolders.Claim(resultsDir, ResultsFolders.Fingerprint(new
        {
            layout = "seeds", task = baseTask.ToString(), profile = profile.Name(), preset = ConfigText.ToJson(preset), runs, generate, useK,
            evaluation = evaluation?.ToString(),
        }), force, log, seeds.Select(s => $"seed{s}/").Concat(SeedSummary.FileNames).Append(RunEnvironment.FileName));
        return SeedRunner.Run(seeds, s =>
        {
            var seeded = baseTask.WithSeed(s);
            return Run(seeded, preset, profile, runs, folder.Sub($"seed{s}"), log, evaluation, generate, useK,
                zooDir: zooRoot is null ? null : Path.Combine(zooRoot, seeded.ZooName(profile)), force: force);
        }, results =>
        {
            var summary = SummariseSeeds(baseTask.ToString(), profile, seeds, results, folder);
            log?.WriteLine(summary.ToText());
            return new SeedsResult(baseTask, results, summary) { Folder = folder.Directory };
        }, log);
    }

    /// <summary>
    /// The spread over seeds of per-seed results written under <paramref name="folder"/>: the summary and the paired
    /// differences (<see cref="SeedSummary.Write"/>) and the machine (<c>environment.json</c>) go into the folder.
    /// </summary>
    internal static SeedSummary SummariseSeeds(string task, Profile profile, IReadOnlyList<int> seeds, IReadOnlyList<TaskResult> results, OwnedFolder folder)
    {
        var summary = SeedSummary.From(task, profile.Name(), seeds,
            results.Select(r => (IReadOnlyList<IReadOnlyList<GroupSummary>>)r.Reports.Select(x => x.Summaries).ToList()).ToList(),
            results.Select(r => r.Zoo.Manifest.BaseTestAccuracy ?? double.NaN).ToList(),
            results.Select(r => Path.GetRelativePath(folder.Directory, r.Folder!)).ToList());
        summary.Write(folder);
        RunEnvironment.Capture().Write(folder);
        return summary;
    }

    public static MainResultRow Aggregate(TaskSpec task, ZooTask zoo, IReadOnlyList<EvaluationReport> reports)
    {
        if (reports.Count == 0) throw new ArgumentException("No runs to aggregate.");
        var o = reports[0].Summary(Evaluator.Original);
        var ens = reports[0].Summary(Evaluator.Ensemble);
        var gens = reports.Select(r => r.Summary(Evaluator.Generated)).ToList();
        (double mean, double spread) Over(Func<GroupSummary, double> f)
        {
            var v = gens.Select(f).ToList();
            var m = Statistics.Mean(v);
            return (m, v.Count > 1 ? Statistics.SampleStd(v, m) : 0);
        }
        var bt = Over(g => g.BestOnTest.TestAccuracy);
        var bv = Over(g => g.BestOnValidation.TestAccuracy);
        var mean = Over(g => g.Test.Mean);
        var med = Over(g => g.Test.Median);
        return new MainResultRow(task.ToString(), zoo.K, reports.Count, gens[0].Count,
            o.BestOnTest.TestAccuracy, o.BestOnValidation.TestAccuracy, o.Test.Mean, o.Test.Median, ens.Test.Mean,
            bt.mean, bt.spread, bv.mean, bv.spread, mean.mean, mean.spread, med.mean, med.spread);
    }
}

public sealed record RunSummary(int Run, double TrainSeconds, double GenerateSeconds);

/// <summary>Every seed's <see cref="TaskResult"/> and the summary over seeds.</summary>
public sealed record SeedsResult(TaskSpec Task, IReadOnlyList<TaskResult> Seeds, SeedSummary Summary) : IDisposable
{
    /// <summary>The folder holding <c>seed&lt;s&gt;/</c> and the summary files.</summary>
    public string? Folder { get; init; }

    /// <summary>The path to write a file of ours (a chart) into the results folder, listed in its marker first.</summary>
    public string Writable(string name)
    {
        using var folder = OwnedFolder.Claim(Folder ?? throw new InvalidOperationException("No results folder."), ResultsFolders.Kind);
        return folder.Writable(name);
    }

    /// <summary>Every report of every seed (runs pooled), e.g. for a chart.</summary>
    public IReadOnlyList<EvaluationReport> AllReports => Seeds.SelectMany(s => s.Reports).ToList();

    public void Dispose()
    {
        foreach (var s in Seeds) s.Dispose();
    }
}

/// <summary>Everything a task produced: its zoo, one evaluation report per p-diff run, and the table row.</summary>
public sealed record TaskResult(TaskSpec Task, ZooTask Zoo, IReadOnlyList<EvaluationReport> Reports, IReadOnlyList<RunSummary> Runs, MainResultRow Row) : IDisposable
{
    /// <summary>Where the results were written (the folder asked for, or its sibling for another configuration).</summary>
    public string? Folder { get; init; }

    public void Dispose()
    {
        foreach (var r in Reports) r.Dispose();
    }
}
