using PDiff.Evaluation;

namespace PDiff.Studies;

/// <summary>
/// What notebook 11 claims about accuracy, as a <see cref="ComparisonFamily"/>: for each task and sampler, the generated
/// mean against the originals' mean and the best generated model against the best original (both chosen on validation)
/// are headline (Holm's correction over all of them); against the weight average and the best chosen on test are
/// exploratory. With one seed every comparison reads "one seed, no verdict".
/// </summary>
public static class FullV2Findings
{
    public static readonly IReadOnlyList<string> HeadlineNames = new[] { "pdiff_mean_vs_original_mean", "pdiff_best_val_vs_original_best_val" };

    /// <param name="runs">Each run's name (e.g. "fashion-mnist/convnet3, DDPM-1000") and its summary over seeds.</param>
    public static ComparisonFamily Family(IEnumerable<(string Run, SeedSummary Summary)> runs)
    {
        var (headline, exploratory) = SummaryComparisons.Of(runs, HeadlineNames.Contains);
        return new ComparisonFamily("Full V2 accuracy (per task and sampler: generated mean against the originals' mean, best on validation against the best original)", headline, exploratory);
    }
}
