using System.Diagnostics;
using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Storage;
using PDiff.Zoo;
using static TorchSharp.torch;

namespace PDiff.Studies;

/// <summary>
/// Settings of notebook 10's comparison. Every group holds <see cref="PerGroup"/> models so
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

    /// <summary>A group as a sentence names it: "SWA p-diff", "the average of 16", "the per-coordinate Gaussian".</summary>
    public static string Name(string group) => group switch
    {
        GroupNovelty.Originals => "the originals",
        SwaPDiff => "SWA p-diff",
        Gaussian or LatentAverageOriginals or LatentAverageGenerated => "the " + Label(group),
        _ when group.StartsWith("average", StringComparison.Ordinal) => "the " + Label(group),
        _ => Label(group),
    };

    /// <summary>
    /// The comparison over pipeline seeds (<see cref="SeedRunner"/>): for each seed of <paramref name="task"/>, its zoo
    /// (cached), every group built and measured (<see cref="RunSeed"/>) with the preset's configuration for the profile
    /// and seed, and written into <c>seed&lt;s&gt;/</c> of <paramref name="folder"/>; then the report over seeds,
    /// written beside them. The average baseline's group is named after the first seed's K.
    /// </summary>
    public static BeyondReport RunSeeds(TaskSpec task, PDiffConfig preset, Profile profile, BeyondOptions o, IReadOnlyList<int> seeds,
        OwnedFolder folder, TextWriter? log = null)
    {
        string? averageGroup = null;
        return SeedRunner.Run(seeds, seed =>
        {
            var zoo = ZooCache.Ensure(task.WithSeed(seed), profile, log);
            using var ctx = TaskContext.Open(zoo);
            var config = TaskRunner.SeedsFor(ProfileDefaults.SamplingFor(profile, preset.ForProfile(profile)), 0, seed);
            var result = RunSeed(ctx, config, o, seed, log);
            Write(result, folder, o, config, zoo.Manifest.Task);
            averageGroup ??= AverageGroup(o, zoo.K);
            foreach (var n in result.Notes) log?.WriteLine($"  note: {n}");
            return result;
        }, perSeed =>
        {
            var report = new BeyondReport(perSeed, averageGroup!);
            report.Write(folder);
            return report;
        }, log);
    }

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
        var laps = new Laps(log);
        var notes = new List<string>();
        var groups = new List<(string Name, Tensor Vectors)>();
        try
        {
            using var pdiff = Training.TrainAndGenerate(ctx, config, o.PerGroup, log);
            var originals = pdiff.Originals;
            var k = (int)originals.size(0);
            groups.Add((PDiffGroup, pdiff.Generation.Vectors.alias()));
            laps.Lap("p-diff (generate)");

            var of = Math.Min(o.AverageOf, k);
            AddBaselines(groups, originals, o, k);
            laps.Lap("baselines");

            if (o.SwaGenerator)
            {
                AddSwaPDiff(groups, notes, ctx, config, o, originals, log);
                laps.Lap("SWA p-diff (train or reuse, generate)");
            }
            else notes.Add($"{SwaPDiff} skipped (SwaGenerator = false).");

            if (AddFineTuned(groups, ctx, pdiff, o)) laps.Lap("fine-tune");
            else notes.Add($"{FineTuned} skipped: " + (o.FineTuneSteps == 0 ? "FineTuneSteps = 0." : "the zoo records no collection recipe."));

            AddLatentMeans(groups, pdiff, o, of);
            laps.Lap("latent means");

            var rows = GroupNovelty.Measure(ctx.Scorer, originals, groups);
            laps.Lap("scoring and novelty");
            return new BeyondSeed(seed, rows, GroupNovelty.Summarise(rows), laps.Seconds, notes);
        }
        finally
        {
            foreach (var (_, v) in groups) v.Dispose();
        }
    }

    /// <summary>Zeng et al.'s baselines: averages of min(<see cref="BeyondOptions.AverageOf"/>, K) originals and the per-coordinate Gaussian.</summary>
    static void AddBaselines(List<(string Name, Tensor Vectors)> groups, Tensor originals, BeyondOptions o, int k)
    {
        var of = Math.Min(o.AverageOf, k);
        using (var avg = Baselines.Average(originals, o.PerGroup, of, o.Seed + 1)) groups.Add((AverageGroup(o, k), avg.Vectors.alias()));
        using (var gauss = Baselines.Gaussian(originals, o.PerGroup, o.Seed + 2)) groups.Add((Gaussian, gauss.Vectors.alias()));
    }

    /// <summary>p-diff trained on windowed averages of consecutive checkpoints (window capped at K − 1, so at least two windows).</summary>
    static void AddSwaPDiff(List<(string Name, Tensor Vectors)> groups, List<string> notes, TaskContext ctx, PDiffConfig config, BeyondOptions o,
        Tensor originals, TextWriter? log)
    {
        var window = Math.Min(o.Window, (int)originals.size(0) - 1);
        if (window != o.Window) notes.Add($"SWA window capped at K − 1 = {window} (asked {o.Window}) so that there are at least two windows.");
        using var averages = CheckpointAverages.Windowed(originals, window);
        using var swa = Training.TrainAndGenerate(ctx, config, o.PerGroup, log, trainOn: averages, trainOnTag: $"windowed-average:{window}");
        groups.Add((SwaPDiff, swa.Generation.Vectors.alias()));
        notes.Add($"{SwaPDiff}: p-diff trained on {averages.size(0)} running means of {window} consecutive checkpoints.");
    }

    /// <summary>p-diff's models fine-tuned with the zoo's own recipe; false (nothing added) when the steps are 0 or the zoo records no recipe.</summary>
    static bool AddFineTuned(List<(string Name, Tensor Vectors)> groups, TaskContext ctx, PDiffRun pdiff, BeyondOptions o)
    {
        using var work = o.FineTuneSteps > 0 && ctx.Zoo.Manifest.Recipe is not null ? ctx.Zoo.LoadBaseModel() : null;
        if (work is null || RunEvaluation.FineTuner(ctx, work) is not { } fineTune) return false;
        using var tuned = Baselines.FineTuned(pdiff.Generation.Vectors, fineTune, o.PerGroup, o.FineTuneSteps, o.Seed + 3);
        groups.Add((FineTuned, tuned.Vectors.alias()));
        return true;
    }

    /// <summary>Decodes of means of <paramref name="of"/> encoded originals, and of as many of p-diff's sampled latents (at most all of them).</summary>
    static void AddLatentMeans(List<(string Name, Tensor Vectors)> groups, PDiffRun pdiff, BeyondOptions o, int of)
    {
        var mixer = new LatentMixer(pdiff.Model.EncodeVectors, pdiff.Model.DecodeLatents);
        using (var z = mixer.Encode(pdiff.Originals))
        using (var mix = mixer.Average(z, o.PerGroup, of, o.Seed + 4))
            groups.Add((LatentAverageOriginals, mix.Vectors.alias()));
        var m = (int)pdiff.Generation.Latents.size(0);
        using (var mix = mixer.Average(pdiff.Generation.Latents, o.PerGroup, Math.Min(of, m), o.Seed + 5))
            groups.Add((LatentAverageGenerated, mix.Vectors.alias()));
    }

    /// <summary>Wall seconds of a seed's steps, each from the end of the one before, in the order they ran (and on the log).</summary>
    sealed class Laps(TextWriter? log)
    {
        readonly Stopwatch clock = Stopwatch.StartNew();
        public Dictionary<string, double> Seconds { get; } = new();

        public void Lap(string what)
        {
            Seconds[what] = clock.Elapsed.TotalSeconds;
            clock.Restart();
            log?.WriteLine($"[beyond] {what}: {Seconds[what]:F1}s");
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
