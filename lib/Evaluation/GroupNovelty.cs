using System.Globalization;
using Microsoft.Data.Analysis;
using PDiff.Data;
using PDiff.Zoo;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Evaluation;

/// <summary>One model of a compared group: its accuracies and how close it lies to the training checkpoints.</summary>
public sealed record NoveltyRow(string Group, int Index, double ValAcc, double TestAcc, double MaxIouToOriginals, int NearestByIou,
    double MinL2ToOriginals, int NearestByL2);

/// <summary>A group's means: accuracy on both splits and the two novelty measures of memorization-protocol §3.2.</summary>
public sealed record NoveltyGroup(string Group, int Count, double ValMean, double TestMean, double TestStd, double MeanMaxIou, double MeanMinL2);

/// <summary>
/// Accuracy and novelty of any number of named groups against the K training checkpoints, scoring each
/// model once: the lean counterpart of <see cref="Evaluator"/> for comparisons that need only accuracy,
/// max IoU of wrong-prediction sets to the originals and min L2 to them (no IoU matrix over all pairs, no
/// embeddings). The originals are a group too, measured leave-one-out as in Zeng et al.
/// </summary>
public static class GroupNovelty
{
    /// <summary>The name of the originals' group in the rows this class returns.</summary>
    public const string Originals = Evaluator.Original;

    /// <summary>
    /// For each candidate wrong-prediction set, the largest IoU with any original's set and which original.
    /// With <paramref name="leaveOneOut"/> the candidates are the originals themselves (same order) and each
    /// is compared with the others only. Ties go to the lowest index.
    /// </summary>
    public static MaxSimilarity MaxIou(IReadOnlyList<WrongSet> originals, IReadOnlyList<WrongSet> candidates, bool leaveOneOut = false)
    {
        ArgumentNullException.ThrowIfNull(originals);
        ArgumentNullException.ThrowIfNull(candidates);
        if (originals.Count == 0) throw new ArgumentException("Max IoU needs at least one original.", nameof(originals));
        if (leaveOneOut && (candidates.Count != originals.Count || originals.Count < 2))
            throw new ArgumentException($"Leave-one-out compares the originals with each other: give the same {originals.Count} sets twice (at least 2); got {candidates.Count} candidates.", nameof(candidates));
        var value = new double[candidates.Count];
        var arg = new int[candidates.Count];
        Parallel.For(0, candidates.Count, c =>
        {
            double best = double.NegativeInfinity;
            var at = -1;
            for (var o = 0; o < originals.Count; o++)
            {
                if (leaveOneOut && o == c) continue;
                var v = candidates[c].IoU(originals[o]);
                if (v > best) { best = v; at = o; }
            }
            (value[c], arg[c]) = (best, at);
        });
        return new MaxSimilarity(value, arg);
    }

    /// <summary>
    /// Scores the originals and every group on validation and test, then measures each model's max IoU to the
    /// originals on <paramref name="similaritySplit"/> (test, as the sources) and min L2 to them. Group names
    /// must be distinct and differ from <see cref="Originals"/>; every group is [M ≥ 1, N] like the originals.
    /// </summary>
    public static IReadOnlyList<NoveltyRow> Measure(ISubsetScorer scorer, Tensor originals, IReadOnlyList<(string Name, Tensor Vectors)> groups,
        EvalSplit similaritySplit = EvalSplit.Test, int batchSize = 256)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        var (k, n) = Baselines.CheckOriginals(originals, scorer.Layout);
        if (k < 2) throw new ArgumentException($"Novelty needs at least 2 originals (leave-one-out); got K = {k}.", nameof(originals));
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "Score at least one vector per batch.");
        var seen = new HashSet<string> { Originals };
        foreach (var (name, v) in groups)
        {
            if (string.IsNullOrWhiteSpace(name) || !seen.Add(name))
                throw new ArgumentException($"Group names must be non-empty, distinct and not '{Originals}'; '{name}' is not.", nameof(groups));
            if (v.dim() != 2 || v.size(0) < 1 || v.size(1) != n)
                throw new ArgumentException($"Group '{name}' must be [M ≥ 1, {n}] like the originals; got {EvaluationTorch.Shape(v)}.", nameof(groups));
        }

        var origVal = ScoreInBatches(scorer, originals, EvalSplit.Validation, batchSize);
        var origTest = ScoreInBatches(scorer, originals, EvalSplit.Test, batchSize);
        var origWrong = (similaritySplit == EvalSplit.Test ? origTest : origVal).Select(s => s.Wrong).ToList();
        var rows = new List<NoveltyRow>();
        var ownIou = MaxIou(origWrong, origWrong, leaveOneOut: true);
        var ownL2 = Novelty.MinL2LeaveOneOut(originals);
        for (var i = 0; i < k; i++)
            rows.Add(new NoveltyRow(Originals, i, origVal[i].Accuracy, origTest[i].Accuracy, ownIou.Value[i], ownIou.NearestOriginal[i], ownL2.Distance[i], ownL2.Nearest[i]));
        foreach (var (name, v) in groups)
        {
            var val = ScoreInBatches(scorer, v, EvalSplit.Validation, batchSize);
            var test = ScoreInBatches(scorer, v, EvalSplit.Test, batchSize);
            var iou = MaxIou(origWrong, (similaritySplit == EvalSplit.Test ? test : val).Select(s => s.Wrong).ToList());
            var l2 = Novelty.MinL2(v, originals);
            for (var i = 0; i < val.Count; i++)
                rows.Add(new NoveltyRow(name, i, val[i].Accuracy, test[i].Accuracy, iou.Value[i], iou.NearestOriginal[i], l2.Distance[i], l2.Nearest[i]));
        }
        return rows;
    }

    /// <summary>Per group, in first-appearance order: count, mean accuracies, test std, mean max IoU and mean min L2.</summary>
    public static IReadOnlyList<NoveltyGroup> Summarise(IEnumerable<NoveltyRow> rows) =>
        rows.GroupBy(r => r.Group).Select(g =>
        {
            var m = g.ToList();
            var test = m.Select(r => r.TestAcc).ToArray();
            var mean = Statistics.Mean(test);
            return new NoveltyGroup(g.Key, m.Count, m.Average(r => r.ValAcc), mean, Statistics.SampleStd(test, mean), m.Average(r => r.MaxIouToOriginals), m.Average(r => r.MinL2ToOriginals));
        }).ToList();

    /// <summary>The rows as a table (one row a model), as written to <c>models.csv</c>.</summary>
    public static DataFrame ToDataFrame(IReadOnlyList<NoveltyRow> rows) => new(
        new StringDataFrameColumn("group", rows.Select(r => r.Group)),
        new Int32DataFrameColumn("index", rows.Select(r => r.Index)),
        new DoubleDataFrameColumn("val_acc", rows.Select(r => r.ValAcc)),
        new DoubleDataFrameColumn("test_acc", rows.Select(r => r.TestAcc)),
        new DoubleDataFrameColumn("max_iou_to_originals", rows.Select(r => r.MaxIouToOriginals)),
        new Int32DataFrameColumn("nearest_by_iou", rows.Select(r => r.NearestByIou)),
        new DoubleDataFrameColumn("min_l2_to_originals", rows.Select(r => r.MinL2ToOriginals)),
        new Int32DataFrameColumn("nearest_by_l2", rows.Select(r => r.NearestByL2)));

    /// <summary>The group summaries as a table, as written to <c>groups.csv</c>.</summary>
    public static DataFrame ToDataFrame(IReadOnlyList<NoveltyGroup> groups) => new(
        new StringDataFrameColumn("group", groups.Select(g => g.Group)),
        new Int32DataFrameColumn("count", groups.Select(g => g.Count)),
        new DoubleDataFrameColumn("val_mean", groups.Select(g => g.ValMean)),
        new DoubleDataFrameColumn("test_mean", groups.Select(g => g.TestMean)),
        new DoubleDataFrameColumn("test_std", groups.Select(g => g.TestStd)),
        new DoubleDataFrameColumn("mean_max_iou", groups.Select(g => g.MeanMaxIou)),
        new DoubleDataFrameColumn("mean_min_l2", groups.Select(g => g.MeanMinL2)));

    /// <summary>Scores the rows of <paramref name="vectors"/> in batches of <paramref name="batchSize"/>, checking the scorer answers each row.</summary>
    internal static IReadOnlyList<ModelScore> ScoreInBatches(ISubsetScorer scorer, Tensor vectors, EvalSplit split, int batchSize)
    {
        var m = vectors.size(0);
        var result = new List<ModelScore>((int)m);
        for (long s = 0; s < m; s += batchSize)
        {
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            var b = Math.Min(batchSize, m - s);
            var scores = scorer.Score(vectors.narrow(0, s, b), split);
            if (scores.Count != b)
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"The scorer {scorer.GetType().Name} returned {scores.Count} scores for {b} vectors on the {split} split."));
            result.AddRange(scores);
        }
        return result;
    }
}
