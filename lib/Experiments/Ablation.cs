using System.Text.Json;
using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Zoo;
using TorchSharp;
using static TorchSharp.torch;
using PDiff.Storage;

namespace PDiff.Experiments;

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
        var folder = ResultsFolders.Claim(dir, ResultsFolders.Fingerprint(new
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
            var runDir = $"run{r}";
            report.Write(folder.Sub(runDir), folder);
            AtomicFile.WriteAllText(folder.Writable($"{runDir}/pdiff_config.json"), ConfigText.ToJson(config));
            AtomicFile.WriteAllText(folder.Writable($"{runDir}/losses.json"), JsonSerializer.Serialize(new { ae = run.AeLosses, diffusion = run.DiffusionLosses }));
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
