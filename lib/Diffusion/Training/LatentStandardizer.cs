using PDiff.TorchFixes;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Diffusion;

/// <summary>
/// Standardised latents for the diffusion (<see cref="PDiffConfig.StandardizeLatents"/>): the autoencoder's latents of
/// the training zoo are centred per dimension and divided by one standard deviation over all of them, so the
/// diffusion sees data of unit scale, as its N(0, I) end point assumes. V2 diffuses the raw latents, which are
/// unbounded (pdiff-reference §8-35, where the upstream maintainers suggest rescaling them). On whole networks
/// (notebook 08) the sampled latents spread several times wider than the originals'. One scale for all dimensions, not one each:
/// a zoo of 16 networks gives 16 latents, too few to estimate 128 separate spreads without inflating the noisy ones.
/// Its two buffers are part of the model's state (saved, checkpointed, restored with it).
/// </summary>
public sealed class LatentStandardizer : nn.Module
{
    readonly Tensor mean, scale;

    /// <param name="latentShape">The shape of one latent (the autoencoder's LatentShape).</param>
    public LatentStandardizer(long[] latentShape) : base(nameof(LatentStandardizer))
    {
        mean = zeros(latentShape);
        scale = ones(1);
        register_buffer("mean", mean);
        register_buffer("scale", scale);
    }

    public Tensor Mean => mean;
    public double Scale => scale.item<float>();

    /// <summary>Fits the centre and scale to <paramref name="latents"/> [K, latent...] (K ≥ 2, finite, not all equal).</summary>
    public void Fit(Tensor latents)
    {
        if (latents.dim() != mean.dim() + 1 || !latents.shape.Skip(1).SequenceEqual(mean.shape))
            throw new ArgumentException($"LatentStandardizer.Fit: latents must be [K, {string.Join(", ", mean.shape)}]; got [{string.Join(", ", latents.shape)}].", nameof(latents));
        if (latents.size(0) < 2) throw new ArgumentException($"LatentStandardizer.Fit: need at least 2 latents to measure a spread; got {latents.size(0)}.", nameof(latents));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var centre = latents.mean(new long[] { 0 });
        var std = latents.sub(centre).Squared().mean().sqrt().item<float>();
        if (!float.IsFinite(std) || std <= 0)
            throw new ArgumentException($"LatentStandardizer.Fit: the latents' spread is {std}; they must be finite and not all equal.", nameof(latents));
        mean.copy_(centre);
        using Scalar spread = std;
        scale.fill_(spread);
    }

    /// <summary>Autoencoder latents [B, latent...] → the diffusion's standardised space.</summary>
    public Tensor ToDiffusion(Tensor z) => z.sub(mean).div(scale);

    /// <summary>The diffusion's standardised latents [B, latent...] → the autoencoder's latent space.</summary>
    public Tensor FromDiffusion(Tensor x) => x.mul(scale).Plus(mean);
}
