using PDiff.Nn;
using PDiff.Torch;
using F = PDiff.Torch.torch.nn.functional;

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
/// The decoder's transposed convolutions run through <see cref="ConvTransposePolyphase"/>.
/// </remarks>
public sealed class OneDimVAE : ParamAutoencoder
{
    readonly ModuleList<Module> encConvs, encNorms, decConvs, decNorms;
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

        encConvs = RegisterModule("enc_convs", new ModuleList<Module>());
        encNorms = RegisterModule("enc_norms", new ModuleList<Module>());
        long cin = 1;
        foreach (var c in ch)
        {
            encConvs.Add(new Conv1d(cin, c, kernel, gen, 2, pad));
            encNorms.Add(new BatchNorm1d(c));
            cin = c;
        }
        toLatent = RegisterModule("to_latent", new Linear(lastLength * lastChannels, latentDim, gen));
        fcMu = RegisterModule("fc_mu", new Linear(latentDim, latentDim, gen));
        fcVar = RegisterModule("fc_var", new Linear(latentDim, latentDim, gen));
        toDecode = RegisterModule("to_decode", new Linear(latentDim, lastLength * lastChannels, gen));

        decConvs = RegisterModule("dec_convs", new ModuleList<Module>());
        decNorms = RegisterModule("dec_norms", new ModuleList<Module>());
        var rev = ch.Reverse().ToArray();
        for (var i = 0; i < rev.Length; i++)
        {
            var cout = i + 1 < rev.Length ? rev[i + 1] : rev[^1];
            decConvs.Add(new ConvTranspose1d(rev[i], cout, kernel, gen, 2, pad, 1));
            decNorms.Add(new BatchNorm1d(cout));
        }
        finalConv = RegisterModule("final_conv", new Conv1d(rev[^1], 1, kernel, gen, 1, pad));
    }

    /// <summary>Run on channels-last [B, C, 1, L] activations (faster on CPU; same values). False: plain 1-D ops.</summary>
    public bool UseChannelsLast { get; set; } = true;

    /// <summary>BN over the batch (training, or V2's never-eval encode), running stats, or each sample on its own.</summary>
    Tensor Norm(BatchNorm1d bn, Tensor h)
    {
        if (training || InferenceNorm == AeInferenceNorm.Eval) return UseChannelsLast ? ChannelsLast.BatchNorm(h, bn) : bn.forward(h);
        // A batch of one in train mode normalises each channel over the length with the biased variance,
        // i.e. instance norm with BN's affine parameters; V2 works on a copy, so running stats stay put.
        return ChannelsLast.PerSampleNorm(h, bn);
    }

    Tensor Conv(Module m, Tensor h) => m switch
    {
        Conv1d c when UseChannelsLast => ChannelsLast.Conv(h, c),
        ConvTranspose1d t when UseChannelsLast => ChannelsLast.ConvTranspose(h, t),
        _ => m.forward(h),
    };

    public override Tensor Encode(Tensor x)
    {
        CheckVectors(x, nameof(Encode));
        return EncodeUnchecked(x);
    }

    Tensor EncodeUnchecked(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = x.unsqueeze(1);
        if (paddedLength != InputLength) h = F.pad(h, new[] { 0L, paddedLength - InputLength });
        if (UseChannelsLast) h = ChannelsLast.From3d(h);
        for (var i = 0; i < encConvs.Count; i++)
            h = F.leaky_relu(Norm((BatchNorm1d)encNorms[i], Conv(encConvs[i], h)), 0.01);
        var mu = fcMu.forward(toLatent.forward(h.flatten(1)));          // flatten is logical: [C, (1,) L] order either way
        return mu.MoveToOuterDisposeScope();
    }

    public override Tensor Decode(Tensor z)
    {
        CheckLatents(z, nameof(Decode));
        using var scope = torch.NewDisposeScope();
        var h = toDecode.forward(z).view(z.size(0), lastChannels, lastLength);
        if (UseChannelsLast) h = ChannelsLast.From3d(h);
        for (var i = 0; i < decConvs.Count; i++)
            h = F.elu(Norm((BatchNorm1d)decNorms[i], Conv(decConvs[i], h)), 1.0);
        var y = Conv(finalConv, h);
        y = UseChannelsLast ? y.select(2, 0).select(1, 0) : y.select(1, 0);
        y = paddedLength != InputLength ? y.narrow(1, 0, InputLength).contiguous() : y.contiguous();
        return y.MoveToOuterDisposeScope();
    }

    public override Tensor TrainingLoss(Tensor x, Generator g, bool noisyTarget)
    {
        CheckVectors(x, nameof(TrainingLoss));
        using var scope = torch.NewDisposeScope();
        var noised = InputNoise == 0 ? x : x.add(torch.randn_like(x, g), InputNoise);
        var z = EncodeUnchecked(noised);
        if (LatentNoise != 0) z = z.add(torch.randn_like(z, g), LatentNoise);
        var recon = Decode(z);
        return F.mse_loss(recon, noisyTarget ? noised : x).MoveToOuterDisposeScope();
    }
}
