using PDiff.Evaluation;

namespace PDiff.Studies;

/// <summary>
/// A <see cref="SeedSummary"/>'s paired differences as <see cref="Comparison"/>s a family can state, named as the main
/// result names them (<see cref="SeedSummary.ComparisonOf"/>), A prefixed with the run it belongs to
/// ("mnist_mlp-8: p-diff mean" against "originals' mean").
/// </summary>
public static class SummaryComparisons
{
    /// <summary>
    /// The summary's comparisons, "<paramref name="prefix"/>: A" against B, split by <paramref name="headline"/> (given a
    /// comparison's name); a comparison the summary lacks (its group absent) is left out.
    /// </summary>
    public static (List<Comparison> Headline, List<Comparison> Exploratory) Of(string prefix, SeedSummary summary, Func<string, bool> headline)
    {
        var split = (Headline: new List<Comparison>(), Exploratory: new List<Comparison>());
        foreach (var d in summary.Differences)
        {
            var c = SeedSummary.ComparisonOf(d);
            (headline(d.Name) ? split.Headline : split.Exploratory).Add(c with { A = $"{prefix}: {c.A}" });
        }
        return split;
    }
}
