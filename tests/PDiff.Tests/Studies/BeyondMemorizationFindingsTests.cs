using PDiff.Data;
using PDiff.Evaluation;
using PDiff.Studies;
using Xunit;

namespace PDiff.Tests.Studies;

/// <summary>
/// Notebook 06's family and reading on hand-made per-seed statistics over three seeds. Differences constant over seeds
/// have (almost) no spread, so their p-value is ~0 and they survive Holm's correction over ten; differences such as
/// {+1, −1, +1} pt span 0. The reading calls a side dominant only where both of its Holm verdicts say so.
/// </summary>
public class BeyondMemorizationFindingsTests
{
    static MemorizationStats Stats(string group, double acc, double iou, double l2) =>
        new(acc, iou, l2, new[] { new ModelRow(group, 0, acc, acc, iou, 0, l2, 0, Array.Empty<int>()) });

    static readonly string[] Baselines = { "absnoise_0.06", "absnoise_0.12", "average4", "gaussian" };

    static BeyondMemorizationFindings Findings()
    {
        // Per group: accuracy, median max IoU and median min L2 on seeds 0, 1, 2.
        var table = new Dictionary<string, (double[] Acc, double[] Iou, double[] L2)>
        {
            [Evaluator.Original] = (new[] { 0.80, 0.80, 0.80 }, new[] { 0.98, 0.99, 1.00 }, new[] { 0.10, 0.20, 0.30 }),
            [Evaluator.Generated] = (new[] { 0.85, 0.86, 0.87 }, new[] { 0.90, 0.91, 0.92 }, new[] { 1.00, 1.10, 1.20 }),
            ["absnoise_0.06"] = (new[] { 0.80, 0.81, 0.82 }, new[] { 0.95, 0.96, 0.97 }, new[] { 0.5, 0.5, 0.5 }),   // +5 pt, −0.05: p-diff dominates
            ["absnoise_0.12"] = (new[] { 0.84, 0.87, 0.86 }, new[] { 0.93, 0.94, 0.95 }, new[] { 0.9, 0.9, 0.9 }),   // {+1, −1, +1} pt, −0.03: neither
            ["average4"] = (new[] { 0.90, 0.91, 0.92 }, new[] { 0.85, 0.86, 0.87 }, new[] { 0.7, 0.7, 0.7 }),        // −5 pt, +0.05: the average dominates
            ["gaussian"] = (new[] { 0.80, 0.81, 0.82 }, new[] { 0.90, 0.91, 0.93 }, new[] { 2.0, 2.0, 2.0 }),        // +5 pt, {0, 0, −0.01}: neither
        };
        var perSeed = Enumerable.Range(0, 3).Select(s => (IReadOnlyDictionary<string, MemorizationStats>)table.ToDictionary(
            kv => kv.Key, kv => Stats(kv.Key, kv.Value.Acc[s], kv.Value.Iou[s], kv.Value.L2[s]))).ToList();
        return BeyondMemorizationFindings.From(Baselines, perSeed);
    }

    [Fact]
    public void EveryComparisonTheReadingUsesIsHeadline()
    {
        var f = Findings();
        Assert.Equal(10, f.Family.Headline.Count);
        Assert.Empty(f.Family.Exploratory);
        Assert.StartsWith("Beyond memorization over 3 seeds: 10 headline comparisons, read with Holm's correction at α = 0.05; no other interval is shown.", f.Family.Statement());
        Assert.Same(f.Behaviour, f.Family.Headline[0]);
        Assert.Same(f.Weights, f.Family.Headline[1]);
        Assert.Equal(new[] { f.Accuracy["absnoise_0.06"], f.Novelty["absnoise_0.06"] }, f.Family.Headline.Skip(2).Take(2));
        Assert.Equal("p-diff's mean test accuracy − that of noise, absolute σ 0.06", f.Accuracy["absnoise_0.06"].Label);
        Assert.Equal(-0.08, f.Behaviour.Difference.Mean, 12);
        Assert.Equal(0.9, f.Weights.Difference.Mean, 12);
        Assert.Equal(DifferenceVerdict.Indistinguishable, f.Family.HolmVerdict(f.Accuracy["absnoise_0.12"]));
        Assert.Equal(DifferenceVerdict.Higher, f.Family.HolmVerdict(f.Accuracy["absnoise_0.06"]));
    }

    [Fact]
    public void DominanceNeedsBothHolmVerdictsAndIndistinguishableIsNotAWin()
    {
        var reading = Findings().Reading().ToList();
        Assert.Equal(1 + 4, reading.Count);
        Assert.StartsWith("Not replicas: p-diff's models are further from the training set", reading[0]);
        Assert.Equal("p-diff dominates noise, absolute σ 0.06 on both axes: higher accuracy and lower max IoU (both Holm verdicts).", reading[1]);
        // More novel but indistinguishable in accuracy: indistinguishable is not "as accurate", so no win.
        Assert.Equal("Against noise, absolute σ 0.12, neither dominates on both axes at 95 % (Holm): accuracy indistinguishable, max IoU lower.", reading[2]);
        Assert.Equal("average of 4 dominates p-diff on both axes: p-diff has lower accuracy and higher max IoU (both Holm verdicts).", reading[3]);
        Assert.Equal("Against per-coordinate Gaussian, neither dominates on both axes at 95 % (Holm): accuracy higher, max IoU indistinguishable.", reading[4]);
    }

    [Fact]
    public void TheTableAndSeedZeroLinesDescribeEveryGroup()
    {
        var f = Findings();
        var table = f.GroupTable();
        Assert.Equal(6, table.Rows.Count);
        Assert.Equal("p-diff generated", table["group"][1]);
        Assert.Equal("85.00", table["test acc % (seed 0)"][1]);
        Assert.Equal("86.00 ± 1.00", table["test acc % ± std"][1]);
        Assert.Equal("0.910 ± 0.010", table["median max IoU ± std"][1]);
        var lines = f.SeedZeroLines().ToList();
        Assert.Equal("Behaviour, seed 0: 0 % of p-diff's models have a max IoU to the training set above the 95th percentile of the training checkpoints' own (0.98).", lines[0]);
        Assert.StartsWith("Weights, seed 0: median min L2 to the training set 1 for p-diff's models and 0.1 for the training checkpoints (leave-one-out); 0 % of", lines[1]);
        Assert.Throws<ArgumentException>(() => BeyondMemorizationFindings.From(Array.Empty<EvaluationReport>()));
    }
}
