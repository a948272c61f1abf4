using MathNet.Numerics.LinearAlgebra;
using PDiff.Torch;

namespace PDiff.Evaluation;

/// <summary>2-D coordinates of n points from one method, with its diagnostics (explained variance, KL, …).</summary>
public sealed record Embedding2D(string Method, double[] X, double[] Y, IReadOnlyDictionary<string, double> Diagnostics)
{
    public int Count => X.Length;
}

/// <summary>Principal components: scores [n][c], eigenvalues of the covariance and their share of the total variance.</summary>
public sealed record PcaResult(double[][] Scores, double[] ExplainedVariance, double[] ExplainedVarianceRatio)
{
    public Embedding2D ToEmbedding()
    {
        if (ExplainedVariance.Length < 2) throw new InvalidOperationException("A 2-D embedding needs at least 2 principal components.");
        return new Embedding2D("pca", Scores.Select(s => s[0]).ToArray(), Scores.Select(s => s[1]).ToArray(),
            new Dictionary<string, double>
            {
                ["explained_variance_1"] = ExplainedVariance[0], ["explained_variance_2"] = ExplainedVariance[1],
                ["explained_variance_ratio_1"] = ExplainedVarianceRatio[0], ["explained_variance_ratio_2"] = ExplainedVarianceRatio[1],
            });
    }
}

/// <summary>
/// PCA by symmetric eigen-decomposition (MathNet) of whichever of the covariance XᵀX/(n−1) [d, d] or the
/// Gram matrix XXᵀ/(n−1) [n, n] is smaller; both have the same non-zero eigenvalues, and the scores are
/// X·v or u·√((n−1)λ) respectively. Products run in libtorch (float64). Signs follow sklearn's rule: the
/// score of largest magnitude in each component is positive, so the result does not depend on the path.
/// </summary>
public static class Pca
{
    public static PcaResult Fit(Tensor data, int components = 2)
    {
        if (data.dim() != 2) throw new ArgumentException($"PCA needs points as a [n, d] matrix; got {TorchException.ShapeString(data.shape)}.", nameof(data));
        var n = (int)data.size(0);
        var d = (int)data.size(1);
        if (n < 2) throw new ArgumentException($"PCA needs at least 2 points; got {n}.", nameof(data));
        if (components < 1 || components > Math.Min(n, d))
            throw new ArgumentOutOfRangeException(nameof(components), components, $"Between 1 and min(n, d) = {Math.Min(n, d)} components.");

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var x = data.to(ScalarType.Float64);
        x = x.sub(x.mean(0, keepdim: true));
        var gram = d > n;
        var m = (gram ? x.mm(x.t()) : x.t().mm(x)).div(n - 1);
        var size = gram ? n : d;
        var sym = Matrix<double>.Build.DenseOfColumnMajor(size, size, m.contiguous().data<double>());   // symmetric: row- = column-major
        var evd = sym.Evd(Symmetricity.Symmetric);
        var eig = evd.EigenValues.Select(c => c.Real).ToArray();
        var order = Enumerable.Range(0, size).OrderByDescending(i => eig[i]).ThenBy(i => i).Take(components).ToArray();
        var total = Math.Max(eig.Where(v => v > 0).Sum(), double.Epsilon);
        var lambda = order.Select(i => Math.Max(eig[i], 0)).ToArray();

        var scores = new double[n][];
        for (var i = 0; i < n; i++) scores[i] = new double[components];
        var xs = gram ? null : x.contiguous().data<double>();
        for (var c = 0; c < components; c++)
        {
            var vec = evd.EigenVectors.Column(order[c]);
            if (gram)
            {
                var scale = Math.Sqrt((n - 1) * lambda[c]);
                for (var i = 0; i < n; i++) scores[i][c] = vec[i] * scale;
            }
            else
                for (var i = 0; i < n; i++)
                {
                    double s = 0;
                    for (var j = 0; j < d; j++) s += xs![(long)i * d + j] * vec[j];
                    scores[i][c] = s;
                }
            var big = 0;
            for (var i = 1; i < n; i++) if (Math.Abs(scores[i][c]) > Math.Abs(scores[big][c])) big = i;
            if (scores[big][c] < 0) for (var i = 0; i < n; i++) scores[i][c] = -scores[i][c];
        }
        return new PcaResult(scores, lambda, lambda.Select(l => l / total).ToArray());
    }

    public static Embedding2D Embed(Tensor data) => Fit(data, 2).ToEmbedding();
}
