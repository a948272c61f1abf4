using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Zoo;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Studies;

/// <summary>
/// One setting of an ablation on an open zoo: p-diff trained <c>runs</c> times (seeds shifted as in
/// <see cref="TaskRunner"/>) on the zoo's first <c>useK</c> vectors, each run evaluated and written to
/// <c>&lt;dir&gt;/run&lt;i&gt;/</c>. Unlike <see cref="TaskRunner.Run"/> it shares one context across
/// settings (one per pipeline seed: pass the seed of the zoo's <see cref="TaskSpec"/> as <c>seed</c>), and it accepts K = 1: the evaluation needs two originals (leave-one-out similarity), so the
/// single checkpoint is compared as two identical copies, as V2's numberckpt_1 ablation did (reference §5.2).
/// </summary>
public static class Ablation
{
    /// <summary>Ablation evaluation: no baselines (they do not vary with the setting), no t-SNE outside paper, no IoU matrix file.</summary>
    public static EvaluationOptions EvaluationFor(Profile p) => ProfileDefaults.EvaluationFor(p) with
    {
        Baselines = BaselineOptions.None, Tsne = p == Profile.Paper, WriteIouMatrix = false,
    };

    public static IReadOnlyList<EvaluationReport> RunSetting(TaskContext ctx, PDiffConfig preset, Profile profile, int runs, string dir,
        TextWriter? log = null, EvaluationOptions? evaluation = null, int? generate = null, int? useK = null, bool force = false, int seed = 0)
    {
        var options = evaluation ?? EvaluationFor(profile);
        using var folder = ResultsFolders.Claim(dir, ResultsFolders.Fingerprint(new
        {
            zoo = Path.GetFullPath(ctx.Zoo.Directory), created = ctx.Zoo.Manifest.Created, profile = profile.Name(), preset = ConfigText.ToJson(preset),
            runs, generate, useK, evaluation = options.ToString(),
        }), force, log);
        var reports = new List<EvaluationReport>();
        for (var r = 0; r < runs; r++)
        {
            var config = TaskRunner.SeedsFor(ProfileDefaults.SamplingFor(profile, preset.ForProfile(profile)), r, seed);
            log?.WriteLine($"[run {r + 1}/{runs}] K = {Math.Min(useK ?? ctx.Zoo.K, ctx.Zoo.K)}, input noise {config.InputNoise}, latent noise {config.LatentNoise}, seeds +{1000L * r + ZooProfiles.SeedStride * seed}");
            using var run = Training.TrainAndGenerate(ctx, config, generate ?? ProfileDefaults.GeneratedCount(profile), log, useK: useK);
            var report = run.Originals.shape[0] >= 2
                ? RunEvaluation.Evaluate(ctx, run, options, log)
                : EvaluateSingle(ctx, run, options);
            ResultsFolders.WriteRun(folder, r, report, config, new { ae = run.AeLosses, diffusion = run.DiffusionLosses });
            reports.Add(report);
        }
        return reports;
    }

    /// <summary>
    /// A sweep of <paramref name="settings"/> over pipeline seeds (<see cref="SeedRunner"/>): per seed, the zoo of
    /// <paramref name="task"/> under that seed (cached) and one context shared by every setting, each setting's runs
    /// (<see cref="RunSetting"/>) written to <c>&lt;results&gt;/seed&lt;s&gt;/&lt;setting folder&gt;/</c>.
    /// </summary>
    public static AblationSweep RunSeeds(TaskSpec task, IReadOnlyList<AblationSetting> settings, Profile profile, int runs, IReadOnlyList<int> seeds,
        string resultsDir, TextWriter? log = null, int? generate = null)
    {
        if (settings.Count == 0 || settings.Select(s => s.Name).Distinct().Count() != settings.Count)
            throw new ArgumentException("An ablation needs at least one setting, each with its own name.", nameof(settings));
        var perSeed = SeedRunner.Run(seeds, seed =>
        {
            var zoo = ZooCache.Ensure(task.WithSeed(seed), profile, log);
            using var ctx = TaskContext.Open(zoo);
            var seedResult = new AblationSeed(seed);
            try
            {
                foreach (var s in settings)
                {
                    log?.WriteLine($"=== seed {seed}, {s.Progress ?? s.Name} ===");
                    seedResult.Add(s.Name, RunSetting(ctx, s.Config, profile, runs, Path.Combine(resultsDir, $"seed{seed}", s.Folder), log,
                        generate: generate, useK: s.UseK, seed: seed));
                }
                return seedResult;
            }
            catch
            {
                seedResult.Dispose();
                throw;
            }
        }, log);
        return new AblationSweep(settings, perSeed);
    }

    static EvaluationReport EvaluateSingle(TaskContext ctx, PDiffRun run, EvaluationOptions options)
    {
        using var twice = torch.cat(new[] { run.Originals, run.Originals }, 0);
        var evaluator = new Evaluator(ctx.Scorer, options with { Baselines = BaselineOptions.None });
        var latents = new LatentInputs { Encoder = v => run.Model.EncodeVectors(v), Generated = run.Generation.Latents };
        return evaluator.Evaluate(twice, run.Generation.Vectors, latents, ctx.Zoo.Manifest.Task + " (K = 1, compared as two copies)");
    }
}

/// <summary>
/// One ablation setting over pipeline seeds: seed 0's row (the single run of earlier versions) and each
/// statistic of the generated models as mean ± sample std over seeds (a seed's runs averaged first). Two settings
/// compare seed by seed (<see cref="MeanMinus"/>): both were trained on the same seed's zoo.
/// </summary>
public sealed record AblationSeedRow(string Setting, AblationRow Seed0, SeedSpread Mean, SeedSpread Median, SeedSpread BestOnValidation,
    SeedSpread BestOnTest, SeedSpread OriginalMean)
{
    /// <param name="perSeed">The setting's reports, one list (its runs) per seed, seed 0 first.</param>
    public static AblationSeedRow From(string setting, IReadOnlyList<IReadOnlyList<EvaluationReport>> perSeed)
    {
        if (perSeed.Count == 0) throw new ArgumentException($"Ablation setting '{setting}' has no seeds to summarise.", nameof(perSeed));
        var rows = perSeed.Select(r => AblationRow.From(setting, r)).ToList();
        SeedSpread Of(Func<AblationRow, double> f) => SeedSpread.Of(rows.Select(f).ToList());
        return new AblationSeedRow(setting, rows[0], Of(r => r.Mean), Of(r => r.Median), Of(r => r.BestOnValidation), Of(r => r.BestOnTest), Of(r => r.OriginalMean));
    }

    /// <summary>This setting's generated mean minus <paramref name="other"/>'s, paired by seed, with its 95 % interval.</summary>
    public PairedDifference MeanMinus(AblationSeedRow other, string? name = null) =>
        PairedDifference.Of(name ?? $"{Setting} − {other.Setting}, generated mean", Mean.Values, other.Mean.Values);

    /// <summary>Seed 0's value next to mean ± std over seeds (test accuracy %), one row per setting.</summary>
    public static Microsoft.Data.Analysis.DataFrame ToDataFrame(IEnumerable<AblationSeedRow> rows) => Tables.ToDataFrame(rows.Select(r => new
    {
        setting = r.Setting, seeds = r.Mean.Count,
        mean_seed0 = (100 * r.Seed0.Mean).ToString("F2", System.Globalization.CultureInfo.InvariantCulture),
        mean = r.Mean.Format(), median = r.Median.Format(), best_on_val = r.BestOnValidation.Format(), best_on_test = r.BestOnTest.Format(),
        orig_mean = r.OriginalMean.Format(),
    }));
}

/// <summary>One setting of an ablation sweep.</summary>
/// <param name="Name">The setting in tables and charts (e.g. "K=10", "latent only").</param>
/// <param name="Folder">Its results sub-folder within each seed's folder.</param>
/// <param name="Config">The p-diff configuration it trains.</param>
/// <param name="UseK">Trains on the zoo's first K checkpoints; null: all of them.</param>
/// <param name="Progress">What the progress line says about it; null: <paramref name="Name"/>.</param>
public sealed record AblationSetting(string Name, string Folder, PDiffConfig Config, int? UseK = null, string? Progress = null);

/// <summary>One pipeline seed of a sweep: the runs' reports of every setting, by setting name.</summary>
public sealed class AblationSeed(int seed) : IDisposable
{
    readonly Dictionary<string, IReadOnlyList<EvaluationReport>> reports = new();

    public int Seed { get; } = seed;
    public IReadOnlyDictionary<string, IReadOnlyList<EvaluationReport>> Reports => reports;

    public void Add(string setting, IReadOnlyList<EvaluationReport> runs) => reports.Add(setting, runs);

    public void Dispose()
    {
        foreach (var r in reports.Values.SelectMany(x => x)) r.Dispose();
    }
}

/// <summary>An ablation's settings over pipeline seeds: seed 0's rows (the charts) and each setting's spread over seeds.</summary>
public sealed class AblationSweep(IReadOnlyList<AblationSetting> settings, IReadOnlyList<AblationSeed> seeds) : IDisposable
{
    public IReadOnlyList<AblationSetting> Settings { get; } = settings;
    /// <summary>Every seed's reports, in the order of the seeds run.</summary>
    public IReadOnlyList<AblationSeed> Seeds { get; } = seeds;

    /// <summary>The runs of <paramref name="setting"/> on the first seed.</summary>
    public IReadOnlyList<EvaluationReport> Reports(string setting) => Seeds[0].Reports[setting];

    /// <summary>One row per setting, first seed alone.</summary>
    public IReadOnlyList<AblationRow> Rows() => Settings.Select(s => AblationRow.From(s.Name, Reports(s.Name))).ToList();

    /// <summary>One row per setting over every seed.</summary>
    public IReadOnlyList<AblationSeedRow> SeedRows() =>
        Settings.Select(s => AblationSeedRow.From(s.Name, Seeds.Select(x => x.Reports[s.Name]).ToList())).ToList();

    public void Dispose()
    {
        foreach (var s in Seeds) s.Dispose();
    }
}
