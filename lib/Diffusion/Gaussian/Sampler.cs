using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Diffusion;

public enum SamplerKind { Ddpm, Ddim }

/// <summary>How latents are drawn: which reverse process, its steps and variance, and V1's clipping.</summary>
/// <param name="Kind">DDPM (every one of the T steps) or DDIM (<paramref name="Steps"/> steps).</param>
/// <param name="Variance">DDPM's σ²_t: V1 "fixedlarge", V2 "fixedsmall".</param>
/// <param name="Clip">Clamp x̂₀ (and, for DDPM, each x_{t−1}) to ±Clip, as V1 does for its tanh-bounded latents; null = no clamp (V2).</param>
/// <param name="Steps">DDIM steps (ignored by DDPM).</param>
/// <param name="Eta">DDIM's η: 0 deterministic, 1 the DDPM posterior variance.</param>
public sealed record SamplerOptions(SamplerKind Kind = SamplerKind.Ddpm, DdpmVariance Variance = DdpmVariance.FixedSmall,
    double? Clip = null, int Steps = 50, double Eta = 0.0);

/// <summary>
/// Runs a reverse chain for M latents at once (one batched chain: 200 models cost about as much as a
/// few, reference §6), from x_T ~ N(0, I). The denoiser runs in eval mode and without gradients; its
/// previous mode is restored afterwards. With a <see cref="GuidanceRequest"/> every step asks the conditional
/// denoiser for the classifier-free-guided prediction (<see cref="Guidance.Predict"/>) instead.
/// </summary>
public static class Sampler
{
    public static Tensor Sample(GaussianDiffusion diffusion, Denoiser model, long count, SamplerOptions options, Generator g,
        Action<int, int>? progress = null, GuidanceRequest? guidance = null)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "Sample at least one latent.");
        if (guidance is not null && (guidance.Condition.dim() != 1 || guidance.Condition.size(0) != count))
            throw new ArgumentException($"Sampler: expected one condition per latent, [{count}]; got [{string.Join(", ", guidance.Condition.shape)}].", nameof(guidance));
        var wasTraining = model.training;
        model.eval();
        try
        {
            using var _ = no_grad();
            using var chain = NewDisposeScope();
            var x = randn(new[] { count, model.LatentSize }, generator: g);
            var ts = options.Kind == SamplerKind.Ddpm ? Enumerable.Range(0, diffusion.T).Reverse().ToArray() : diffusion.DdimTimesteps(options.Steps);
            using var tt = empty(new[] { count }, ScalarType.Int64);
            for (var i = 0; i < ts.Length; i++)
            {
                var t = ts[i];
                Tensor next;
                using (var step = NewDisposeScope())
                {
                    using (Scalar time = t) tt.fill_(time);
                    var eps = guidance is null ? model.forward(x, tt) : Guidance.Predict(model, x, tt, guidance.Condition, guidance.Scale);
                    if (options.Kind == SamplerKind.Ddpm)
                    {
                        var z = t > 0 ? randn(x.shape, x.dtype, x.device, generator: g) : null;
                        next = diffusion.DdpmStep(x, t, eps, z, options.Variance, options.Clip);
                    }
                    else
                    {
                        var tPrev = i + 1 < ts.Length ? ts[i + 1] : -1;
                        var z = options.Eta > 0 ? randn(x.shape, x.dtype, x.device, generator: g) : null;
                        next = diffusion.DdimStep(x, t, tPrev, eps, options.Eta, z, options.Clip);
                    }
                    next.MoveToOuterDisposeScope();
                }
                x.Dispose();
                x = next;
                progress?.Invoke(i + 1, ts.Length);
            }
            using (var nan = x.isnan())
            using (var n = nan.sum())
                if (n.item<long>() > 0)
                    throw new InvalidOperationException($"The {options.Kind} sampler produced NaN latents ({n.item<long>()} values): the denoiser diverged; check its training loss.");
            return x.MoveToOuterDisposeScope();
        }
        finally
        {
            model.train(wasTraining);
        }
    }
}
