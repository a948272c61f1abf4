using System.Globalization;
using Microsoft.Data.Analysis;
using PDiff.Data;
using PDiff.Evaluation;

namespace PDiff.Studies;

/// <summary>One group's statistics on one seed: mean test accuracy, and the median max IoU and median min L2 to the training set.</summary>
public sealed record MemorizationStats(double Accuracy, double MedianMaxIou, double MedianMinL2, IReadOnlyList<ModelRow> Models)
{
    public static MemorizationStats Of(IEnumerable<ModelRow> models)
    {
        var m = models.ToList();
        if (m.Count == 0) throw new ArgumentException("A group without models has no statistics.", nameof(models));
        return new MemorizationStats(m.Average(x => x.TestAcc), Statistics.Median(m.Select(x => x.MaxIouToOriginals).ToList()),
            Statistics.Median(m.Select(x => x.MinL2ToOriginals).ToList()), m);
    }
}

/// <summary>
/// Notebook 06's findings over pipeline seeds, as one comparison family. Its headline holds every comparison the reading
/// draws a conclusion from, fixed before the run: p-diff against the training checkpoints' own leave-one-out statistics
/// (median max IoU: behaviour; median min L2: weights) and p-diff against each of Zeng et al.'s baselines on accuracy and
/// on median max IoU. All are read with Holm's correction; the reading states a pattern only where the Holm verdicts of
/// all its comparisons say so.
/// </summary>
public sealed class BeyondMemorizationFindings
{
    public const string Gaussian = "gaussian";
    static readonly string[] NoiseGroups = { "absnoise_0.06", "absnoise_0.12" };

    BeyondMemorizationFindings(IReadOnlyList<string> baselines, IReadOnlyList<IReadOnlyDictionary<string, MemorizationStats>> perSeed)
    {
        Baselines = baselines;
        PerSeed = perSeed;
        Behaviour = Compare(x => x.MedianMaxIou, Evaluator.Original, "p-diff's median max IoU to the training set", "the training checkpoints' own (leave-one-out)", 1, "", 3);
        Weights = Compare(x => x.MedianMinL2, Evaluator.Original, "p-diff's median min L2 to the training set", "the training checkpoints' own (leave-one-out)", 1, "", 3);
        Accuracy = baselines.ToDictionary(b => b, b => Compare(x => x.Accuracy, b, "p-diff's mean test accuracy", $"that of {MemorizationCharts.Label(b)}", 100, "pt", 2));
        Novelty = baselines.ToDictionary(b => b, b => Compare(x => x.MedianMaxIou, b, "p-diff's median max IoU to the training set", $"that of {MemorizationCharts.Label(b)}", 1, "", 3));
        Family = new ComparisonFamily($"Beyond memorization over {perSeed.Count} seed{(perSeed.Count == 1 ? "" : "s")}",
            new[] { Behaviour, Weights }.Concat(baselines.SelectMany(b => new[] { Accuracy[b], Novelty[b] })));
    }

    /// <summary>The baseline groups compared with p-diff: absolute noise σ 0.06 and 0.12, the average of n, the Gaussian.</summary>
    public IReadOnlyList<string> Baselines { get; }
    /// <summary>Per seed (in the order of the reports), each group's statistics.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, MemorizationStats>> PerSeed { get; }
    public Comparison Behaviour { get; }
    public Comparison Weights { get; }
    public IReadOnlyDictionary<string, Comparison> Accuracy { get; }
    public IReadOnlyDictionary<string, Comparison> Novelty { get; }
    public ComparisonFamily Family { get; }

    /// <summary>The groups of the tables: training, p-diff, then the baselines.</summary>
    public IEnumerable<string> Groups => new[] { Evaluator.Original, Evaluator.Generated }.Concat(Baselines);

    /// <param name="reports">One report per seed, each holding the training and p-diff groups and every baseline of <see cref="BeyondMemorization.EvaluationFor"/>.</param>
    public static BeyondMemorizationFindings From(IReadOnlyList<EvaluationReport> reports)
    {
        if (reports.Count == 0) throw new ArgumentException("Findings over seeds need at least one seed's report.", nameof(reports));
        var average = reports[0].Groups.Select(g => g.Name).FirstOrDefault(g => g.StartsWith("average", StringComparison.Ordinal))
            ?? throw new ArgumentException("The reports hold no average-of-n baseline.", nameof(reports));
        var baselines = NoiseGroups.Append(average).Append(Gaussian).ToList();
        var groups = new[] { Evaluator.Original, Evaluator.Generated }.Concat(baselines).ToList();
        var perSeed = reports.Select(rep => (IReadOnlyDictionary<string, MemorizationStats>)groups.ToDictionary(g => g, g => MemorizationStats.Of(rep.ModelsOf(g)))).ToList();
        return new BeyondMemorizationFindings(baselines, perSeed);
    }

    /// <summary>Built from per-seed statistics directly (the groups of <paramref name="baselines"/>, training and p-diff in each).</summary>
    public static BeyondMemorizationFindings From(IReadOnlyList<string> baselines, IReadOnlyList<IReadOnlyDictionary<string, MemorizationStats>> perSeed) =>
        perSeed.Count == 0 ? throw new ArgumentException("Findings over seeds need at least one seed.", nameof(perSeed)) : new BeyondMemorizationFindings(baselines, perSeed);

    Comparison Compare(Func<MemorizationStats, double> of, string baseline, string a, string b, double scale, string unit, int digits) =>
        new(a, b, PairedDifference.Of($"{a} − {b}", PerSeed.Select(s => of(s[Evaluator.Generated])).ToList(), PerSeed.Select(s => of(s[baseline])).ToList()),
            scale, unit, digits);

    /// <summary>Per group: mean test accuracy, median max IoU and median min L2 as mean ± sample std over seeds, seed 0 beside each.</summary>
    public DataFrame GroupTable()
    {
        var groups = Groups.ToList();
        SeedSpread Over(string g, Func<MemorizationStats, double> f) => SeedSpread.Of(PerSeed.Select(s => f(s[g])).ToList());
        string Seed0(string g, Func<MemorizationStats, double> f, string format) => f(PerSeed[0][g]).ToString(format, CultureInfo.InvariantCulture);
        return new DataFrame(
            new StringDataFrameColumn("group", groups.Select(MemorizationCharts.Label)),
            new StringDataFrameColumn("test acc % (seed 0)", groups.Select(g => Seed0(g, x => 100 * x.Accuracy, "F2"))),
            new StringDataFrameColumn("test acc % ± std", groups.Select(g => Over(g, x => x.Accuracy).Format())),
            new StringDataFrameColumn("median max IoU (seed 0)", groups.Select(g => Seed0(g, x => x.MedianMaxIou, "F3"))),
            new StringDataFrameColumn("median max IoU ± std", groups.Select(g => Over(g, x => x.MedianMaxIou).Format(1, 3))),
            new StringDataFrameColumn("median min L2 (seed 0)", groups.Select(g => Seed0(g, x => x.MedianMinL2, "F3"))),
            new StringDataFrameColumn("median min L2 ± std", groups.Select(g => Over(g, x => x.MedianMinL2).Format(1, 3))));
    }

    /// <summary>
    /// Seed 0's distributions, described: the share of p-diff's models beyond the training checkpoints' own 95th
    /// percentile of max IoU, and below their 5th percentile of min L2 (nearest rank).
    /// </summary>
    public IEnumerable<string> SeedZeroLines()
    {
        var training = PerSeed[0][Evaluator.Original].Models;
        var pdiff = PerSeed[0][Evaluator.Generated].Models;
        var iouHigh = NearestRank(training.Select(x => x.MaxIouToOriginals), 0.95);
        var l2Low = NearestRank(training.Select(x => x.MinL2ToOriginals), 0.05);
        var above = pdiff.Count(x => x.MaxIouToOriginals > iouHigh) / (double)pdiff.Count;
        var below = pdiff.Count(x => x.MinL2ToOriginals < l2Low) / (double)pdiff.Count;
        yield return $"Behaviour, seed 0: {100 * above:F0} % of p-diff's models have a max IoU to the training set above the 95th percentile of the training checkpoints' own ({F(iouHigh)}).";
        yield return $"Weights, seed 0: median min L2 to the training set {F(PerSeed[0][Evaluator.Generated].MedianMinL2)} for p-diff's models and {F(PerSeed[0][Evaluator.Original].MedianMinL2)} for the training checkpoints (leave-one-out); "
            + $"{100 * below:F0} % of p-diff's vectors have a min L2 below the 5th percentile of the training checkpoints' own ({F(l2Low)}).";
    }

    /// <summary>
    /// The reading, each line from Holm verdicts of the family: the memorization pattern (closer to the training set than
    /// the checkpoints are to each other in behaviour and in weights), its opposite, or neither; then, per baseline,
    /// which side dominates on both axes (accuracy and max IoU), if either.
    /// </summary>
    public IEnumerable<string> Reading()
    {
        var (iou, l2) = (Family.HolmVerdict(Behaviour), Family.HolmVerdict(Weights));
        yield return iou == DifferenceVerdict.Higher && l2 == DifferenceVerdict.Lower
            ? "Memorization: p-diff's models are closer to the training set than the training checkpoints are to each other, in behaviour and in weights (both Holm verdicts), the pattern Zeng et al. report."
            : iou == DifferenceVerdict.Lower && l2 == DifferenceVerdict.Higher
                ? "Not replicas: p-diff's models are further from the training set than the training checkpoints are from each other, in behaviour and in weights (both Holm verdicts)."
                : $"Neither memorization nor its opposite holds on both axes at 95 % (Holm): median max IoU {VerdictWords.Word(iou)}, median min L2 {VerdictWords.Word(l2)} against the training checkpoints' own.";
        foreach (var b in Baselines)
        {
            var (acc, nov) = (Family.HolmVerdict(Accuracy[b]), Family.HolmVerdict(Novelty[b]));
            var name = MemorizationCharts.Label(b);
            yield return acc == DifferenceVerdict.Higher && nov == DifferenceVerdict.Lower
                ? $"p-diff dominates {name} on both axes: higher accuracy and lower max IoU (both Holm verdicts)."
                : acc == DifferenceVerdict.Lower && nov == DifferenceVerdict.Higher
                    ? $"{name} dominates p-diff on both axes: p-diff has lower accuracy and higher max IoU (both Holm verdicts)."
                    : $"Against {name}, neither dominates on both axes at 95 % (Holm): accuracy {VerdictWords.Word(acc)}, max IoU {VerdictWords.Word(nov)}.";
        }
    }

    static double NearestRank(IEnumerable<double> values, double q)
    {
        var a = values.OrderBy(x => x).ToArray();
        return a[(int)Math.Clamp(Math.Round(q * (a.Length - 1)), 0, a.Length - 1)];
    }

    static string F(double v) => v.ToString("G3", CultureInfo.InvariantCulture);
}
