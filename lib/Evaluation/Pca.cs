using PDiff.TorchFixes;
using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;
using TorchSharp;
using static TorchSharp.torch;

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
/// PCA by symmetric eigen-decomposition of whichever of the covariance XᵀX/(n−1) [d, d] or the Gram matrix
/// XXᵀ/(n−1) [n, n] is smaller; both have the same non-zero eigenvalues, and the scores are X·v or
/// u·√((n−1)λ) respectively. Up to <c>exactLimit</c> rows MathNet decomposes the whole matrix; above it
/// (a full managed decomposition grows as the cube of the rows, too slow for thousands) subspace iteration with Rayleigh–Ritz finds
/// the leading components only, products in libtorch. Signs follow sklearn's rule: the score of largest
/// magnitude in each component is positive, so the result does not depend on the path.
/// </summary>
public static class Pca
{
    public const int DefaultExactLimit = 400;

    public static PcaResult Fit(Tensor data, int components = 2, int exactLimit = DefaultExactLimit)
    {
        if (data.dim() != 2) throw new ArgumentException($"PCA needs points as a [n, d] matrix; got {EvaluationTorch.Shape(data)}.", nameof(data));
        var n = (int)data.size(0);
        var d = (int)data.size(1);
        if (n < 2) throw new ArgumentException($"PCA needs at least 2 points; got {n}.", nameof(data));
        if (components < 1 || components > Math.Min(n, d))
            throw new ArgumentOutOfRangeException(nameof(components), components, $"Between 1 and min(n, d) = {Math.Min(n, d)} components.");

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        if (!data.isfinite().all().ReadBoolean())
            throw new ArgumentException($"PCA needs finite points; the [{n}, {d}] matrix holds NaN or infinite values.", nameof(data));
        var x = data.to(ScalarType.Float64);
        x = x.sub(x.mean(new long[] { 0 }, keepdim: true));
        var gram = d > n;
        using Scalar dof = n - 1;
        var m = (gram ? x.mm(x.t()) : x.t().mm(x)).div(dof);
        var size = gram ? n : d;
        var total = Math.Max(Trace(m), double.Epsilon);   // total variance
        var (lambda, vectors) = size <= exactLimit ? Exact(m, size, components) : Subspace(m, size, components);

        // Scores [n, c]: Gram path u·√((n−1)λ), covariance path X·v.
        var v = torch.tensor(vectors, new long[] { size, components });
        var scoresT = gram
            ? v.mul(torch.tensor(lambda.Select(l => Math.Sqrt((n - 1) * Math.Max(l, 0))).ToArray(), new long[] { 1, components }))
            : x.mm(v);
        var flat = scoresT.contiguous().data<double>().ToArray();
        var scores = new double[n][];
        for (var i = 0; i < n; i++) scores[i] = flat.AsSpan(i * components, components).ToArray();
        for (var c = 0; c < components; c++)
        {
            var big = 0;
            for (var i = 1; i < n; i++) if (Math.Abs(scores[i][c]) > Math.Abs(scores[big][c])) big = i;
            if (scores[big][c] < 0) for (var i = 0; i < n; i++) scores[i][c] = -scores[i][c];
        }
        var explained = lambda.Select(l => Math.Max(l, 0)).ToArray();
        return new PcaResult(scores, explained, explained.Select(l => l / total).ToArray());
    }

    public static Embedding2D Embed(Tensor data) => Fit(data, 2).ToEmbedding();

    static double Trace(Tensor m)
    {
        var size = (int)m.size(0);
        var a = m.contiguous().data<double>().ToArray();
        double t = 0;
        for (var i = 0; i < size; i++) t += a[(long)i * size + i];
        return t;
    }

    /// <summary>Leading eigenpairs (descending) of a symmetric matrix; vectors as [size, c] row-major.</summary>
    static (double[] Values, double[] Vectors) Exact(Tensor m, int size, int c)
    {
        var sym = Matrix<double>.Build.DenseOfColumnMajor(size, size, m.contiguous().data<double>().ToArray());   // symmetric: row- = column-major
        var evd = sym.Evd(Symmetricity.Symmetric);
        var eig = evd.EigenValues.Select(z => z.Real).ToArray();
        var order = Enumerable.Range(0, size).OrderByDescending(i => eig[i]).ThenBy(i => i).Take(c).ToArray();
        var vec = new double[size * c];
        for (var k = 0; k < c; k++)
            for (var i = 0; i < size; i++) vec[i * c + k] = evd.EigenVectors[i, order[k]];
        return (order.Select(i => eig[i]).ToArray(), vec);
    }

    /// <summary>
    /// Block power iteration on c + 16 vectors from a fixed start, re-orthonormalised (QR) every step, with a
    /// Rayleigh–Ritz projection to read off eigenpairs; stops when the leading c Ritz values change by less
    /// than 1e-10 relative, or after 500 steps (a near-isotropic cloud, whose leading directions are arbitrary anyway,
    /// would need thousands). Deterministic: the start block comes from a fixed seed.
    /// </summary>
    static (double[] Values, double[] Vectors) Subspace(Tensor m, int size, int c)
    {
        var k = Math.Min(size, c + 16);
        Tensor q;
        using (var g = new Generator(0x5EED))
            q = torch.randn(new long[] { size, k }, ScalarType.Float64, generator: g);
        q = Orthonormal(q, size, k);
        var prev = new double[c];
        double[] values = prev;
        Matrix<double> ritz = Matrix<double>.Build.Dense(k, k);
        for (var step = 0; step < 500; step++)
        {
            using var inner = torch.NewDisposeScope();
            var mq = m.mm(q);
            var small = q.t().mm(mq);                                        // Qᵀ M Q [k, k]
            var evd = Matrix<double>.Build.DenseOfColumnMajor(k, k, small.contiguous().data<double>().ToArray()).Evd(Symmetricity.Symmetric);
            var eig = evd.EigenValues.Select(z => z.Real).ToArray();
            var order = Enumerable.Range(0, k).OrderByDescending(i => eig[i]).ToArray();
            values = order.Take(c).Select(i => eig[i]).ToArray();
            ritz = Matrix<double>.Build.Dense(k, k, (i, j) => evd.EigenVectors[i, order[j]]);
            var scale = Math.Max(Math.Abs(values[0]), double.Epsilon);
            var done = step > 0 && values.Zip(prev).All(t => Math.Abs(t.First - t.Second) <= 1e-10 * scale);
            prev = values;
            if (done) break;
            var old = q;
            q = Orthonormal(mq, size, k).MoveToOuterDisposeScope();
            old.Dispose();   // keep one block alive, not one per step
        }
        // Ritz vectors Q·W, the leading c columns.
        var w = torch.tensor(Enumerable.Range(0, k * c).Select(t => ritz[t / c, t % c]).ToArray(), new long[] { k, c });
        var vectors = q.mm(w).contiguous().data<double>().ToArray();
        return (values, vectors);
    }

    static Tensor Orthonormal(Tensor z, int rows, int cols)
    {
        var a = Matrix<double>.Build.DenseOfRowMajor(rows, cols, z.contiguous().data<double>().ToArray());
        var qr = a.QR(QRMethod.Thin);
        return torch.tensor(qr.Q.ToRowMajorArray(), new long[] { rows, cols });
    }
}
