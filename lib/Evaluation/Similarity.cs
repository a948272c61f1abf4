using Microsoft.Data.Analysis;
using PDiff.Zoo;

namespace PDiff.Evaluation;

/// <summary>A contiguous block of models in an all-models list (e.g. the originals are rows 0..K-1).</summary>
public sealed record GroupRange(string Name, int Start, int Count)
{
    public int End => Start + Count;
    public bool Contains(int i) => i >= Start && i < End;
}

/// <summary>
/// The symmetric matrix of IoU similarities between the wrong-prediction sets of every pair of models
/// (reference §4.4): popcounts over bitsets, rows computed in parallel. IoU(a, a) = 1.
/// </summary>
public sealed class IouMatrix
{
    readonly double[] values;

    IouMatrix(int n, double[] values) => (Count, this.values) = (n, values);

    public int Count { get; }
    public double this[int i, int j] => values[i * Count + j];
    public ReadOnlySpan<double> Row(int i) => values.AsSpan(i * Count, Count);

    public static IouMatrix Compute(IReadOnlyList<WrongSet> sets, int maxDegreeOfParallelism = -1)
    {
        var n = sets.Count;
        if (n == 0) throw new ArgumentException("No wrong-prediction sets to compare.", nameof(sets));
        for (var i = 1; i < n; i++)
            if (sets[i].Length != sets[0].Length)
                throw new ArgumentException($"Wrong-prediction set {i} covers {sets[i].Length} examples, set 0 covers {sets[0].Length}: all models must be scored on the same split.", nameof(sets));
        var m = new double[(long)n * n];
        // Each row fills its upper triangle and the mirrored entries; rows never write the same cell.
        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism }, i =>
        {
            m[(long)i * n + i] = 1.0;
            for (var j = i + 1; j < n; j++)
            {
                var v = sets[i].IoU(sets[j]);
                m[(long)i * n + j] = v;
                m[(long)j * n + i] = v;
            }
        });
        return new IouMatrix(n, m);
    }
}

/// <summary>
/// How a group relates to the originals: mean IoU within the group over ordered pairs i ≠ j, mean IoU to
/// the originals over all pairs, and the mean over the group's models of their maximum IoU to any
/// original ("max similarity"). For the originals themselves the last two leave each model out
/// (pairs i ≠ j; max over the other originals), as p-diff and Zeng et al. do.
/// </summary>
public sealed record GroupSimilarity(string Group, int Count, double Within, double ToOriginalsMean, double ToOriginalsMaxMean);

/// <summary>The similarity summary of reference §4.4 plus the same numbers for every baseline group.</summary>
public sealed record SimilarityStats(string Split, double OriginOrigin, double GeneratedGenerated, double OriginGenerated,
    double OriginGeneratedMax, IReadOnlyList<GroupSimilarity> Groups)
{
    public TextTable ToTable()
    {
        var t = new TextTable($"IoU of wrong-prediction sets ({Split} split)", new[]
        {
            TableColumn.Text("group"), new TableColumn("count"),
            TableColumn.Number("within", "within group"),
            TableColumn.Number("to_originals_mean", "to originals (mean)"),
            TableColumn.Number("to_originals_max_mean", "to originals (max)"),
        });
        foreach (var g in Groups) t.Add(g.Group, g.Count, g.Within, g.ToOriginalsMean, g.ToOriginalsMaxMean);
        return t;
    }

    /// <summary>One row per group (the summary itself is written as iou_stats.json); a one-model group's within is missing.</summary>
    public DataFrame ToDataFrame() => ToTable().ToDataFrame();
}

/// <summary>Per-model maximum IoU to the originals and which original attains it.</summary>
public sealed record MaxSimilarity(double[] Value, int[] NearestOriginal);

public static class Similarity
{
    /// <summary>Mean of M[i, j] over ordered pairs i ≠ j inside the group; NaN for fewer than two models.</summary>
    public static double WithinMean(IouMatrix m, GroupRange g)
    {
        if (g.Count < 2) return double.NaN;
        double sum = 0;
        for (var i = g.Start; i < g.End; i++)
            for (var j = g.Start; j < g.End; j++)
                if (i != j) sum += m[i, j];
        return sum / ((double)g.Count * (g.Count - 1));
    }

    /// <summary>Mean of M[a, b] over all pairs a ∈ A, b ∈ B (A and B disjoint).</summary>
    public static double CrossMean(IouMatrix m, GroupRange a, GroupRange b)
    {
        if (a.Count == 0 || b.Count == 0) return double.NaN;
        double sum = 0;
        for (var i = a.Start; i < a.End; i++)
            for (var j = b.Start; j < b.End; j++) sum += m[i, j];
        return sum / ((double)a.Count * b.Count);
    }

    /// <summary>
    /// For every model, the largest IoU with any original; an original is compared with the other
    /// originals only (leave-one-out: the diagonal would always give 1). Ties go to the lowest index.
    /// </summary>
    public static MaxSimilarity MaxToOriginals(IouMatrix m, GroupRange originals)
    {
        var value = new double[m.Count];
        var arg = new int[m.Count];
        for (var i = 0; i < m.Count; i++)
        {
            double best = double.NegativeInfinity;
            var at = -1;
            for (var j = originals.Start; j < originals.End; j++)
            {
                if (j == i) continue;
                if (m[i, j] > best) { best = m[i, j]; at = j - originals.Start; }
            }
            (value[i], arg[i]) = at < 0 ? (double.NaN, -1) : (best, at);
        }
        return new MaxSimilarity(value, arg);
    }

    /// <summary>
    /// The full summary. <paramref name="groups"/> must hold a group named <paramref name="originalsName"/>;
    /// the "generated" numbers of reference §4.4 come from the group named <paramref name="generatedName"/>
    /// (NaN when absent).
    /// </summary>
    public static SimilarityStats Summarise(IouMatrix m, IReadOnlyList<GroupRange> groups, string split,
        string originalsName = "original", string generatedName = "generated")
    {
        var o = groups.FirstOrDefault(g => g.Name == originalsName)
            ?? throw new ArgumentException($"No group named '{originalsName}' among {string.Join(", ", groups.Select(g => g.Name))}.", nameof(groups));
        if (o.Count < 2) throw new ArgumentException($"Similarity to originals needs at least 2 originals (leave-one-out); got {o.Count}.", nameof(groups));
        foreach (var g in groups)
            if (g.Start < 0 || g.End > m.Count) throw new ArgumentException($"Group '{g.Name}' [{g.Start}, {g.End}) lies outside the {m.Count}×{m.Count} IoU matrix.", nameof(groups));
        var max = MaxToOriginals(m, o);
        var rows = groups.Select(g =>
        {
            var isO = g == o;
            var within = WithinMean(m, g);
            var toMean = isO ? within : CrossMean(m, g, o);
            var toMax = g.Count == 0 ? double.NaN : Enumerable.Range(g.Start, g.Count).Average(i => max.Value[i]);
            return new GroupSimilarity(g.Name, g.Count, within, toMean, toMax);
        }).ToList();
        var gen = rows.FirstOrDefault(r => r.Group == generatedName);
        var oo = rows.First(r => r.Group == originalsName).Within;
        return new SimilarityStats(split, oo, gen?.Within ?? double.NaN, gen?.ToOriginalsMean ?? double.NaN,
            gen?.ToOriginalsMaxMean ?? double.NaN, rows);
    }
}
