using PDiff.Models;
using PDiff.TorchFixes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Diffusion;

/// <summary>
/// V2's <c>OneDimVAE</c> (reference §2.3), used as V2 uses it: a deterministic autoencoder with additive
/// noise augmentation (KL weight 0, the learned variance overridden), latent μ ∈ R^d.
/// Encoder: five blocks Conv1d(k7, stride 2, pad 3) → BatchNorm1d → LeakyReLU halve the length to
/// L = ⌈N/64⌉·64/32, then Linear(32·L → d) and fc_mu. Decoder: Linear(d → 32·L), four blocks
/// ConvTranspose1d(k7, s2, p3, output_padding 1) → BN → ELU, a fifth at 64 channels, then Conv1d(64 → 1).
/// </summary>
/// <remarks>
/// <c>fc_var</c> is kept (its weights are in V2's state dicts and parameter count, 2,199,201 for
/// N = 2048) but never used. Vectors whose length is not a multiple of 64 are zero-padded, as V2 pads.
/// The layers keep their 1-D parameter shapes. Activations run in PyTorch's [B, C, L] layout by default;
/// <see cref="UseChannelsLast"/> switches to [B, C, 1, L] channels-last (<see cref="ChannelsLast"/>), same values.
/// </remarks>
public sealed class OneDimVAE : ParamAutoencoder
{
    readonly ModuleList<Conv1d> encConvs;
    readonly ModuleList<ConvTranspose1d> decConvs;
    readonly ModuleList<BatchNorm1d> encNorms, decNorms;
    readonly Linear toLatent, fcMu, fcVar, toDecode;
    readonly Conv1d finalConv;
    readonly long paddedLength, lastLength, lastChannels, latentDim;

    public override long[] LatentShape => new[] { latentDim };

    public OneDimVAE(long inDim, Generator gen, long[]? channels = null, long latentDim = 128, long kernel = 7,
        double inputNoise = 0.001, double latentNoise = 0.1)
        : base(inDim, inputNoise, latentNoise)
    {
        var ch = channels ?? new long[] { 64, 128, 256, 256, 32 };
        if (ch.Length == 0 || kernel % 2 == 0) throw new ArgumentException($"OneDimVAE: give ≥ 1 channel counts and an odd kernel (got {ch.Length} channels, kernel {kernel}).");
        var down = 1L << ch.Length;
        paddedLength = (inDim + 63) / 64 * 64;
        if (paddedLength % down != 0) throw new ArgumentException($"OneDimVAE: padded length {paddedLength} does not halve {ch.Length} times.");
        (lastLength, lastChannels, this.latentDim) = (paddedLength / down, ch[^1], latentDim);
        var pad = kernel / 2;

        // Built in the reference's order, so the seeded draws and the state-dict names follow it.
        var ec = new List<Conv1d>();
        var en = new List<BatchNorm1d>();
        long cin = 1;
        foreach (var c in ch)
        {
            ec.Add(Layers.Conv1d(cin, c, kernel, gen, 2, pad));
            en.Add(nn.BatchNorm1d(c));
            cin = c;
        }
        (encConvs, encNorms) = (new ModuleList<Conv1d>(ec.ToArray()), new ModuleList<BatchNorm1d>(en.ToArray()));
        register_module("enc_convs", encConvs);
        register_module("enc_norms", encNorms);
        toLatent = Layers.Linear(lastLength * lastChannels, latentDim, gen);
        fcMu = Layers.Linear(latentDim, latentDim, gen);
        fcVar = Layers.Linear(latentDim, latentDim, gen);
        toDecode = Layers.Linear(latentDim, lastLength * lastChannels, gen);
        register_module("to_latent", toLatent);
        register_module("fc_mu", fcMu);
        register_module("fc_var", fcVar);
        register_module("to_decode", toDecode);

        var dc = new List<ConvTranspose1d>();
        var dn = new List<BatchNorm1d>();
        var rev = ch.Reverse().ToArray();
        for (var i = 0; i < rev.Length; i++)
        {
            var cout = i + 1 < rev.Length ? rev[i + 1] : rev[^1];
            dc.Add(Layers.ConvTranspose1d(rev[i], cout, kernel, gen, 2, pad, 1));
            dn.Add(nn.BatchNorm1d(cout));
        }
        (decConvs, decNorms) = (new ModuleList<ConvTranspose1d>(dc.ToArray()), new ModuleList<BatchNorm1d>(dn.ToArray()));
        register_module("dec_convs", decConvs);
        register_module("dec_norms", decNorms);
        finalConv = Layers.Conv1d(rev[^1], 1, kernel, gen, 1, pad);
        register_module("final_conv", finalConv);
    }

    /// <summary>
    /// A convolution costs (output length) × c_in·c_out·k, a transposed one (input length) × c_in·c_out·k: the
    /// weight's element count times the positions it is applied at. Lengths halve down the encoder from the padded N
    /// and double up the decoder from L.
    /// </summary>
    public override (long Encode, long Decode)? MultiplyAddsPerVector
    {
        get
        {
            long enc = 0, dec = 0, length = paddedLength;
            foreach (var c in encConvs) { length /= 2; enc += length * c.weight!.numel(); }
            enc += toLatent.weight!.numel() + fcMu.weight!.numel();
            dec += toDecode.weight!.numel();
            length = lastLength;
            foreach (var t in decConvs) { dec += length * t.weight!.numel(); length *= 2; }
            dec += length * finalConv.weight!.numel();
            return (enc, dec);
        }
    }

    /// <summary>
    /// Run on channels-last [B, C, 1, L] activations instead of plain 1-D ops (same values). Off by default:
    /// with libtorch 2.10 the plain layout measured faster, in training and in decoding (bench/README.md).
    /// </summary>
    public bool UseChannelsLast { get; set; }

    /// <summary>BN over the batch (training, or V2's never-eval encode), running stats, or each sample on its own.</summary>
    Tensor Norm(BatchNorm1d bn, Tensor h)
    {
        if (training || InferenceNorm == AeInferenceNorm.Eval) return UseChannelsLast ? ChannelsLast.BatchNorm(h, bn) : SafeOps.BatchNorm(bn, h);
        // A batch of one in train mode normalises each channel over the length with the biased variance,
        // i.e. instance norm with BN's affine parameters; V2 works on a copy, so running stats stay put.
        return ChannelsLast.PerSampleNorm(h, bn);
    }

    // Both layouts go through SafeConv (libtorch 2.10 kernels to avoid); [B, C, 1, L] runs channels-last.
    static Tensor Conv(Conv1d c, Tensor h) => SafeConv.Conv(h, c);
    static Tensor ConvT(ConvTranspose1d t, Tensor h) => SafeConv.ConvTranspose(h, t);

    public override Tensor Encode(Tensor x)
    {
        CheckVectors(x, nameof(Encode));
        return EncodeUnchecked(x);
    }

    Tensor EncodeUnchecked(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x.unsqueeze(1);
        if (paddedLength != InputLength) h = F.pad(h, new[] { 0L, paddedLength - InputLength });
        if (UseChannelsLast) h = ChannelsLast.From3d(h);
        for (var i = 0; i < encConvs.Count; i++)
            h = SafeOps.LeakyRelu(Norm(encNorms[i], Conv(encConvs[i], h)), 0.01, inplace: true);   // BN's backward needs its input only
        var mu = fcMu.forward(toLatent.forward(h.flatten(1)));          // flatten is logical: [C, (1,) L] order either way
        return mu.MoveToOuterDisposeScope();
    }

    public override Tensor Decode(Tensor z)
    {
        CheckLatents(z, nameof(Decode));
        using var scope = NewDisposeScope();
        var h = toDecode.forward(z).view(z.size(0), lastChannels, lastLength);
        if (UseChannelsLast) h = ChannelsLast.From3d(h);
        for (var i = 0; i < decConvs.Count; i++)
            h = SafeOps.Elu(Norm(decNorms[i], ConvT(decConvs[i], h)), 1.0);
        var y = Conv(finalConv, h);
        y = UseChannelsLast ? y.select(2, 0).select(1, 0) : y.select(1, 0);
        y = paddedLength != InputLength ? y.narrow(1, 0, InputLength).contiguous() : y.contiguous();
        return y.MoveToOuterDisposeScope();
    }

    public override Tensor TrainingLoss(Tensor x, Generator g, bool noisyTarget)
    {
        CheckVectors(x, nameof(TrainingLoss));
        return AdditiveNoiseLoss(x, g, noisyTarget, EncodeUnchecked);
    }
}
