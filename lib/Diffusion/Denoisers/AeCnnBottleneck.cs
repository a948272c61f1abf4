using PDiff.Models;
using PDiff.TorchFixes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PDiff.Diffusion;

/// <summary>
/// How V1's UNet reads the timestep (switch for reference §8-5): V1 looks up the embedding of the
/// batch's FIRST sample and adds it to every sample, so in training (random t per sample) all but one
/// sample of a batch see a wrong time; in sampling all t are equal and it does not matter.
/// </summary>
public enum TimeEmbeddingMode
{
    /// <summary>Corrected: each sample gets the embedding of its own t.</summary>
    PerSample,
    /// <summary>Faithful to V1: the embedding of t[0] for the whole batch.</summary>
    BatchShared,
}

/// <summary>
/// V1's latent denoiser <c>AE_CNN_bottleneck</c> (reference §3.1): a 1-D conv UNet at constant length D
/// (the flattened latent, 12 for the medium AE), channels 1 → 64 → 128 → 256 → 512 and back with additive
/// skips, InstanceNorm (no affine) and LeakyReLU, k3/p1 convs. A learned table Embedding(T, D) gives τ(t),
/// added (broadcast over channels) to the input of every block. 2,362,273 parameters for D = 12.
/// </summary>
public sealed class AeCnnBottleneck : Denoiser
{
    readonly Embedding timeTable;
    readonly ModuleList<Sequential> enc, dec;
    readonly Func<Tensor, Tensor>[][] encSteps, decSteps;     // the blocks' layers, convolutions through SafeConv

    public TimeEmbeddingMode TimeMode { get; set; }

    public AeCnnBottleneck(long latentSize, long timesteps, Generator gen, long[]? channels = null,
        TimeEmbeddingMode timeMode = TimeEmbeddingMode.PerSample)
        : base(latentSize)
    {
        var ch = channels ?? new long[] { 64, 128, 256, 512 };
        TimeMode = timeMode;
        timeTable = Layers.Embedding(timesteps, latentSize, gen);
        var e = new List<Sequential>();
        long cin = 1;
        for (var i = 0; i < ch.Length; i++)
        {
            e.Add(Block(cin, ch[i], ch[i], leadingAct: i > 0, gen));
            cin = ch[i];
        }
        var d = new List<Sequential>();
        for (var i = ch.Length - 1; i > 0; i--)
            d.Add(Block(ch[i], ch[i - 1], ch[i - 1], leadingAct: true, gen));
        d.Add(Block(ch[0], ch[0], 1, leadingAct: true, gen));
        (enc, dec) = (new ModuleList<Sequential>(e.ToArray()), new ModuleList<Sequential>(d.ToArray()));
        register_module("time_encode", timeTable);
        register_module("enc", enc);
        register_module("dec", dec);
        (encSteps, decSteps) = (e.Select(SafeConv.Steps).ToArray(), d.Select(SafeConv.Steps).ToArray());
    }

    // V1's InstanceNorm1d(D) normalises over the length whatever the channel count (see InstanceNorm1dNoAffine).
    static Sequential Block(long cin, long mid, long cout, bool leadingAct, Generator gen)
    {
        var s = new List<nn.Module<Tensor, Tensor>>();
        if (leadingAct) s.Add(nn.LeakyReLU());
        s.Add(new InstanceNorm1dNoAffine());
        s.Add(Layers.Conv1d(cin, mid, 3, gen, 1, 1));
        s.Add(nn.LeakyReLU());
        s.Add(new InstanceNorm1dNoAffine());
        s.Add(Layers.Conv1d(mid, cout, 3, gen, 1, 1));
        return nn.Sequential(s.ToArray());
    }

    public override Tensor forward(Tensor x, Tensor t)
    {
        Check(x, t);
        using var scope = NewDisposeScope();
        var tt = TimeMode == TimeEmbeddingMode.BatchShared ? t.narrow(0, 0, 1) : t;
        var tau = timeTable.forward(tt).unsqueeze(1);                  // [B or 1, 1, D]
        var h = x.unsqueeze(1);
        var skips = new Tensor[encSteps.Length];
        for (var i = 0; i < encSteps.Length; i++)
            h = skips[i] = SafeConv.Run(encSteps[i], h.Plus(tau));
        for (var j = 0; j < decSteps.Length; j++)
        {
            h = SafeConv.Run(decSteps[j], h.Plus(tau));
            var skip = skips.Length - 2 - j;                              // dec1 + enc3, dec2 + enc2, dec3 + enc1
            if (skip >= 0) h = h.Plus(skips[skip]);
        }
        return h.select(1, 0).MoveToOuterDisposeScope();
    }
}
