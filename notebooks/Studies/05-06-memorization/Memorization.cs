using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Storage;
using PDiff.Zoo;

namespace PDiff.Studies;

/// <summary>
/// Notebook 05 (the paper's memorization study) over pipeline seeds: per seed, notebook 01's zoo and p-diff model (the
/// same task and configuration, so both caches are shared), the generated models evaluated with p-diff's own baselines
/// (relative noise, fine-tuned originals) and the t-SNE, each seed's report in <c>&lt;results&gt;/seed&lt;s&gt;/</c>; then the
/// statistics over seeds and the notebook's family (<see cref="MemorizationSummary.MemorizationFamily"/>) beside them.
/// </summary>
public static class Memorization
{
    /// <summary>The profile's evaluation with p-diff's own baselines only (Zeng et al.'s absolute noise, average and Gaussian are notebook 06's), t-SNE on.</summary>
    public static EvaluationOptions EvaluationFor(Profile profile)
    {
        var b = ProfileDefaults.EvaluationFor(profile);
        return b with
        {
            Tsne = true,
            Baselines = b.Baselines with { AbsoluteNoiseSigmas = Array.Empty<double>(), AverageCount = 0, GaussianCount = 0 },
        };
    }

    /// <summary>The groups embedded together whose t-SNE points the mixing counts: originals, generated and relative noise.</summary>
    public static bool Embedded(string group) =>
        group is Evaluator.Original or Evaluator.Generated || group.StartsWith("relnoise_", StringComparison.Ordinal);

    /// <summary>
    /// Every seed (<see cref="SeedRunner"/>) through <see cref="BeyondMemorization.RunSeed"/> with <see cref="EvaluationFor"/>,
    /// <paramref name="count"/> generated models each, into the claimed <paramref name="resultsDir"/>; the summary files
    /// (<see cref="MemorizationSummary.Write"/>) and the family (<see cref="FamilyTables.Write"/>) go beside the seed folders.
    /// Only the reports stay in memory (the charts draw them); each seed's context and p-diff run are freed at once.
    /// </summary>
    public static MemorizationRun RunSeeds(TaskSpec task, PDiffConfig preset, Profile profile, int count, IReadOnlyList<int> seeds, string resultsDir,
        TextWriter? log = null)
    {
        SeedRunner.Check(seeds);
        var options = EvaluationFor(profile);
        using var folder = ResultsFolders.Claim(resultsDir, ResultsFolders.Fingerprint(new
        {
            layout = "memorization-seeds", task = task.WithSeed(0).ToString(), profile = profile.Name(), preset = ConfigText.ToJson(preset), count,
            evaluation = options.ToString(),
        }), log: log, planned: seeds.Select(s => $"seed{s}/").Concat(MemorizationSummary.FileNames).Concat(FamilyTables.FileNames));
        return SeedRunner.Run(seeds,
            seed => BeyondMemorization.RunSeed(task.WithSeed(seed), preset, profile, count, folder.Sub($"seed{seed}"), keepOpen: false, log, options, folder),
            perSeed =>
            {
                var summary = MemorizationSummary.From(perSeed.Select(s => MemorizationNumbers.Of(s.Seed, s.Report, s.Report.Groups.Select(g => g.Name).Where(Embedded))).ToList());
                var family = summary.MemorizationFamily();
                summary.Write(folder);
                FamilyTables.Write(family, summary.SeedList, folder);
                return new MemorizationRun(perSeed, summary, family) { Folder = folder.Directory };
            }, log);
    }
}

/// <summary>Every seed's report of notebook 05 (the first one drawn by the charts), the statistics over seeds and the family.</summary>
public sealed class MemorizationRun(IReadOnlyList<MemorizationSeed> seeds, MemorizationSummary summary, ComparisonFamily family) : IDisposable
{
    public IReadOnlyList<MemorizationSeed> Seeds { get; } = seeds;
    public MemorizationSummary Summary { get; } = summary;
    public ComparisonFamily Family { get; } = family;

    /// <summary>The first seed's report (the charts' seed).</summary>
    public EvaluationReport First => Seeds[0].Report;

    /// <summary>The results folder holding <c>seed&lt;s&gt;/</c> and the summary files.</summary>
    public string? Folder { get; init; }

    /// <summary>The path to write a file of ours (a chart) into the results folder, listed in its marker first.</summary>
    public string Writable(string name)
    {
        using var folder = OwnedFolder.Claim(Folder ?? throw new InvalidOperationException("No results folder."), ResultsFolders.Kind);
        return folder.Writable(name);
    }

    public void Dispose()
    {
        foreach (var s in Seeds) s.Dispose();
    }
}
