using PDiff.TorchFixes;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Evaluation;

/// <summary>
/// Exact t-SNE settings (van der Maaten and Hinton 2008; defaults as sklearn's exact method). A null
/// <see cref="LearningRate"/> means sklearn's "auto": max(n / exaggeration / 4, 50).
/// </summary>
public sealed record TsneOptions
{
    public double Perplexity { get; init; } = 30;
    public int Iterations { get; init; } = 1000;
    public double? LearningRate { get; init; }
    public double EarlyExaggeration { get; init; } = 12;
    public int ExaggerationIterations { get; init; } = 250;
    public double InitialMomentum { get; init; } = 0.5;
    public double FinalMomentum { get; init; } = 0.8;
    public double MinGain { get; init; } = 0.01;
    /// <summary>Std of the random initial layout (sklearn's random init: 1e-4).</summary>
    public double InitialStd { get; init; } = 1e-4;
    public ulong Seed { get; init; } = 0;
    /// <summary>Exact t-SNE costs O(n²) memory and time an iteration; refuse more points than this.</summary>
    public int MaxPoints { get; init; } = 2000;
}

/// <summary>
/// Exact t-SNE for up to a few thousand points: per-point Gaussian bandwidths found by binary search to
/// match the perplexity, symmetrised affinities, Student-t similarities in 2-D, and gradient descent with
/// early exaggeration, momentum and per-coordinate gains. Plain float64 arrays, rows in parallel: one
/// fused pass over the pairs an iteration, far cheaper than materialising [n, n] tensors each step.
/// Seeded, and row sums are combined in a fixed order, so the same seed gives the same layout.
/// </summary>
public static class Tsne
{
    public static Embedding2D Embed(Tensor data, TsneOptions? options = null)
    {
        var o = options ?? new TsneOptions();
        var n = CheckedCount(data, o);
        var lr = o.LearningRate ?? Math.Max(n / o.EarlyExaggeration / 4, 50);
        var p = JointAffinities(data, n, o.Perplexity);
        var y = InitialLayout(n, o);
        Descend(p, y, n, o, lr);
        return new Embedding2D("tsne", Enumerable.Range(0, n).Select(i => y[2 * i]).ToArray(),
            Enumerable.Range(0, n).Select(i => y[2 * i + 1]).ToArray(),
            new Dictionary<string, double>
            {
                ["kl_divergence"] = KlDivergence(p, y, n), ["perplexity"] = o.Perplexity, ["iterations"] = o.Iterations,
                ["learning_rate"] = lr, ["early_exaggeration"] = o.EarlyExaggeration, ["seed"] = o.Seed,
            });
    }

    /// <summary>The number of points, after checking that the data and the options suit exact t-SNE.</summary>
    static int CheckedCount(Tensor data, TsneOptions options)
    {
        if (data.dim() != 2) throw new ArgumentException($"t-SNE needs points as a [n, d] matrix; got {EvaluationTorch.Shape(data)}.", nameof(data));
        var n = (int)data.size(0);
        if (n < 3) throw new ArgumentException($"t-SNE needs at least 3 points; got {n}.", nameof(data));
        if (n > options.MaxPoints) throw new ArgumentException($"Exact t-SNE on {n} points exceeds MaxPoints = {options.MaxPoints} (O(n²) per iteration); subsample the points or raise TsneOptions.MaxPoints.", nameof(data));
        if (!(options.Perplexity >= 1) || options.Perplexity >= n - 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.Perplexity, $"Perplexity must be in [1, n − 1) = [1, {n - 1}) for {n} points; about 30 suits a few hundred points, 5–10 a few dozen.");
        if (options.Iterations < 1) throw new ArgumentOutOfRangeException(nameof(options), options.Iterations, "t-SNE needs at least one iteration.");
        return n;
    }

    /// <summary>The joint affinities P [n·n] of the points: conditional affinities of the squared distances, symmetrised.</summary>
    static double[] JointAffinities(Tensor data, int n, double perplexity)
    {
        double[] sq;
        using (torch.no_grad())
        using (var x = data.to(ScalarType.Float64))
        using (var dist = torch.cdist(x, x))
        using (var d2 = dist.Squared())
            sq = d2.contiguous().data<double>().ToArray();
        var p = ConditionalAffinities(sq, n, perplexity);
        // P = (P_cond + P_condᵀ) / 2n in place (upper and lower triangle together), floored as sklearn does.
        for (var i = 0; i < n; i++)
        {
            p[(long)i * n + i] = 0;
            for (var j = i + 1; j < n; j++)
            {
                var v = Math.Max((p[(long)i * n + j] + p[(long)j * n + i]) / (2.0 * n), 1e-12);
                p[(long)i * n + j] = v;
                p[(long)j * n + i] = v;
            }
        }
        return p;
    }

    /// <summary>The random initial layout [2n] (x, y interleaved): seeded normal draws scaled by InitialStd.</summary>
    static double[] InitialLayout(int n, TsneOptions o)
    {
        var y = new double[2 * n];
        using (var g = new Generator(o.Seed))
        using (var init = torch.randn(new long[] { n, 2 }, ScalarType.Float64, generator: g))
            init.data<double>().CopyTo(y);
        for (var i = 0; i < y.Length; i++) y[i] *= o.InitialStd;
        return y;
    }

    /// <summary>Gradient descent on the layout <paramref name="y"/> in place: early exaggeration, momentum, per-coordinate gains, recentred each step.</summary>
    static void Descend(double[] p, double[] y, int n, TsneOptions o, double lr)
    {
        var update = new double[2 * n];
        var gains = Enumerable.Repeat(1.0, 2 * n).ToArray();
        var grad = new double[2 * n];
        var a = new double[2 * n];
        var b = new double[2 * n];
        var rowSum = new double[n];
        for (var it = 0; it < o.Iterations; it++)
        {
            var exaggeration = it < o.ExaggerationIterations ? o.EarlyExaggeration : 1.0;
            var momentum = it < o.ExaggerationIterations ? o.InitialMomentum : o.FinalMomentum;
            PairSums(p, y, n, a, b, rowSum);
            double z = 0;
            for (var i = 0; i < n; i++) z += rowSum[i];   // summed in order: the result does not depend on threads
            for (var k = 0; k < 2 * n; k++)
            {
                grad[k] = 4 * (exaggeration * a[k] - b[k] / z);
                // Gains grow where the gradient opposes the last step and shrink where it agrees.
                gains[k] = (grad[k] > 0) != (update[k] > 0) ? gains[k] + 0.2 : Math.Max(gains[k] * 0.8, o.MinGain);
                update[k] = momentum * update[k] - lr * gains[k] * grad[k];
                y[k] += update[k];
            }
            double mx = 0, my = 0;
            for (var i = 0; i < n; i++) { mx += y[2 * i]; my += y[2 * i + 1]; }
            for (var i = 0; i < n; i++) { y[2 * i] -= mx / n; y[2 * i + 1] -= my / n; }
        }
    }

    /// <summary>
    /// ∂C/∂y_i = 4 Σ_j (p_ij − num_ij / Z) num_ij (y_i − y_j), num_ij = 1 / (1 + |y_i − y_j|²), Z = Σ num.
    /// Split as 4 (Σ p·num·Δ − (1/Z) Σ num²·Δ): one pass over the pairs, rows in parallel, gives per row i
    /// Σ p·num·Δ into <paramref name="a"/>, Σ num²·Δ into <paramref name="b"/> and its part of Z into <paramref name="rowSum"/>.
    /// </summary>
    static void PairSums(double[] p, double[] y, int n, double[] a, double[] b, double[] rowSum) =>
        Parallel.For(0, n, i =>
        {
            double ax = 0, ay = 0, bx = 0, by = 0, s = 0;
            double yi0 = y[2 * i], yi1 = y[2 * i + 1];
            var row = (long)i * n;
            for (var j = 0; j < n; j++)
            {
                if (j == i) continue;
                double dx = yi0 - y[2 * j], dy = yi1 - y[2 * j + 1];
                var num = 1.0 / (1.0 + dx * dx + dy * dy);
                var pn = p[row + j] * num;
                var nn = num * num;
                ax += pn * dx; ay += pn * dy;
                bx += nn * dx; by += nn * dy;
                s += num;
            }
            (a[2 * i], a[2 * i + 1], b[2 * i], b[2 * i + 1], rowSum[i]) = (ax, ay, bx, by, s);
        });

    /// <summary>KL(P ‖ Q) = Σ_{i≠j} p_ij ln(p_ij / q_ij) of the final layout.</summary>
    static double KlDivergence(double[] p, double[] y, int n)
    {
        var num = new double[(long)n * n];
        double z = 0;
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
            {
                if (i == j) continue;
                double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
                z += num[(long)i * n + j] = 1.0 / (1.0 + dx * dx + dy * dy);
            }
        double kl = 0;
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
            {
                if (i == j) continue;
                var pij = p[(long)i * n + j];
                kl += pij * Math.Log(pij / Math.Max(num[(long)i * n + j] / z, 1e-12));
            }
        return kl;
    }

    /// <summary>
    /// Row i of the result is p_{j|i} ∝ exp(−β_i d²_ij) with β_i found by bisection so that the row's
    /// entropy is ln(perplexity) (in nats, i.e. perplexity = e^H). Distances are shifted by the row's
    /// nearest one before exponentiating, which leaves p unchanged and avoids underflow.
    /// </summary>
    public static double[] ConditionalAffinities(double[] sq, int n, double perplexity, int maxSteps = 200, double tol = 1e-5)
    {
        var target = Math.Log(perplexity);
        var result = new double[(long)n * n];
        Parallel.For(0, n, i =>
        {
            var row = new double[n];
            var dmin = double.PositiveInfinity;
            for (var j = 0; j < n; j++) if (j != i) dmin = Math.Min(dmin, sq[(long)i * n + j]);
            double beta = 1, lo = double.NegativeInfinity, hi = double.PositiveInfinity;
            for (var step = 0; step < maxSteps; step++)
            {
                double sum = 0, dot = 0;
                for (var j = 0; j < n; j++)
                {
                    if (j == i) { row[j] = 0; continue; }
                    var dj = sq[(long)i * n + j] - dmin;
                    var e = Math.Exp(-beta * dj);
                    row[j] = e; sum += e; dot += dj * e;
                }
                var h = Math.Log(sum) + beta * dot / sum;
                if (Math.Abs(h - target) < tol) break;
                if (h > target) { lo = beta; beta = double.IsPositiveInfinity(hi) ? beta * 2 : (beta + hi) / 2; }
                else { hi = beta; beta = double.IsNegativeInfinity(lo) ? beta / 2 : (beta + lo) / 2; }
            }
            double total = 0;
            for (var j = 0; j < n; j++) total += row[j];
            for (var j = 0; j < n; j++) result[(long)i * n + j] = row[j] / total;
        });
        return result;
    }
}
