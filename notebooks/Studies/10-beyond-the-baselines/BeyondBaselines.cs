using System.Diagnostics;
using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Storage;
using static TorchSharp.torch;

namespace PDiff.Studies;

/// <summary>
/// Settings of notebook 10's comparison (issue 11, item 3). Every group holds <see cref="PerGroup"/> models so
/// that group means are equally noisy; the baselines are Zeng et al.'s average of <see cref="AverageOf"/> and
/// per-coordinate Gaussian.
/// </summary>
public sealed record BeyondOptions
{
    /// <summary>Models a group (p-diff, each baseline and each candidate).</summary>
    public int PerGroup { get; init; } = 50;
    /// <summary>Checkpoints (or latents) each average takes: 16 as Zeng et al. (capped at K).</summary>
    public int AverageOf { get; init; } = 16;
    /// <summary>Consecutive checkpoints each SWA training vector averages (capped at K − 1, so at least two windows).</summary>
    public int Window { get; init; } = 16;
    /// <summary>Steps of the zoo's collection recipe a generated vector is fine-tuned for.</summary>
    public int FineTuneSteps { get; init; } = 20;
    /// <summary>Train the SWA p-diff candidate (the one candidate that trains a generator: minutes a seed in quick).</summary>
    public bool SwaGenerator { get; init; } = true;
    /// <summary>Master seed of the baselines' and candidates' draws (each group derives its own).</summary>
    public ulong Seed { get; init; } = 2025;

    public void Validate()
    {
        if (PerGroup < 2) throw new ArgumentOutOfRangeException(nameof(PerGroup), PerGroup, "A group needs at least 2 models (a std over models).");
        if (AverageOf < 1) throw new ArgumentOutOfRangeException(nameof(AverageOf), AverageOf, "An average takes at least one model.");
        if (Window < 1) throw new ArgumentOutOfRangeException(nameof(Window), Window, "A window takes at least one checkpoint.");
        if (FineTuneSteps < 0) throw new ArgumentOutOfRangeException(nameof(FineTuneSteps), FineTuneSteps, "Fine-tune for 0 steps (skip) or more.");
    }
}

/// <summary>One pipeline seed of the comparison: every model's accuracy and novelty, the group means, timings and notes.</summary>
public sealed record BeyondSeed(int Seed, IReadOnlyList<NoveltyRow> Rows, IReadOnlyList<NoveltyGroup> Groups,
    IReadOnlyDictionary<string, double> Seconds, IReadOnlyList<string> Notes)
{
    public NoveltyGroup Group(string name) => Groups.FirstOrDefault(g => g.Group == name)
        ?? throw new KeyNotFoundException($"Seed {Seed} has no group '{name}'; it has {string.Join(", ", Groups.Select(g => g.Group))}.");
}

/// <summary>
/// Notebook 10: can a variant of p-diff beat the average-of-16 and per-coordinate-Gaussian baselines on
/// accuracy without moving closer to the training checkpoints? Per pipeline seed this builds, from one zoo
/// and its trained p-diff model, plain p-diff, the two baselines and four candidates, and measures them all
/// the same way (<see cref="GroupNovelty"/>):
/// <list type="bullet">
/// <item><c>swa_pdiff</c>: p-diff trained on windowed averages of consecutive checkpoints (SWA) instead of the checkpoints;</item>
/// <item><c>pdiff_finetuned</c>: p-diff's models fine-tuned for a few steps with the zoo's own recipe;</item>
/// <item><c>latent_avg_originals</c>: decodes of means of 16 encoded originals (interpolation in p-diff's latent space);</item>
/// <item><c>latent_avg_generated</c>: decodes of means of 16 of p-diff's sampled latents.</item>
/// </list>
/// </summary>
public static class BeyondBaselines
{
    public const string PDiffGroup = "pdiff", Gaussian = "gaussian", SwaPDiff = "swa_pdiff", FineTuned = "pdiff_finetuned",
        LatentAverageOriginals = "latent_avg_originals", LatentAverageGenerated = "latent_avg_generated";

    /// <summary>The average-of-n baseline's group name for K originals.</summary>
    public static string AverageGroup(BeyondOptions o, int k) => $"average{Math.Min(o.AverageOf, k)}";

    /// <summary>The candidates in the order the notebook reports them.</summary>
    public static readonly IReadOnlyList<string> Candidates = new[] { SwaPDiff, FineTuned, LatentAverageOriginals, LatentAverageGenerated };

    /// <summary>Legend and table text for a group.</summary>
    public static string Label(string group) => group switch
    {
        GroupNovelty.Originals => "originals (SGD checkpoints)",
        PDiffGroup => "p-diff",
        Gaussian => "per-coordinate Gaussian",
        SwaPDiff => "SWA p-diff (trained on windowed averages)",
        FineTuned => "p-diff + fine-tune",
        LatentAverageOriginals => "latent mean of originals",
        LatentAverageGenerated => "latent mean of p-diff samples",
        _ when group.StartsWith("average", StringComparison.Ordinal) => $"average of {group[7..]}",
        _ => group,
    };

    /// <summary>
    /// Builds and measures every group on one seed's zoo. <paramref name="config"/> is the p-diff configuration (its
    /// trained model is reused from the zoo's cache when there); the SWA candidate trains the same configuration on
    /// the windowed averages (cached the same way, keyed by the window).
    /// </summary>
    public static BeyondSeed RunSeed(TaskContext ctx, PDiffConfig config, BeyondOptions o, int seed, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(o);
        o.Validate();
        var seconds = new Dictionary<string, double>();
        var notes = new List<string>();
        var clock = Stopwatch.StartNew();
        void Lap(string what) { seconds[what] = clock.Elapsed.TotalSeconds; clock.Restart(); log?.WriteLine($"[beyond] {what}: {seconds[what]:F1}s"); }

        var groups = new List<(string Name, Tensor Vectors)>();
        try
        {
            using var pdiff = Workbench.TrainAndGenerate(ctx, config, o.PerGroup, log);
            var originals = pdiff.Originals;
            var k = (int)originals.size(0);
            groups.Add((PDiffGroup, pdiff.Generation.Vectors.alias()));
            Lap("p-diff (generate)");

            var of = Math.Min(o.AverageOf, k);
            using (var avg = Baselines.Average(originals, o.PerGroup, of, o.Seed + 1)) groups.Add((AverageGroup(o, k), avg.Vectors.alias()));
            using (var gauss = Baselines.Gaussian(originals, o.PerGroup, o.Seed + 2)) groups.Add((Gaussian, gauss.Vectors.alias()));
            Lap("baselines");

            if (o.SwaGenerator)
            {
                var window = Math.Min(o.Window, k - 1);
                if (window != o.Window) notes.Add($"SWA window capped at K − 1 = {window} (asked {o.Window}) so that there are at least two windows.");
                using var averages = CheckpointAverages.Windowed(originals, window);
                using var swa = Workbench.TrainAndGenerate(ctx, config, o.PerGroup, log, trainOn: averages, trainOnTag: $"windowed-average:{window}");
                groups.Add((SwaPDiff, swa.Generation.Vectors.alias()));
                notes.Add($"{SwaPDiff}: p-diff trained on {averages.size(0)} running means of {window} consecutive checkpoints.");
                Lap("SWA p-diff (train or reuse, generate)");
            }
            else notes.Add($"{SwaPDiff} skipped (SwaGenerator = false).");

            using var work = o.FineTuneSteps > 0 && ctx.Zoo.Manifest.Recipe is not null ? ctx.Zoo.LoadBaseModel() : null;
            if (work is not null && Workbench.FineTuner(ctx, work) is { } fineTune)
            {
                using var tuned = Baselines.FineTuned(pdiff.Generation.Vectors, fineTune, o.PerGroup, o.FineTuneSteps, o.Seed + 3);
                groups.Add((FineTuned, tuned.Vectors.alias()));
                Lap("fine-tune");
            }
            else notes.Add($"{FineTuned} skipped: " + (o.FineTuneSteps == 0 ? "FineTuneSteps = 0." : "the zoo records no collection recipe."));

            var mixer = new LatentMixer(pdiff.Model.EncodeVectors, pdiff.Model.DecodeLatents);
            using (var z = mixer.Encode(originals))
            using (var mix = mixer.Average(z, o.PerGroup, of, o.Seed + 4))
                groups.Add((LatentAverageOriginals, mix.Vectors.alias()));
            var m = (int)pdiff.Generation.Latents.size(0);
            using (var mix = mixer.Average(pdiff.Generation.Latents, o.PerGroup, Math.Min(of, m), o.Seed + 5))
                groups.Add((LatentAverageGenerated, mix.Vectors.alias()));
            Lap("latent means");

            var rows = GroupNovelty.Measure(ctx.Scorer, originals, groups);
            Lap("scoring and novelty");
            return new BeyondSeed(seed, rows, GroupNovelty.Summarise(rows), seconds, notes);
        }
        finally
        {
            foreach (var (_, v) in groups) v.Dispose();
        }
    }

    /// <summary>Writes one seed's <c>models.csv</c>, <c>groups.csv</c>, <c>groups.json</c> and <c>run.json</c> into <c>seed&lt;s&gt;/</c>.</summary>
    public static void Write(BeyondSeed s, OwnedFolder folder, BeyondOptions o, PDiffConfig config, string task)
    {
        var w = new ResultsWriter(folder.Sub($"seed{s.Seed}"), folder);
        w.WriteCsv("models.csv", GroupNovelty.ToDataFrame(s.Rows));
        w.WriteCsv("groups.csv", GroupNovelty.ToDataFrame(s.Groups));
        w.WriteJson("groups.json", s.Groups);
        w.WriteRun("PDiff.Studies.BeyondBaselines", new { options = o, pdiff = config },
            new Dictionary<string, ulong> { ["candidates"] = o.Seed, ["pdiff_sample"] = (ulong)config.SampleSeed },
            new Dictionary<string, object> { ["task"] = task, ["seed"] = s.Seed, ["similarity_split"] = "test" }, s.Notes, s.Seconds);
    }
}
