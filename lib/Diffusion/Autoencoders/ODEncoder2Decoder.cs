using PDiff.Models;
using PDiff.TorchFixes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Diffusion;

/// <summary>
/// V1's parameter autoencoder (reference §2.1): instance-normalised 1-D convolutions that fold the
/// zero-padded vector by <c>fold</c> per layer down to a tanh-bounded latent, and a transposed-conv
/// decoder back up; the output is cropped to N. Noise is V1's interpolation (1−f)·x + f·ε on the input
/// and (clamped to [−1, 1]) on the latent, applied in training only through <see cref="TrainingLoss"/>.
/// </summary>
/// <remarks>
/// Padding rule, stated by the reference for the medium preset (k = 5): the stride-1 encoder convs use
/// (k − 3)/2 (length − 2), the decoder convs k − 1 (length + k − 1) and the last decoder conv k
/// (length + k + 1). The input is padded to real_in = (⌊N/fold^L⌋ + 1)·fold^L, which always adds a block.
/// InstanceNorm1d here is PyTorch's default (affine=False), so it holds no parameters; V1 gives it the
/// length as its feature count, which PyTorch ignores (<see cref="InstanceNorm1dNoAffine"/>).
/// </remarks>
public sealed class ODEncoder2Decoder : ParamAutoencoder
{
    readonly ModuleList<Sequential> encoder, decoder;
    readonly Func<Tensor, Tensor>[][] encSteps, decSteps;     // the blocks' layers, convolutions through SafeConv
    readonly long latentChannels, latentLength;

    public long Fold { get; }
    public long PaddedLength { get; }
    public long DecodedLength { get; }
    public override long[] LatentShape => new[] { latentChannels, latentLength };

    public ODEncoder2Decoder(long inDim, long fold, long kernel, long[] encChannels, long[] decChannels, Generator gen,
        double inputNoise = 0.001, double latentNoise = 0.1)
        : base(inDim, inputNoise, latentNoise)
    {
        if (inputNoise > 1 || latentNoise > 1) throw new ArgumentOutOfRangeException(nameof(inputNoise), $"V1's noise is an interpolation factor in [0, 1] (input {inputNoise}, latent {latentNoise}).");
        if (fold < 2 || kernel < 3 || kernel % 2 == 0) throw new ArgumentException($"ODEncoder2Decoder: fold {fold} must be ≥ 2 and kernel {kernel} odd and ≥ 3.");
        if (encChannels.Length == 0 || encChannels.Length != decChannels.Length)
            throw new ArgumentException($"ODEncoder2Decoder: {encChannels.Length} encoder and {decChannels.Length} decoder channel counts; give the same number (≥ 1) of each.");
        Fold = fold;
        var layers = encChannels.Length;
        var block = (long)Math.Pow(fold, layers);
        PaddedLength = (inDim / block + 1) * block;
        var (encPad, decPad, lastPad) = ((kernel - 3) / 2, kernel - 1, kernel);

        var enc = new List<Sequential>();
        long len = PaddedLength, cin = 1;
        for (var i = 0; i < layers; i++)
        {
            var c = encChannels[i];
            var s = new List<nn.Module<Tensor, Tensor>>();
            if (i > 0) s.Add(nn.LeakyReLU());
            s.Add(new InstanceNorm1dNoAffine());
            s.Add(Layers.Conv1d(cin, c, kernel, gen, 1, encPad));
            s.Add(nn.LeakyReLU());
            len = len + 2 * encPad - kernel + 1;
            if (len < kernel) throw new ArgumentException($"ODEncoder2Decoder: input length {inDim} (padded to {PaddedLength}) is too short for {layers} folds of {fold} with kernel {kernel}: layer {i} sees length {len}.");
            s.Add(new InstanceNorm1dNoAffine());
            s.Add(Layers.Conv1d(c, c, kernel, gen, fold, 0));
            len = (len - kernel) / fold + 1;
            if (i == layers - 1) s.Add(nn.Tanh());
            enc.Add(nn.Sequential(s.ToArray()));
            cin = c;
        }
        (latentChannels, latentLength) = (cin, len);

        var dec = new List<Sequential>();
        for (var i = 0; i < layers; i++)
        {
            var c = decChannels[i];
            var cout = i + 1 < layers ? decChannels[i + 1] : 1;
            var pad = i + 1 < layers ? decPad : lastPad;
            var s = new List<nn.Module<Tensor, Tensor>> { nn.LeakyReLU(), new InstanceNorm1dNoAffine(), Layers.ConvTranspose1d(cin, c, kernel, gen, fold, 0) };
            len = (len - 1) * fold + kernel;
            s.Add(nn.LeakyReLU());
            s.Add(new InstanceNorm1dNoAffine());
            s.Add(Layers.Conv1d(c, cout, kernel, gen, 1, pad));
            len = len + 2 * pad - kernel + 1;
            dec.Add(nn.Sequential(s.ToArray()));
            cin = cout;
        }
        (encoder, decoder) = (new ModuleList<Sequential>(enc.ToArray()), new ModuleList<Sequential>(dec.ToArray()));
        register_module("encoder", encoder);
        register_module("decoder", decoder);
        (encSteps, decSteps) = (enc.Select(SafeConv.Steps).ToArray(), dec.Select(SafeConv.Steps).ToArray());
        DecodedLength = len;
        if (len < inDim) throw new ArgumentException($"ODEncoder2Decoder: the decoder gives {len} values, fewer than the {inDim} to reconstruct.");
    }

    /// <summary>V1 "small": fold 3, kernel 3, encoder [2, 2, 2, 2], decoder [2, 64, 64, 8].</summary>
    public static ODEncoder2Decoder Small(long inDim, Generator gen, double inputNoise = 0.001, double latentNoise = 0.1) =>
        new(inDim, 3, 3, new long[] { 2, 2, 2, 2 }, new long[] { 2, 64, 64, 8 }, gen, inputNoise, latentNoise);

    /// <summary>V1 "medium" (the shipped default): fold 5, kernel 5, encoder [4, 4, 4, 4], decoder [4, 256, 256, 8].</summary>
    public static ODEncoder2Decoder Medium(long inDim, Generator gen, double inputNoise = 0.001, double latentNoise = 0.1) =>
        new(inDim, 5, 5, new long[] { 4, 4, 4, 4 }, new long[] { 4, 256, 256, 8 }, gen, inputNoise, latentNoise);

    public override Tensor Encode(Tensor x)
    {
        CheckVectors(x, nameof(Encode));
        return EncodeUnchecked(x);
    }

    Tensor EncodeUnchecked(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = F.pad(x.unsqueeze(1), new[] { 0L, PaddedLength - InputLength });
        foreach (var block in encSteps) h = SafeConv.Run(block, h);
        return h.flatten(1).MoveToOuterDisposeScope();
    }

    public override Tensor Decode(Tensor z)
    {
        CheckLatents(z, nameof(Decode));
        using var scope = NewDisposeScope();
        var h = z.reshape(z.size(0), latentChannels, latentLength);
        foreach (var block in decSteps) h = SafeConv.Run(block, h);
        return h.select(1, 0).narrow(1, 0, InputLength).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>(1 − f)·x + f·ε, V1's noise (an interpolation towards noise, not x + f·ε; reference §8-8).</summary>
    static Tensor Interpolate(Tensor x, double f, Generator g)
    {
        if (f == 0) return x.alias();
        using var eps = randn(x.shape, x.dtype, x.device, generator: g);
        using Scalar keep = 1 - f, weight = f;
        using var kept = x.mul(keep);
        return kept.add(eps, weight);
    }

    public override Tensor TrainingLoss(Tensor x, Generator g, bool noisyTarget)
    {
        CheckVectors(x, nameof(TrainingLoss));
        using var scope = NewDisposeScope();
        var noised = Interpolate(x, InputNoise, g);
        var z = EncodeUnchecked(noised);
        using Scalar low = -1, high = 1;
        var zn = LatentNoise == 0 ? z : Interpolate(z, LatentNoise, g).clamp(low, high);
        var recon = Decode(zn);
        return F.mse_loss(recon, noisyTarget ? noised : x).MoveToOuterDisposeScope();
    }
}
