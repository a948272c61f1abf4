using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Diffusion;

/// <summary>A noise predictor ε̂(x_t, t) on flattened latents: x [B, D] float, t [B] int64 → ε̂ [B, D].</summary>
/// <remarks>Subclasses implement <c>forward(x, t)</c> and register their children explicitly, with PyTorch's names.</remarks>
public abstract class Denoiser : nn.Module<Tensor, Tensor, Tensor>
{
    protected Denoiser(long latentSize) : base(nameof(Denoiser))
    {
        if (latentSize < 1) throw new ArgumentOutOfRangeException(nameof(latentSize), latentSize, "Latents need at least one value.");
        LatentSize = latentSize;
    }

    /// <summary>D, the length of the latent vectors.</summary>
    public long LatentSize { get; }

    /// <summary>Whether the denoiser takes a condition (<see cref="ForwardConditional"/>); plain p-diff denoisers do not.</summary>
    public virtual bool IsConditional => false;

    /// <summary>
    /// ε̂(x_t, t, c) for conditions c [B] (normalised, float): rows where <paramref name="keep"/> is false, or every
    /// row when <paramref name="condition"/> is null, get the learned "no condition" embedding (classifier-free
    /// guidance). Only conditional denoisers implement it.
    /// </summary>
    public virtual Tensor ForwardConditional(Tensor x, Tensor t, Tensor? condition, Tensor? keep = null) =>
        throw new InvalidOperationException($"{GetType().Name} was built without a condition input; build it conditional (PDiffConfig.Condition) to pass conditions.");

    /// <summary>Multiply-adds of one forward on one latent (convolutions and linear layers), for cost accounting; null where not counted.</summary>
    public virtual long? MultiplyAddsPerSample => null;

    // Children are registered by hand under the reference's names; TorchSharp's reflective registration
    // (run when this module becomes someone's child) would add them again under the C# field names.
    protected override void RegisterComponents() { }

    protected void Check(Tensor x, Tensor t)
    {
        if (x.dim() != 2 || x.size(1) != LatentSize)
            throw new ArgumentException($"{GetType().Name}: expected latents [B, {LatentSize}]; got [{string.Join(", ", x.shape)}].");
        if (t.dim() != 1 || t.size(0) != x.size(0) || t.dtype != ScalarType.Int64)
            throw new ArgumentException($"{GetType().Name}: expected one int64 timestep per latent, [{x.size(0)}]; got [{string.Join(", ", t.shape)}] {t.dtype}.");
    }
}
