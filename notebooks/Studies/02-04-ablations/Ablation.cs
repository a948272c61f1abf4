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
    public static EvaluationOptions EvaluationFor(Profile p) => Workbench.EvaluationFor(p) with
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
            var config = TaskRunner.SeedsFor(Workbench.SamplingFor(profile, preset.ForProfile(profile)), r, seed);
            log?.WriteLine($"[run {r + 1}/{runs}] K = {Math.Min(useK ?? ctx.Zoo.K, ctx.Zoo.K)}, input noise {config.InputNoise}, latent noise {config.LatentNoise}, seeds +{1000L * r + ZooProfiles.SeedStride * seed}");
            using var run = Workbench.TrainAndGenerate(ctx, config, generate ?? Workbench.GeneratedCount(profile), log, useK: useK);
            var report = run.Originals.shape[0] >= 2
                ? Workbench.Evaluate(ctx, run, options, log)
                : EvaluateSingle(ctx, run, options);
            ResultsFolders.WriteRun(folder, r, report, config, new { ae = run.AeLosses, diffusion = run.DiffusionLosses });
            reports.Add(report);
        }
        return reports;
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
/// One ablation setting over pipeline seeds (issue 12): seed 0's row (the single run of earlier versions) and each
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
