using PDiff.Evaluation;

namespace PDiff.Studies;

/// <summary>
/// What notebook 08 claims about one run, as a <see cref="ComparisonFamily"/>: per task, the generated networks' mean
/// test accuracy against the originals' and against the per-coordinate Gaussian's are headline (Holm's correction over
/// all tasks); against the weight average and the average-of-n baseline, the best networks chosen on validation and on
/// test, the weight average against the originals (what permutations cost an average), and the novelty (max IoU and
/// min L2 to the originals, generated against the originals' leave-one-out) are exploratory. Every comparison is paired
/// over the run's pipeline seeds.
/// </summary>
public static class WholeNetworkFindings
{
    /// <summary>The headline comparisons of every task: the generated mean against the originals' and the Gaussian's.</summary>
    public static readonly IReadOnlyList<string> HeadlineNames = new[] { "pdiff_mean_vs_original_mean", "pdiff_mean_vs_gaussian" };

    /// <summary>
    /// The family of a run: <paramref name="tasks"/> (each task's name and its summary over seeds) and the rows of
    /// <see cref="WholeNetworkRow.From"/> for the novelty comparisons (skipped for a task without both rows).
    /// </summary>
    public static ComparisonFamily Family(IEnumerable<(string Task, SeedSummary Summary)> tasks, IReadOnlyList<WholeNetworkRow> rows)
    {
        var (headline, exploratory) = SummaryComparisons.Of(tasks, HeadlineNames.Contains, (task, summary) => PerTask(task, summary, rows));
        return new ComparisonFamily("Whole networks (per task: generated mean against the originals' and the Gaussian's)", headline, exploratory);
    }

    /// <summary>A task's own exploratory comparisons: its weight average against its originals, then the novelty.</summary>
    static IEnumerable<Comparison> PerTask(string task, SeedSummary summary, IReadOnlyList<WholeNetworkRow> rows)
    {
        if (summary.Row(Evaluator.Ensemble, SeedSummary.TestMean) is { } avg && summary.Row(Evaluator.Original, SeedSummary.TestMean) is { } orig)
            yield return new Comparison($"{task}: the weight average", "the originals' mean",
                PairedDifference.Of($"{task} weight average − originals' mean", avg.Spread.Values, orig.Spread.Values));
        foreach (var c in Novelty(task, rows)) yield return c;
    }

    /// <summary>Generated against the originals (leave-one-out) on mean max IoU and mean min L2 to the originals, paired over seeds.</summary>
    public static IEnumerable<Comparison> Novelty(string task, IReadOnlyList<WholeNetworkRow> rows)
    {
        var gen = rows.FirstOrDefault(r => r.Task == task && r.Group == Evaluator.Generated);
        var orig = rows.FirstOrDefault(r => r.Task == task && r.Group == Evaluator.Original);
        if (gen is null || orig is null) yield break;
        yield return new Comparison($"{task}: generated mean max IoU to the originals", "the originals' own (leave-one-out)",
            PairedDifference.Of($"{task} generated − originals, max IoU", gen.MaxIou.Values, orig.MaxIou.Values), 1, "", 3);
        yield return new Comparison($"{task}: generated mean min L2 to the originals", "the originals' own (leave-one-out)",
            PairedDifference.Of($"{task} generated − originals, min L2", gen.MinL2.Values, orig.MinL2.Values), 1, "", 2);
    }

    /// <summary>The family's sentences of one task's comparisons, headline first.</summary>
    public static IEnumerable<string> SentencesFor(ComparisonFamily family, string task) =>
        family.Headline.Concat(family.Exploratory).Where(c => c.A.StartsWith(task + ": ", StringComparison.Ordinal)).Select(family.Sentence);
}
