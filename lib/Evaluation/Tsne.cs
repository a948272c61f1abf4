using PDiff.Torch;

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
/// early exaggeration, momentum and per-coordinate gains. The gradient step runs as [n, n] float64
/// tensor ops; the bandwidth search on plain arrays in parallel. Seeded: same seed, same layout.
/// </summary>
public static class Tsne
{
    public static Embedding2D Embed(Tensor data, TsneOptions? options = null)
    {
        var o = options ?? new TsneOptions();
        if (data.dim() != 2) throw new ArgumentException($"t-SNE needs points as a [n, d] matrix; got {TorchException.ShapeString(data.shape)}.", nameof(data));
        var n = (int)data.size(0);
        if (n < 3) throw new ArgumentException($"t-SNE needs at least 3 points; got {n}.", nameof(data));
        if (n > o.MaxPoints) throw new ArgumentException($"Exact t-SNE on {n} points exceeds MaxPoints = {o.MaxPoints} (O(n²) per iteration); subsample the points or raise TsneOptions.MaxPoints.", nameof(data));
        if (!(o.Perplexity >= 1) || o.Perplexity >= n - 1)
            throw new ArgumentOutOfRangeException(nameof(options), o.Perplexity, $"Perplexity must be in [1, n − 1) = [1, {n - 1}) for {n} points; about 30 suits a few hundred points, 5–10 a few dozen.");
        if (o.Iterations < 1) throw new ArgumentOutOfRangeException(nameof(options), o.Iterations, "t-SNE needs at least one iteration.");
        var lr = o.LearningRate ?? Math.Max(n / o.EarlyExaggeration / 4, 50);

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        double[] sq;
        using (var x = data.to(ScalarType.Float64))
        using (var dist = torch.cdist(x, x))
        using (var d2 = dist.square())
            sq = d2.contiguous().data<double>();
        var cond = ConditionalAffinities(sq, n, o.Perplexity);

        // P = (P_cond + P_condᵀ) / 2n, floored as sklearn does so log P stays finite.
        var pArr = new double[(long)n * n];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
                pArr[(long)i * n + j] = Math.Max((cond[(long)i * n + j] + cond[(long)j * n + i]) / (2.0 * n), 1e-12);
        var p = torch.from_span<double>(pArr, new long[] { n, n });
        var offDiag = torch.ones(new long[] { n, n }, ScalarType.Float64).sub(torch.eye(n, ScalarType.Float64));
        p = p.mul(offDiag);

        Tensor y, update, gains;
        using (var g = new Generator(o.Seed))
            y = torch.randn(new long[] { n, 2 }, g, ScalarType.Float64).mul(o.InitialStd).DetachFromDisposeScope();
        update = torch.zeros(new long[] { n, 2 }, ScalarType.Float64).DetachFromDisposeScope();
        gains = torch.ones(new long[] { n, 2 }, ScalarType.Float64).DetachFromDisposeScope();
        try
        {
            for (var it = 0; it < o.Iterations; it++)
            {
                using var step = torch.NewDisposeScope();
                var exaggeration = it < o.ExaggerationIterations ? o.EarlyExaggeration : 1.0;
                var momentum = it < o.ExaggerationIterations ? o.InitialMomentum : o.FinalMomentum;
                var (num, q) = StudentT(y, offDiag);
                // ∂C/∂y_i = 4 Σ_j (p_ij − q_ij)(y_i − y_j) / (1 + |y_i − y_j|²)
                var w = p.mul(exaggeration).sub(q).mul(num);
                var grad = w.sum(1, keepdim: true).mul(y).sub(w.mm(y)).mul(4);
                // Gains grow where the gradient opposes the last step and shrink where it agrees.
                var flip = grad.gt(0).ne(update.gt(0));
                var newGains = torch.where(flip, gains.add(0.2), gains.mul(0.8)).clamp(min: o.MinGain);
                var newUpdate = update.mul(momentum).sub(newGains.mul(grad).mul(lr));
                var newY = y.add(newUpdate);
                newY = newY.sub(newY.mean(0, keepdim: true));
                Swap(ref gains, newGains); Swap(ref update, newUpdate); Swap(ref y, newY);
            }
            double kl;
            using (torch.NewDisposeScope())
            {
                var (_, q) = StudentT(y, offDiag);
                kl = p.mul(p.clamp(min: 1e-12).div(q).log()).sum().item<double>();   // 0·log(ε/ε) = 0 on the diagonal
            }
            var coords = y.contiguous().data<double>();
            return new Embedding2D("tsne", Enumerable.Range(0, n).Select(i => coords[2 * i]).ToArray(),
                Enumerable.Range(0, n).Select(i => coords[2 * i + 1]).ToArray(),
                new Dictionary<string, double>
                {
                    ["kl_divergence"] = kl, ["perplexity"] = o.Perplexity, ["iterations"] = o.Iterations,
                    ["learning_rate"] = lr, ["early_exaggeration"] = o.EarlyExaggeration, ["seed"] = o.Seed,
                });
        }
        finally { y.Dispose(); update.Dispose(); gains.Dispose(); }

        static void Swap(ref Tensor keep, Tensor next)
        {
            keep.Dispose();
            keep = next.DetachFromDisposeScope();
        }
    }

    /// <summary>num_ij = 1 / (1 + |y_i − y_j|²) with a zero diagonal, and q = num / Σ num (floored at 1e-12).</summary>
    static (Tensor Num, Tensor Q) StudentT(Tensor y, Tensor offDiag)
    {
        var sumSq = y.square().sum(1, keepdim: true);
        var d2 = sumSq.add(sumSq.t()).sub(y.mm(y.t()).mul(2)).clamp(min: 0);
        var num = d2.add(1).pow(-1).mul(offDiag);
        var q = num.div(num.sum()).clamp(min: 1e-12);
        return (num, q);
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
