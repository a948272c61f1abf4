using Microsoft.Data.Analysis;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Evaluation;

/// <summary>Each candidate's distance to its nearest training vector and that vector's index.</summary>
public sealed record MinDistance(double[] Distance, int[] Nearest);

/// <summary>
/// The <c>k</c> training vectors nearest to each candidate, nearest first (for the heatmaps of
/// memorization-protocol §3.2 item 7): <c>Indices[c][r]</c> and <c>Distances[c][r]</c> for rank r.
/// </summary>
public sealed record NearestNeighbours(int[][] Indices, double[][] Distances);

/// <summary>One group's share of models in each histogram bin, in percent (sums to 100).</summary>
public sealed record HistogramSeries(string Group, int Count, double[] Percent);

/// <summary>Histograms over shared bin edges (Edges.Length = bins + 1), one series a group.</summary>
public sealed record Histogram(double[] Edges, IReadOnlyList<HistogramSeries> Series)
{
    public TextTable ToTable(string quantity = "value")
    {
        var cols = new List<TableColumn> { TableColumn.Number("bin_low", $"{quantity} from", "G5"), TableColumn.Number("bin_high", "to", "G5") };
        cols.AddRange(Series.Select(s => new TableColumn($"{s.Group}_pct", $"{s.Group} %", "F1")));
        var t = new TextTable($"{quantity}: % of models per bin", cols);
        for (var b = 0; b + 1 < Edges.Length; b++)
        {
            var row = new object?[cols.Count];
            row[0] = Edges[b]; row[1] = Edges[b + 1];
            for (var s = 0; s < Series.Count; s++) row[s + 2] = Series[s].Percent[b];
            t.Add(row);
        }
        return t;
    }

    /// <summary>The novelty_histogram.csv columns: bin_low, bin_high, then &lt;group&gt;_pct per series.</summary>
    public DataFrame ToDataFrame(string quantity = "value") => ToTable(quantity).ToDataFrame();
}

/// <summary>
/// Weight-space novelty (memorization-protocol §3.2 items 6–7): L2 distances from candidates to the
/// training vectors with torch.cdist. Distances are computed in float64: cdist's matrix-product path
/// computes √(|a|² + |b|² − 2a·b), which in float32 loses the small distances of near-replicas — exactly
/// the ones this test is about.
/// </summary>
public static class Novelty
{
    /// <summary>[C, K] distances from each candidate to each training vector (float64).</summary>
    public static Tensor Distances(Tensor candidates, Tensor training)
    {
        if (candidates.dim() != 2 || training.dim() != 2 || candidates.size(1) != training.size(1))
            throw new ArgumentException($"Distances need candidates [C, N] and training vectors [K, N] of the same N; got {EvaluationTorch.Shape(candidates)} and {EvaluationTorch.Shape(training)}.");
        using (torch.NewDisposeScope())
        using (torch.no_grad())
            return torch.cdist(candidates.to(ScalarType.Float64), training.to(ScalarType.Float64)).DetachFromDisposeScope();
    }

    /// <summary>Minimum L2 distance from each candidate to any training vector.</summary>
    public static MinDistance MinL2(Tensor candidates, Tensor training)
    {
        using var d = Distances(candidates, training);
        return MinOf(d);
    }

    /// <summary>
    /// Minimum L2 distance from each training vector to the <em>other</em> training vectors (leave-one-out):
    /// the diagonal, always 0, is excluded. Needs K ≥ 2.
    /// </summary>
    public static MinDistance MinL2LeaveOneOut(Tensor training)
    {
        if (training.dim() != 2 || training.size(0) < 2)
            throw new ArgumentException($"Leave-one-out distances need at least 2 training vectors [K ≥ 2, N]; got {EvaluationTorch.Shape(training)}.", nameof(training));
        using var scope = torch.NewDisposeScope();
        using var d = Distances(training, training);
        var k = training.size(0);
        using (torch.no_grad())
        {
            using Scalar half = 0.5, infinity = double.PositiveInfinity;
            var eye = torch.eye(k, dtype: ScalarType.Float64).gt(half);
            return MinOf(d.masked_fill(eye, infinity));
        }
    }

    static MinDistance MinOf(Tensor d)
    {
        var (v, i) = d.min(1);
        using (v) using (i)
            return new MinDistance(v.data<double>().ToArray(), i.data<long>().ToArray().Select(x => (int)x).ToArray());
    }

    /// <summary>The <paramref name="k"/> nearest training vectors of each candidate, nearest first (k capped at K).</summary>
    public static NearestNeighbours Nearest(Tensor candidates, Tensor training, int k = 3)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), k, "Ask for at least one nearest neighbour.");
        using var scope = torch.NewDisposeScope();
        using var d = Distances(candidates, training);
        var kk = (int)Math.Min(k, training.size(0));
        var (v, i) = d.topk(kk, 1, largest: false);
        var vals = v.data<double>().ToArray();
        var idx = i.data<long>().ToArray();
        var c = (int)candidates.size(0);
        var indices = new int[c][];
        var dists = new double[c][];
        for (var r = 0; r < c; r++)
        {
            indices[r] = Enumerable.Range(0, kk).Select(j => (int)idx[r * kk + j]).ToArray();
            dists[r] = Enumerable.Range(0, kk).Select(j => vals[r * kk + j]).ToArray();
        }
        return new NearestNeighbours(indices, dists);
    }

    /// <summary>
    /// Histograms of several groups over one set of <paramref name="bins"/> equal-width bins spanning all
    /// finite values (numpy's rule: the last bin includes its right edge), as "% of models" per group.
    /// </summary>
    public static Histogram Histogram(IReadOnlyList<(string Group, double[] Values)> groups, int bins = 15)
    {
        if (bins < 1) throw new ArgumentOutOfRangeException(nameof(bins), bins, "A histogram needs at least one bin.");
        var all = groups.SelectMany(g => g.Values).Where(double.IsFinite).ToArray();
        if (all.Length == 0) throw new ArgumentException("No finite values to put in a histogram.", nameof(groups));
        double lo = all.Min(), hi = all.Max();
        if (lo == hi) { lo -= 0.5; hi += 0.5; }   // numpy widens a degenerate range the same way
        var edges = Enumerable.Range(0, bins + 1).Select(b => lo + (hi - lo) * b / bins).ToArray();
        edges[^1] = hi;
        var series = groups.Select(g =>
        {
            var counts = new double[bins];
            var finite = g.Values.Where(double.IsFinite).ToArray();
            foreach (var v in finite)
            {
                var b = (int)Math.Floor((v - lo) / (hi - lo) * bins);
                counts[Math.Clamp(b, 0, bins - 1)]++;
            }
            return new HistogramSeries(g.Group, finite.Length, counts.Select(c => finite.Length == 0 ? 0 : 100.0 * c / finite.Length).ToArray());
        }).ToList();
        return new Histogram(edges, series);
    }
}
