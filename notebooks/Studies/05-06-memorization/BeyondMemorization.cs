using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Zoo;

namespace PDiff.Studies;

/// <summary>
/// One pipeline seed of notebook 06: the seed's evaluation report, and for the seed kept open (the first, which the
/// charts draw) its task context and p-diff run. Disposing it frees all three.
/// </summary>
public sealed record MemorizationSeed(int Seed, EvaluationReport Report, TaskContext? Context, PDiffRun? Run) : IDisposable
{
    public void Dispose()
    {
        Run?.Dispose();
        Context?.Dispose();
        Report.Dispose();
    }
}

/// <summary>
/// Notebook 06 (Zeng et al.'s critique): per pipeline seed, p-diff's generated models measured against the training
/// checkpoints and against the simple baselines that critique proposes (absolute noise, averages of 16 checkpoints,
/// the per-coordinate Gaussian), each seed's report in <c>&lt;results&gt;/seed&lt;s&gt;/</c>.
/// </summary>
public static class BeyondMemorization
{
    /// <summary>
    /// The profile's evaluation with Zeng et al.'s baselines (absolute noise σ 0.06 and 0.12, averages of min(16, K),
    /// the Gaussian; in paper 100 models each and every checkpoint once with noise) and without p-diff's own
    /// (relative noise, fine-tuning: notebook 05), PCA or t-SNE.
    /// </summary>
    public static EvaluationOptions EvaluationFor(Profile profile, int k)
    {
        var baseOptions = ProfileDefaults.EvaluationFor(profile);
        var zeng = profile == Profile.Paper
            ? new BaselineOptions { AbsoluteNoiseCount = null, AverageCount = 100, GaussianCount = 100 }   // noise: every checkpoint once
            : baseOptions.Baselines;
        return baseOptions with
        {
            Pca = false, Tsne = false,
            Baselines = zeng with
            {
                AbsoluteNoiseSigmas = new[] { 0.06, 0.12 }, AverageOf = Math.Min(16, k),
                RelativeNoiseSigmas = Array.Empty<double>(), FineTunedCount = 0,
            },
        };
    }

    /// <summary>
    /// <see cref="RunSeed"/> over pipeline seeds (<see cref="SeedRunner"/>), <paramref name="count"/> generated models each;
    /// the first seed stays open (its context and run) for the charts.
    /// </summary>
    public static IReadOnlyList<MemorizationSeed> RunSeeds(TaskSpec task, PDiffConfig preset, Profile profile, int count, IReadOnlyList<int> seeds,
        string resultsDir, TextWriter? log = null) =>
        SeedRunner.Run(seeds, seed => RunSeed(task.WithSeed(seed), preset, profile, count, Path.Combine(resultsDir, $"seed{seed}"), keepOpen: seed == seeds[0], log), log);

    /// <summary>
    /// One seed of <paramref name="task"/>: its zoo (cached), p-diff trained (or reused) with the preset's seeds shifted
    /// by the pipeline seed, <paramref name="count"/> models generated and evaluated (<paramref name="evaluation"/>, by
    /// default <see cref="EvaluationFor"/>), the report written to <paramref name="dir"/> (its files listed in
    /// <paramref name="owner"/>'s marker when the folder lies in a claimed one). Without <paramref name="keepOpen"/> the
    /// context and run are freed at once.
    /// </summary>
    public static MemorizationSeed RunSeed(TaskSpec task, PDiffConfig preset, Profile profile, int count, string dir, bool keepOpen, TextWriter? log = null,
        EvaluationOptions? evaluation = null, PDiff.Storage.OwnedFolder? owner = null)
    {
        var zoo = ZooCache.Ensure(task, profile, log);
        var ctx = TaskContext.Open(zoo);
        PDiffRun? run = null;
        EvaluationReport? report = null;
        try
        {
            var config = TaskRunner.SeedsFor(ProfileDefaults.SamplingFor(profile, preset.ForProfile(profile)), 0, task.Seed);
            run = Training.TrainAndGenerate(ctx, config, count, log);
            report = RunEvaluation.Evaluate(ctx, run, evaluation ?? EvaluationFor(profile, zoo.K), log);
            report.Write(dir, owner);
        }
        catch
        {
            report?.Dispose();
            run?.Dispose();
            ctx.Dispose();
            throw;
        }
        if (keepOpen) return new MemorizationSeed(task.Seed, report, ctx, run);
        run.Dispose();
        ctx.Dispose();
        return new MemorizationSeed(task.Seed, report, null, null);
    }
}
