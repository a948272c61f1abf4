using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Diffusion;

/// <summary>
/// What BatchNorm layers of an autoencoder do outside training (switch for reference §8-19). V2 never
/// calls eval(): its latents come from train-mode BN over batches of 50 and each generated model is
/// decoded alone, so every BN normalises one sample over its length.
/// </summary>
public enum AeInferenceNorm
{
    /// <summary>Corrected: eval mode, the running statistics learned in training.</summary>
    Eval,
    /// <summary>Faithful to V2: batch statistics of each sample on its own (BN over a batch of 1), running stats untouched.</summary>
    PerSample,
}

/// <summary>
/// A parameter autoencoder: flat (normalised) parameter vectors [B, N] ↔ latents, trained with noise
/// augmentation on its input and on its latent. Latents cross this interface flattened, [B, D]; the
/// diffusion model never needs their inner shape.
/// </summary>
public abstract class ParamAutoencoder : nn.Module
{
    protected ParamAutoencoder(long inputLength, double inputNoise, double latentNoise) : base(nameof(ParamAutoencoder))
    {
        if (inputLength < 1) throw new ArgumentOutOfRangeException(nameof(inputLength), inputLength, "Parameter vectors need at least one number.");
        if (inputNoise < 0 || latentNoise < 0) throw new ArgumentOutOfRangeException(nameof(inputNoise), $"Noise amounts must be ≥ 0 (input {inputNoise}, latent {latentNoise}); 0 turns one off.");
        (InputLength, InputNoise, LatentNoise) = (inputLength, inputNoise, latentNoise);
    }

    /// <summary>N, the length of the parameter vectors.</summary>
    public long InputLength { get; }
    /// <summary>The latent's own shape (V1 [4, 3], V2 [128]).</summary>
    public abstract long[] LatentShape { get; }
    /// <summary>D, the number of latent values.</summary>
    public long LatentSize => LatentShape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Amount of input-noise augmentation in training (0 = off).</summary>
    public double InputNoise { get; }
    /// <summary>Amount of latent-noise augmentation in training (0 = off).</summary>
    public double LatentNoise { get; }
    /// <summary>How BatchNorm layers behave outside training (irrelevant to norm-free autoencoders).</summary>
    public AeInferenceNorm InferenceNorm { get; set; } = AeInferenceNorm.Eval;

    // Children are registered by hand under the reference's names; TorchSharp's reflective registration
    // (run when this module becomes someone's child) would add them again under the C# field names.
    protected override void RegisterComponents() { }

    /// <summary>
    /// Multiply-adds of one vector's encode and decode (convolutions and linear layers; norms and activations,
    /// a few operations an element, are left out), for the cost accounting of a run; null where not counted.
    /// </summary>
    public virtual (long Encode, long Decode)? MultiplyAddsPerVector => null;

    /// <summary>Latents [B, D] of clean vectors [B, N], without noise.</summary>
    public abstract Tensor Encode(Tensor x);

    /// <summary>Vectors [B, N] from latents [B, D].</summary>
    public abstract Tensor Decode(Tensor z);

    /// <summary>
    /// One training forward with the autoencoder's noise augmentation, returning the reconstruction
    /// (MSE) loss. <paramref name="noisyTarget"/> compares with the noised input, as V2 does (its noise is
    /// added in place); otherwise with the clean input, as V1 does.
    /// </summary>
    public abstract Tensor TrainingLoss(Tensor x, Generator g, bool noisyTarget);

    /// <summary>
    /// V2's augmentation, shared by the autoencoders that add their noise: σ_in·ε on the input, σ_z·ε on the latent
    /// (<paramref name="encode"/> of the noised input), then the MSE of the decode to the clean or the noised input.
    /// </summary>
    protected Tensor AdditiveNoiseLoss(Tensor x, Generator g, bool noisyTarget, Func<Tensor, Tensor> encode)
    {
        using var scope = NewDisposeScope();
        using Scalar inputNoise = InputNoise, latentNoise = LatentNoise;
        var noised = InputNoise == 0 ? x : x.add(randn(x.shape, x.dtype, x.device, generator: g), inputNoise);
        var z = encode(noised);
        if (LatentNoise != 0) z = z.add(randn(z.shape, z.dtype, z.device, generator: g), latentNoise);
        return nn.functional.mse_loss(Decode(z), noisyTarget ? noised : x).MoveToOuterDisposeScope();
    }

    protected void CheckVectors(Tensor x, string op)
    {
        if (x.dim() != 2 || x.size(1) != InputLength)
            throw new ArgumentException($"{GetType().Name}.{op}: expected vectors [B, {InputLength}]; got [{string.Join(", ", x.shape)}].");
    }

    protected void CheckLatents(Tensor z, string op)
    {
        if (z.dim() != 2 || z.size(1) != LatentSize)
            throw new ArgumentException($"{GetType().Name}.{op}: expected latents [B, {LatentSize}] (shape [{string.Join(", ", LatentShape)}] flattened); got [{string.Join(", ", z.shape)}].");
    }
}
