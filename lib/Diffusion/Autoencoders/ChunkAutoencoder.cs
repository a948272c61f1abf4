using PDiff.Models;
using PDiff.TorchFixes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Diffusion;

/// <summary>
/// An autoencoder for long vectors (whole networks): the vector, zero-padded to a multiple of the chunk length c,
/// is cut into N/c chunks; one linear layer shared by all chunks embeds each chunk in w numbers (a patch embedding,
/// the tokenisation RPG uses), and one linear layer maps the N/c·w numbers to the latent (d = 128). The decoder
/// mirrors it. Noise augmentation as V2's (additive, on the input and on the latent).
/// </summary>
/// <remarks>
/// Why not V2's <see cref="OneDimVAE"/> for whole networks: its five stride-2 convolutions cost about 162,000
/// multiply-adds per number at V2's widths, and narrowed to [8, 16, 32, 32, 8] they ran far below the machine's
/// matrix-multiply speed (libtorch 2.10's 1-D convolutions with few channels; measured in docs/design-notes.md,
/// "Whole networks are a subset like any other"). This one costs 2w + 2w·d/c multiply-adds per
/// number per encode + decode (384 at c = 64, w = 64, d = 128), all of it matrix products; it is linear in N, and
/// the latent has d numbers for every N, so the denoiser and the sampling chain do not grow with N.
/// Chunks are cut in vector order, i.e. along each tensor's flattened rows (the layout's order).
/// </remarks>
public sealed class ChunkAutoencoder : ParamAutoencoder
{
    readonly Linear chunkIn, toLatent, fromLatent, chunkOut;
    readonly long chunk, width, chunks, latentDim;

    public override long[] LatentShape => new[] { latentDim };

    /// <param name="chunk">Numbers per chunk (c).</param>
    /// <param name="width">Numbers each chunk is embedded in (w).</param>
    public ChunkAutoencoder(long inDim, Generator gen, long chunk = 64, long width = 32, long latentDim = 128,
        double inputNoise = 0.001, double latentNoise = 0.1)
        : base(inDim, inputNoise, latentNoise)
    {
        if (chunk < 1 || width < 1 || latentDim < 1)
            throw new ArgumentException($"ChunkAutoencoder: chunk length, chunk width and latent size must be ≥ 1 (got {chunk}, {width}, {latentDim}).");
        (this.chunk, this.width, this.latentDim) = (chunk, width, latentDim);
        chunks = (inDim + chunk - 1) / chunk;
        chunkIn = Layers.Linear(chunk, width, gen);
        toLatent = Layers.Linear(chunks * width, latentDim, gen);
        fromLatent = Layers.Linear(latentDim, chunks * width, gen);
        chunkOut = Layers.Linear(width, chunk, gen);
        register_module("chunk_in", chunkIn);
        register_module("to_latent", toLatent);
        register_module("from_latent", fromLatent);
        register_module("chunk_out", chunkOut);
    }

    /// <summary>Every layer is a matrix product: its weight's element count, times the chunks for the shared ones.</summary>
    public override (long Encode, long Decode)? MultiplyAddsPerVector =>
        (chunks * chunkIn.weight!.numel() + toLatent.weight!.numel(), fromLatent.weight!.numel() + chunks * chunkOut.weight!.numel());

    public override Tensor Encode(Tensor x)
    {
        CheckVectors(x, nameof(Encode));
        return EncodeUnchecked(x);
    }

    Tensor EncodeUnchecked(Tensor x)
    {
        using var scope = NewDisposeScope();
        var padded = chunks * chunk == InputLength ? x : F.pad(x, new[] { 0L, chunks * chunk - InputLength });
        var h = SafeOps.LeakyRelu(chunkIn.forward(padded.reshape(x.size(0), chunks, chunk)), 0.01);
        return toLatent.forward(h.reshape(x.size(0), chunks * width)).MoveToOuterDisposeScope();
    }

    public override Tensor Decode(Tensor z)
    {
        CheckLatents(z, nameof(Decode));
        using var scope = NewDisposeScope();
        var h = SafeOps.LeakyRelu(fromLatent.forward(z), 0.01).reshape(z.size(0), chunks, width);
        var y = chunkOut.forward(h).reshape(z.size(0), chunks * chunk);
        return (chunks * chunk == InputLength ? y : y.narrow(1, 0, InputLength).contiguous()).MoveToOuterDisposeScope();
    }

    public override Tensor TrainingLoss(Tensor x, Generator g, bool noisyTarget)
    {
        CheckVectors(x, nameof(TrainingLoss));
        return AdditiveNoiseLoss(x, g, noisyTarget, EncodeUnchecked);
    }
}
