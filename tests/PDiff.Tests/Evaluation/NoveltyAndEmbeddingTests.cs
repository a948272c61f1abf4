using PDiff.Evaluation;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PDiff.Tests.Evaluation;

public class NoveltyTests
{
    // Training points (0,0), (3,4), (3,0): pairwise distances 5 (0–1), 3 (0–2), 4 (1–2).
    static Tensor Training() => torch.tensor(new float[] { 0, 0, 3, 4, 3, 0 }, 3, 2);

    [Fact]
    public void LeaveOneOutMinimumSkipsTheSelfDistance()
    {
        using var t = Training();
        var d = Novelty.MinL2LeaveOneOut(t);
        Assert.Equal(new[] { 3.0, 4.0, 3.0 }, d.Distance.Select(v => Math.Round(v, 9)));
        Assert.Equal(new[] { 2, 2, 0 }, d.Nearest);
        // Without leaving out, every training point is at distance 0 from itself.
        Assert.All(Novelty.MinL2(t, t).Distance, v => Assert.Equal(0, v, 9));
    }

    [Fact]
    public void NearestThreeAreSortedByDistance()
    {
        using var t = Training();
        using var c = torch.tensor(new float[] { 0, 1, 3, 3.5f }, 2, 2);
        var nn = Novelty.Nearest(c, t, 3);
        Assert.Equal(new[] { 0, 2, 1 }, nn.Indices[0]);
        Assert.Equal(new[] { 1, Math.Sqrt(10), Math.Sqrt(18) }, nn.Distances[0].Select(v => Math.Round(v, 9)).ToArray(), new RoundedComparer());
        Assert.Equal(new[] { 1, 2, 0 }, nn.Indices[1]);                      // (3, 3.5): 0.5, 3.5, √(9 + 12.25)
        Assert.Equal(2, Novelty.Nearest(c, t, 2).Indices[0].Length);
        Assert.Equal(3, Novelty.Nearest(c, t, 10).Indices[0].Length);        // capped at K
        var m = Novelty.MinL2(c, t);
        Assert.Equal(new[] { 0, 1 }, m.Nearest);
        Assert.Equal(0.5, m.Distance[1], 6);
    }

    [Fact]
    public void NearReplicasKeepTheirSmallDistance()
    {
        // 40 vectors of 2,048 values around 1.0; a copy moved by 1e-4 in one coordinate.
        using var g = new Generator(1);
        using var t = torch.randn(new long[] { 40, 2048 }, generator: g).add(1.0);
        using var c = t.clone();
        using (torch.no_grad()) { using var row = c[7]; using var x = row.narrow(0, 5, 1); x.add_(1e-4); }
        var d = Novelty.MinL2(c, t);
        Assert.Equal(1e-4, d.Distance[7], 6);   // float32 cdist would give noise of ~1e-2 here
        Assert.Equal(7, d.Nearest[7]);
    }

    [Fact]
    public void HistogramSharesEdgesAndReportsPercentOfModels()
    {
        var h = Novelty.Histogram(new[] { ("a", new[] { 0.0, 1, 2, 3 }), ("b", new[] { 3.0, 3, 1.5, double.NaN }) }, bins: 3);
        Assert.Equal(new[] { 0.0, 1, 2, 3 }, h.Edges);
        Assert.Equal(new[] { 25.0, 25, 50 }, h.Series[0].Percent);       // 3 falls in the last, closed bin
        Assert.Equal(new[] { 0.0, 100.0 / 3, 200.0 / 3 }, h.Series[1].Percent);
        Assert.Equal(3, h.Series[1].Count);                                // NaN is not a model's distance
        var one = Novelty.Histogram(new[] { ("a", new[] { 2.0, 2.0 }) }, bins: 15);
        Assert.Equal(15, one.Series[0].Percent.Length);
        Assert.Equal(100, one.Series[0].Percent.Sum(), 9);
        Assert.Equal(16, one.Edges.Length);
    }

    sealed class RoundedComparer : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) < 1e-6;
        public int GetHashCode(double v) => 0;
    }
}

public class EmbeddingTests
{
    // Points a·u + b·w with u = (1,1)/√2, w = (1,−1)/√2, Σa = Σb = Σab = 0, so PC1 = ±a and PC2 = ±b.
    static readonly double[] A = { -3, -1, 0, 4 };
    static readonly double[] B = { 0.2, 0.2, -0.6, 0.2 };

    static Tensor Points(int extraZeroDims)
    {
        var d = 2 + extraZeroDims;
        var x = new double[4 * d];
        var r = 1 / Math.Sqrt(2);
        for (var i = 0; i < 4; i++)
        {
            x[i * d] = (A[i] + B[i]) * r + 10;      // an offset, removed by centring
            x[i * d + 1] = (A[i] - B[i]) * r - 3;
        }
        return torch.tensor(x, 4, d);
    }

    [Theory]
    [InlineData(0)]   // d = 2 ≤ n: covariance path
    [InlineData(6)]   // d = 8 > n: Gram path
    public void PcaRecoversKnownComponents(int extra)
    {
        using var x = Points(extra);
        var p = Pca.Fit(x, 2);
        // Signs: the largest-magnitude score is positive (4 for PC1, −0.6 → +0.6 for PC2).
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(A[i], p.Scores[i][0], 9);
            Assert.Equal(-B[i], p.Scores[i][1], 9);
        }
        Assert.Equal(26.0 / 3, p.ExplainedVariance[0], 9);
        Assert.Equal(0.48 / 3, p.ExplainedVariance[1], 9);
        Assert.Equal(26 / 26.48, p.ExplainedVarianceRatio[0], 9);
        var e = p.ToEmbedding();
        Assert.Equal("pca", e.Method);
        Assert.Equal(A, e.X.Select(v => Math.Round(v, 9)));
    }

    [Theory]
    [InlineData(60, 40)]   // covariance path
    [InlineData(30, 80)]   // Gram path
    public void SubspaceIterationAgreesWithTheFullDecomposition(int n, int d)
    {
        // Coordinates with decreasing spreads, so the leading eigenvalues are well separated.
        using var g = new Generator(6);
        using var z = torch.randn(new long[] { n, d }, ScalarType.Float64, generator: g);
        using var scale = torch.tensor(Enumerable.Range(0, d).Select(j => 3.0 / (1 + j)).ToArray(), 1, d);
        using var x = z.mul(scale);
        var exact = Pca.Fit(x, 3, exactLimit: 10_000);
        var iterative = Pca.Fit(x, 3, exactLimit: 0);
        for (var c = 0; c < 3; c++)
        {
            Assert.Equal(exact.ExplainedVariance[c], iterative.ExplainedVariance[c], tolerance: 1e-9);
            Assert.Equal(exact.ExplainedVarianceRatio[c], iterative.ExplainedVarianceRatio[c], tolerance: 1e-9);
            for (var i = 0; i < n; i++) Assert.Equal(exact.Scores[i][c], iterative.Scores[i][c], tolerance: 1e-6);
        }
        Assert.True(exact.ExplainedVariance[0] > exact.ExplainedVariance[1]);
    }

    [Fact]
    public void PcaRejectsBadShapes()
    {
        using var one = torch.zeros(1, 3);
        Assert.Throws<ArgumentException>(() => Pca.Fit(one));
        using var flat = torch.zeros(5);
        Assert.Throws<ArgumentException>(() => Pca.Fit(flat));
    }

    static (Tensor X, int[] Label) TwoClusters(int perCluster, ulong seed)
    {
        using var g = new Generator(seed);
        using var a = torch.randn(new long[] { perCluster, 10 }, generator: g);
        using var b0 = torch.randn(new long[] { perCluster, 10 }, generator: g);
        using var b = b0.add(8);
        return (torch.cat(new[] { a, b }), Enumerable.Range(0, 2 * perCluster).Select(i => i < perCluster ? 0 : 1).ToArray());
    }

    [Fact]
    public void TsneSeparatesTwoWellSeparatedClusters()
    {
        var (x, label) = TwoClusters(25, 3);
        using var _ = x;
        var o = new TsneOptions { Perplexity = 10, Iterations = 400, Seed = 5 };
        var e = Tsne.Embed(x, o);
        var n = label.Length;
        // Every point's nearest 2-D neighbour is from its own cluster.
        for (var i = 0; i < n; i++)
        {
            var best = Enumerable.Range(0, n).Where(j => j != i).OrderBy(j => Sq(e, i, j)).First();
            Assert.Equal(label[i], label[best]);
        }
        // The gap between the cluster centres is larger than either cluster's spread.
        var c0 = Centre(e, label, 0);
        var c1 = Centre(e, label, 1);
        var gap = Math.Sqrt(Math.Pow(c0.X - c1.X, 2) + Math.Pow(c0.Y - c1.Y, 2));
        var radius = Enumerable.Range(0, n).Max(i => Math.Sqrt(Math.Pow(e.X[i] - (label[i] == 0 ? c0.X : c1.X), 2) + Math.Pow(e.Y[i] - (label[i] == 0 ? c0.Y : c1.Y), 2)));
        Assert.True(gap > 2 * radius, $"gap {gap:G3} vs cluster radius {radius:G3}");
        Assert.True(e.Diagnostics["kl_divergence"] is > 0 and < 2);

        var again = Tsne.Embed(x, o);
        Assert.Equal(e.X, again.X);                                    // seeded: same layout
    }

    [Fact]
    public void TsneRejectsPerplexityTooLargeForThePoints()
    {
        var (x, _) = TwoClusters(5, 1);
        using var __ = x;
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => Tsne.Embed(x, new TsneOptions { Perplexity = 30 }));
        Assert.Contains("Perplexity", ex.Message);
    }

    [Fact]
    public void BandwidthSearchHitsTheTargetPerplexity()
    {
        var rng = new Random(2);
        const int n = 30;
        var pts = Enumerable.Range(0, n).Select(_ => (rng.NextDouble() * 5, rng.NextDouble())).ToArray();
        var sq = new double[n * n];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
                sq[i * n + j] = Math.Pow(pts[i].Item1 - pts[j].Item1, 2) + Math.Pow(pts[i].Item2 - pts[j].Item2, 2);
        var p = Tsne.ConditionalAffinities(sq, n, 7);
        for (var i = 0; i < n; i++)
        {
            var row = Enumerable.Range(0, n).Select(j => p[i * n + j]).ToArray();
            Assert.Equal(0, row[i]);
            Assert.Equal(1, row.Sum(), 9);
            var h = -row.Where(v => v > 0).Sum(v => v * Math.Log(v));
            Assert.Equal(7, Math.Exp(h), 3);
        }
    }

    static double Sq(Embedding2D e, int i, int j) => Math.Pow(e.X[i] - e.X[j], 2) + Math.Pow(e.Y[i] - e.Y[j], 2);

    static (double X, double Y) Centre(Embedding2D e, int[] label, int c)
    {
        var idx = Enumerable.Range(0, label.Length).Where(i => label[i] == c).ToArray();
        return (idx.Average(i => e.X[i]), idx.Average(i => e.Y[i]));
    }
}
