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

    /// <summary>
    /// The comparisons of several runs' summaries, run by run (<see cref="Of(string, SeedSummary, Func{string, bool})"/>),
    /// each run's <paramref name="extra"/> exploratory comparisons after its own: what a family over runs states.
    /// </summary>
    public static (List<Comparison> Headline, List<Comparison> Exploratory) Of(IEnumerable<(string Run, SeedSummary Summary)> runs,
        Func<string, bool> headline, Func<string, SeedSummary, IEnumerable<Comparison>>? extra = null)
    {
        var all = (Headline: new List<Comparison>(), Exploratory: new List<Comparison>());
        foreach (var (run, summary) in runs)
        {
            var (h, e) = Of(run, summary, headline);
            all.Headline.AddRange(h);
            all.Exploratory.AddRange(e);
            if (extra is not null) all.Exploratory.AddRange(extra(run, summary));
        }
        return all;
    }
}
