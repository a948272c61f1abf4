using PDiff.TorchFixes;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Diffusion;

/// <summary>The variance of DDPM's reverse step.</summary>
public enum DdpmVariance
{
    /// <summary>σ²_t = β_t (V1, "fixedlarge").</summary>
    FixedLarge,
    /// <summary>σ²_t = β_t·(1 − ᾱ_{t−1})/(1 − ᾱ_t), the true posterior variance (V2, "fixedsmall").</summary>
    FixedSmall,
}

/// <summary>
/// Gaussian diffusion on flat latents [B, D] with ε-prediction (reference §3): a linear β schedule,
/// the forward noising q(x_t | x_0), the training loss, and the reverse updates of DDPM and DDIM.
/// Schedule constants are computed in float64 on the host; t runs 0 … T − 1, and ᾱ_{−1} = 1.
/// </summary>
public sealed class GaussianDiffusion : IDisposable
{
    public int T { get; }
    public double[] Betas { get; }
    public double[] Alphas { get; }
    public double[] AlphaBars { get; }
    readonly Tensor sqrtAbar, sqrt1mAbar;

    /// <summary>Linear betas from <paramref name="betaStart"/> to <paramref name="betaEnd"/> over <paramref name="timesteps"/> steps (both reference versions: 1e-4 → 2e-2, T = 1000).</summary>
    public GaussianDiffusion(int timesteps = 1000, double betaStart = 1e-4, double betaEnd = 2e-2)
    {
        if (timesteps < 1) throw new ArgumentOutOfRangeException(nameof(timesteps), timesteps, "The diffusion needs at least one step.");
        if (!(betaStart > 0) || !(betaEnd < 1) || betaEnd < betaStart)
            throw new ArgumentException($"Betas must satisfy 0 < start ≤ end < 1; got {betaStart} → {betaEnd}.");
        T = timesteps;
        Betas = new double[T];
        Alphas = new double[T];
        AlphaBars = new double[T];
        double prod = 1;
        for (var i = 0; i < T; i++)
        {
            Betas[i] = T == 1 ? betaStart : betaStart + (betaEnd - betaStart) * i / (T - 1);
            Alphas[i] = 1 - Betas[i];
            prod *= Alphas[i];
            AlphaBars[i] = prod;
        }
        sqrtAbar = tensor(AlphaBars.Select(a => (float)Math.Sqrt(a)).ToArray()).DetachFromDisposeScope();
        sqrt1mAbar = tensor(AlphaBars.Select(a => (float)Math.Sqrt(1 - a)).ToArray()).DetachFromDisposeScope();
    }

    /// <summary>ᾱ_t, with ᾱ_{−1} = 1 (the clean end of the chain).</summary>
    public double AlphaBar(int t) => t < 0 ? 1.0 : AlphaBars[t];

    /// <summary>x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε, one t per row.</summary>
    public Tensor QSample(Tensor x0, Tensor t, Tensor noise)
    {
        if (x0.dim() != 2 || t.dim() != 1 || t.size(0) != x0.size(0))
            throw new ArgumentException($"QSample: expected x0 [B, D] and t [B]; got [{string.Join(", ", x0.shape)}] and [{string.Join(", ", t.shape)}].");
        using var scope = NewDisposeScope();
        var a = sqrtAbar.index_select(0, t).unsqueeze(1);
        var b = sqrt1mAbar.index_select(0, t).unsqueeze(1);
        return x0.mul(a).Plus(noise.mul(b)).MoveToOuterDisposeScope();
    }

    /// <summary>ε-prediction loss: t ~ U{0 … T−1}, ε ~ N(0, I), MSE(ε̂(x_t, t), ε) with mean reduction.</summary>
    public Tensor TrainingLoss(Denoiser model, Tensor x0, Generator g)
    {
        using var scope = NewDisposeScope();
        var t = randint(0, T, new[] { x0.size(0) }, generator: g);
        var noise = randn(x0.shape, x0.dtype, x0.device, generator: g);
        var xt = QSample(x0, t, noise);
        return F.mse_loss(model.forward(xt, t), noise).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The same loss for a conditional denoiser: each row's condition (z-scores [B]) is dropped — replaced by the
    /// null embedding — with probability <paramref name="dropProbability"/>, so the one network also learns
    /// ε(x_t, t, ∅) for classifier-free guidance. Draws t, ε, then the drop mask from <paramref name="g"/>.
    /// </summary>
    public Tensor ConditionalTrainingLoss(Denoiser model, Tensor x0, Tensor condition, double dropProbability, Generator g)
    {
        if (!(dropProbability >= 0 && dropProbability < 1))
            throw new ArgumentOutOfRangeException(nameof(dropProbability), dropProbability, "The condition-drop probability must lie in [0, 1).");
        using var scope = NewDisposeScope();
        var t = randint(0, T, new[] { x0.size(0) }, generator: g);
        var noise = randn(x0.shape, x0.dtype, x0.device, generator: g);
        using Scalar drop = dropProbability;
        var keep = rand(new[] { x0.size(0) }, generator: g).ge(drop);
        var xt = QSample(x0, t, noise);
        return F.mse_loss(model.ForwardConditional(xt, t, condition, keep), noise).MoveToOuterDisposeScope();
    }

    // ---- one reverse step each (public so tests can check them against hand computations) ----

    /// <summary>x̂₀ = (x_t − √(1 − ᾱ_t)·ε̂)/√ᾱ_t, optionally clamped to ±<paramref name="clip"/>.</summary>
    public Tensor PredictX0(Tensor xt, int t, Tensor epsHat, double? clip)
    {
        var ab = AlphaBars[t];
        using Scalar inverse = 1 / Math.Sqrt(ab), noiseWeight = -Math.Sqrt(1 / ab - 1);
        using var scaled = xt.mul(inverse);
        var x0 = scaled.add(epsHat, noiseWeight);
        if (clip is { } c)
        {
            using Scalar low = -c, high = c;
            x0.clamp_(low, high);
        }
        return x0;
    }

    /// <summary>
    /// DDPM: x_{t−1} = μ(x_t, x̂₀) + σ_t·z (no noise at t = 0). Without clipping this is Ho et al.'s
    /// (x_t − β_t/√(1 − ᾱ_t)·ε̂)/√α_t + σ_t·z (V2). With <paramref name="clip"/>, V1: x̂₀ and the result
    /// are clamped to ±clip and μ = c1·x̂₀ + c2·x_t.
    /// </summary>
    public Tensor DdpmStep(Tensor xt, int t, Tensor epsHat, Tensor? z, DdpmVariance variance, double? clip)
    {
        using var scope = NewDisposeScope();
        var (beta, alpha, ab, abPrev) = (Betas[t], Alphas[t], AlphaBars[t], AlphaBar(t - 1));
        Tensor mean;
        if (clip is null)
        {
            using Scalar noiseWeight = -beta / Math.Sqrt(1 - ab), inverse = 1 / Math.Sqrt(alpha);
            mean = xt.add(epsHat, noiseWeight).mul(inverse);
        }
        else
        {
            var x0 = PredictX0(xt, t, epsHat, clip);
            using Scalar c1 = beta * Math.Sqrt(abPrev) / (1 - ab), c2 = (1 - abPrev) * Math.Sqrt(alpha) / (1 - ab);
            mean = x0.mul(c1).add(xt, c2);
        }
        if (t > 0)
        {
            if (z is null) throw new ArgumentNullException(nameof(z), $"DDPM step at t = {t} needs noise z.");
            var var = variance == DdpmVariance.FixedLarge ? beta : beta * (1 - abPrev) / (1 - ab);
            using Scalar sigma = Math.Sqrt(var);
            mean = mean.add(z, sigma);
        }
        if (clip is { } c)
        {
            using Scalar low = -c, high = c;
            mean = mean.clamp(low, high);
        }
        return mean.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// DDIM from t to <paramref name="tPrev"/> (−1 = the clean end, ᾱ = 1):
    /// x_prev = √ᾱ_prev·x̂₀ + √(1 − ᾱ_prev − σ²)·ε̂ + σ·z, σ = η·√((1 − ᾱ_prev)/(1 − ᾱ_t))·√(1 − ᾱ_t/ᾱ_prev).
    /// With clipping, ε̂ is recomputed from the clamped x̂₀ so the two stay consistent.
    /// </summary>
    public Tensor DdimStep(Tensor xt, int t, int tPrev, Tensor epsHat, double eta, Tensor? z, double? clip)
    {
        if (tPrev >= t) throw new ArgumentException($"DDIM steps go down: t = {t}, previous {tPrev}.");
        using var scope = NewDisposeScope();
        var (ab, abPrev) = (AlphaBars[t], AlphaBar(tPrev));
        var x0 = PredictX0(xt, t, epsHat, clip);
        using Scalar minusSqrtAb = -Math.Sqrt(ab), inverse = 1 / Math.Sqrt(1 - ab);
        var eps = clip is null ? epsHat : xt.add(x0, minusSqrtAb).mul(inverse);
        var sigma = eta * Math.Sqrt((1 - abPrev) / (1 - ab)) * Math.Sqrt(1 - ab / abPrev);
        var dir = Math.Sqrt(Math.Max(0, 1 - abPrev - sigma * sigma));
        using Scalar sqrtAbPrev = Math.Sqrt(abPrev), dirWeight = dir, sigmaWeight = sigma;
        var next = x0.mul(sqrtAbPrev).add(eps, dirWeight);
        if (sigma > 0)
        {
            if (z is null) throw new ArgumentNullException(nameof(z), $"DDIM step with η = {eta} at t = {t} needs noise z.");
            next = next.add(z, sigmaWeight);
        }
        return next.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// DDIM's timesteps, "trailing" spacing: t_i = round(T − i·T/S) − 1 for i = 0 … S − 1, so the chain
    /// starts at T − 1 and its last step lands on ᾱ = 1. (V2's spacing starts at 945 for S = 60 and stops
    /// at t = 0, reference §8-29.) S = T gives every step.
    /// </summary>
    public int[] DdimTimesteps(int steps)
    {
        if (steps < 1 || steps > T) throw new ArgumentOutOfRangeException(nameof(steps), steps, $"DDIM needs 1 … T = {T} steps.");
        var ts = new int[steps];
        for (var i = 0; i < steps; i++) ts[i] = (int)Math.Round(T - (double)i * T / steps, MidpointRounding.AwayFromZero) - 1;
        return ts;
    }

    public void Dispose()
    {
        sqrtAbar.Dispose();
        sqrt1mAbar.Dispose();
    }
}
