using PDiff.Nn;
using PDiff.Torch;

namespace PDiff.Diffusion;

/// <summary>A noise predictor ε̂(x_t, t) on flattened latents: x [B, D] float, t [B] int64 → ε̂ [B, D].</summary>
public abstract class Denoiser : Module
{
    protected Denoiser(long latentSize)
    {
        if (latentSize < 1) throw new ArgumentOutOfRangeException(nameof(latentSize), latentSize, "Latents need at least one value.");
        LatentSize = latentSize;
    }

    /// <summary>D, the length of the latent vectors.</summary>
    public long LatentSize { get; }

    public abstract Tensor forward(Tensor x, Tensor t);

    protected void Check(Tensor x, Tensor t)
    {
        if (x.dim() != 2 || x.size(1) != LatentSize)
            throw new ArgumentException($"{GetType().Name}: expected latents [B, {LatentSize}]; got {TorchException.ShapeString(x.shape)}.");
        if (t.dim() != 1 || t.size(0) != x.size(0) || t.dtype != ScalarType.Int64)
            throw new ArgumentException($"{GetType().Name}: expected one int64 timestep per latent, [{x.size(0)}]; got {TorchException.ShapeString(t.shape)} {t.dtype.Name()}.");
    }
}
