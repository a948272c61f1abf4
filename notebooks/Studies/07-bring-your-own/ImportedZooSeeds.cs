using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Zoo;

namespace PDiff.Studies;

/// <summary>
/// Notebook 07 over pipeline seeds. The zoo is an import (a user's PyTorch checkpoints), fixed: no base model or
/// collection to redo. A pipeline seed here shifts p-diff's seeds (initialisation, autoencoder, diffusion, generation;
/// <see cref="TaskRunner.SeedsFor"/>), so seed 0 is the single run of old and its trained model is reused. The originals
/// and the baselines (drawn with the evaluation's own fixed seeds from the same checkpoints) are the same on every seed:
/// a difference's spread over seeds is p-diff's alone.
/// </summary>
public static class ImportedZooSeeds
{
    /// <summary>The profile's evaluation without the fine-tuned baseline (an import records no collection recipe) and with averages of at most K originals.</summary>
    public static EvaluationOptions EvaluationFor(Profile profile, int k)
    {
        var b = ProfileDefaults.EvaluationFor(profile);
        return b with { Baselines = b.Baselines with { FineTunedCount = 0, AverageOf = Math.Min(b.Baselines.AverageOf, k) } };
    }

    /// <summary>
    /// What a zoo holds, by content: its base model, network file, checkpoints (their hashes) and data split. A notebook
    /// that imports the same checkpoints again writes a zoo with a new creation stamp but this same content, so its
    /// results folder is the same one.
    /// </summary>
    public static object Content(ZooManifest m) => new
    {
        m.Task, m.BaseSha256, m.SourceSha256, m.Data, checkpoints = m.Checkpoints.Select(c => c.Sha256 ?? $"{c.File}@{c.ValAccuracy}/{c.TestAccuracy}").ToList(),
    };

    /// <summary>
    /// For each seed (<see cref="SeedRunner"/>): p-diff trained (or reused from the zoo's model cache) with <paramref name="config"/>'s
    /// seeds shifted by the seed, <paramref name="count"/> models generated and evaluated (<see cref="EvaluationFor"/>), the report
    /// in <c>&lt;results&gt;/seed&lt;s&gt;/</c>; then the statistics over seeds and notebook 07's family
    /// (<see cref="MemorizationSummary.ImportFamily"/>) beside them. Only the reports stay in memory.
    /// </summary>
    public static MemorizationRun RunSeeds(TaskContext ctx, PDiffConfig config, Profile profile, int count, IReadOnlyList<int> seeds, string resultsDir,
        TextWriter? log = null)
    {
        SeedRunner.Check(seeds);
        var options = EvaluationFor(profile, ctx.Zoo.K);
        using var folder = ResultsFolders.Claim(resultsDir, ResultsFolders.Fingerprint(new
        {
            layout = "imported-seeds", zoo = Path.GetFullPath(ctx.Zoo.Directory), content = Content(ctx.Zoo.Manifest), profile = profile.Name(),
            config = ConfigText.ToJson(config), count, evaluation = options.ToString(),
        }), log: log, planned: seeds.Select(s => $"seed{s}/").Concat(MemorizationSummary.FileNames).Concat(FamilyTables.FileNames));
        return SeedRunner.Run(seeds, seed =>
        {
            using var run = Training.TrainAndGenerate(ctx, TaskRunner.SeedsFor(config, 0, seed), count, log);
            var report = RunEvaluation.Evaluate(ctx, run, options, log);
            try
            {
                report.Write(folder.Sub($"seed{seed}"), folder);
                return new MemorizationSeed(seed, report, null, null);
            }
            catch
            {
                report.Dispose();
                throw;
            }
        }, perSeed =>
        {
            var summary = MemorizationSummary.From(perSeed.Select(s => MemorizationNumbers.Of(s.Seed, s.Report)).ToList());
            var family = summary.ImportFamily();
            summary.Write(folder);
            FamilyTables.Write(family, summary.SeedList, folder);
            return new MemorizationRun(perSeed, summary, family) { Folder = folder.Directory };
        }, log);
    }
}
