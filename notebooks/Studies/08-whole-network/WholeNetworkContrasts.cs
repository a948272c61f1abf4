using PDiff.Evaluation;

namespace PDiff.Studies;

/// <summary>
/// Comparisons between two runs of notebook 08 on the same pipeline seeds (the same zoos, one setting changed: aligned
/// zoos, the denoiser's steps), paired seed by seed, and the contrast of two such differences (whether a change helps
/// more under another setting). Each run is a task's summary over seeds (<see cref="SeedSummary.Load"/> reads a
/// committed folder). These comparisons are exploratory: no run states them in its family.
/// </summary>
public static class WholeNetworkContrasts
{
    /// <summary>
    /// <paramref name="what"/> (e.g. "the Gaussian's mean") in run A against run B: per seed, A's value of
    /// <paramref name="group"/>·<paramref name="statistic"/> minus B's. "the Gaussian's mean on aligned zoos is higher than that on unaligned zoos: …".
    /// </summary>
    public static Comparison Between(string what, string a, SeedSummary runA, string b, SeedSummary runB, string group, string statistic = SeedSummary.TestMean)
    {
        CheckSameSeeds(runA, runB);
        return new Comparison($"{what} {a}", $"that {b}", PairedDifference.Of($"{what}: {a} − {b}", Values(runA, group, statistic), Values(runB, group, statistic)));
    }

    /// <summary>
    /// Whether changing B to A does more under one setting than under another: per seed, (A₁ − B₁) − (A₂ − B₂), with all four
    /// runs on the same seeds. "the aligned − unaligned difference of the generated mean at 2,000 steps is indistinguishable from that at 300 steps: …".
    /// </summary>
    public static Comparison Interaction(string what, string at1, (SeedSummary A, SeedSummary B) first, string at2, (SeedSummary A, SeedSummary B) second,
        string group, string statistic = SeedSummary.TestMean)
    {
        CheckSameSeeds(first.A, first.B);
        CheckSameSeeds(first.A, second.A);
        CheckSameSeeds(first.A, second.B);
        var d1 = PairedDifference.Of("first", Values(first.A, group, statistic), Values(first.B, group, statistic)).Differences;
        var d2 = PairedDifference.Of("second", Values(second.A, group, statistic), Values(second.B, group, statistic)).Differences;
        return new Comparison($"{what} {at1}", $"that {at2}", PairedDifference.Of($"{what}: {at1} − {at2}", d1, d2));
    }

    static IReadOnlyList<double> Values(SeedSummary run, string group, string statistic) =>
        run.Row(group, statistic)?.Spread.Values
        ?? throw new ArgumentException($"The run of {run.Task} over seeds {string.Join(", ", run.Seeds)} has no {group} · {statistic}.", nameof(group));

    static void CheckSameSeeds(SeedSummary a, SeedSummary b)
    {
        if (!a.Seeds.SequenceEqual(b.Seeds))
            throw new ArgumentException($"Runs paired seed by seed need the same seeds: {string.Join(", ", a.Seeds)} against {string.Join(", ", b.Seeds)}.");
    }
}
