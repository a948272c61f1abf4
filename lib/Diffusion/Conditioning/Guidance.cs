using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Diffusion;

/// <summary>
/// What a sampling chain asks a conditional denoiser for: one normalised condition per latent
/// (<see cref="Condition"/>, z-scores [M]) and the guidance strength w of classifier-free guidance.
/// The caller owns the tensor.
/// </summary>
public sealed record GuidanceRequest(Tensor Condition, double Scale)
{
    /// <summary>The same request for latents [start, start + count) of the chain (generation in chunks).</summary>
    public GuidanceRequest Slice(long start, long count) => this with { Condition = Condition.narrow(0, start, count) };
}

/// <summary>
/// Classifier-free guidance (Ho &amp; Salimans, 2022): ε̂ = ε(x, t, ∅) + w·(ε(x, t, c) − ε(x, t, ∅)). w = 0 is the
/// unconditional model, w = 1 the conditional one, w &gt; 1 pushes further along the direction the condition
/// moves the prediction (sharper adherence, less diversity).
/// </summary>
public static class Guidance
{
    /// <summary>
    /// (1 − w)·ε_uncond + w·ε_cond, the guidance formula written so that w = 0 returns ε_uncond and w = 1
    /// returns ε_cond exactly (ε_uncond + w·(ε_cond − ε_uncond) would round at w = 1).
    /// </summary>
    public static Tensor Combine(Tensor unconditional, Tensor conditional, double scale)
    {
        if (!double.IsFinite(scale)) throw new ArgumentException($"The guidance strength must be finite; got {scale}.", nameof(scale));
        if (!unconditional.shape.SequenceEqual(conditional.shape))
            throw new ArgumentException($"Guidance: unconditional [{string.Join(", ", unconditional.shape)}] and conditional [{string.Join(", ", conditional.shape)}] predictions differ in shape.");
        using Scalar keep = 1 - scale, weight = scale;
        using var scaled = unconditional.mul(keep);
        return scaled.add(conditional, weight);
    }

    /// <summary>
    /// The guided noise prediction for latents x [B, D] at steps t [B] and conditions [B] (z-scores). w = 0 and
    /// w = 1 need one pass of the denoiser; any other w runs the conditional and the unconditional rows as
    /// one batch of 2B (the denoiser is in eval mode when sampling, so rows do not interact).
    /// </summary>
    public static Tensor Predict(Denoiser model, Tensor x, Tensor t, Tensor condition, double scale)
    {
        if (!model.IsConditional)
            throw new InvalidOperationException($"{model.GetType().Name} was built without a condition input: guidance needs a conditional denoiser (PDiffConfig.Condition).");
        if (!double.IsFinite(scale)) throw new ArgumentException($"The guidance strength must be finite; got {scale}.", nameof(scale));
        if (scale == 0) return model.ForwardConditional(x, t, null);
        if (scale == 1) return model.ForwardConditional(x, t, condition);
        using var scope = NewDisposeScope();
        var b = x.size(0);
        var keep = cat(new[] { ones(b, ScalarType.Bool), zeros(b, ScalarType.Bool) });
        var both = model.ForwardConditional(cat(new[] { x, x }), cat(new[] { t, t }), cat(new[] { condition, condition }), keep);
        return Combine(both.narrow(0, b, b), both.narrow(0, 0, b), scale).MoveToOuterDisposeScope();
    }
}
