using PDiff.Evaluation;

namespace PDiff.Studies;

/// <summary>
/// A <see cref="SeedSummary"/>'s paired differences as <see cref="Comparison"/>s a family can state: each named by what
/// its A and B are ("mnist_mlp-8: generated mean" against "the originals' mean"), A prefixed with the run it belongs to.
/// </summary>
public static class SummaryComparisons
{
    /// <summary>The sentence names of <see cref="SeedSummary.Comparisons"/>: (name, A after the prefix, B).</summary>
    public static readonly IReadOnlyList<(string Name, string A, string B)> Names = new[]
    {
        ("pdiff_mean_vs_original_mean", "generated mean", "the originals' mean"),
        ("pdiff_mean_vs_ensemble", "generated mean", "the weight average"),
        ("pdiff_mean_vs_average", "generated mean", "the average-of-n baseline's mean"),
        ("pdiff_mean_vs_gaussian", "generated mean", "the per-coordinate Gaussian's mean"),
        ("pdiff_best_val_vs_original_best_val", "generated best on validation", "the best original on validation"),
        ("pdiff_best_test_vs_original_best_test", "generated best on test", "the best original on test"),
    };

    /// <summary>
    /// The summary's comparisons, "<paramref name="prefix"/>: A" against B, split by <paramref name="headline"/> (given a
    /// comparison's name); a comparison the summary lacks (its group absent) is left out.
    /// </summary>
    public static (List<Comparison> Headline, List<Comparison> Exploratory) Of(string prefix, SeedSummary summary, Func<string, bool> headline)
    {
        var split = (Headline: new List<Comparison>(), Exploratory: new List<Comparison>());
        foreach (var (name, a, b) in Names)
            if (summary.Difference(name) is { } d)
                (headline(name) ? split.Headline : split.Exploratory).Add(new Comparison($"{prefix}: {a}", b, d));
        return split;
    }
}
