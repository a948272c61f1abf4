using PDiff.Models;
using PDiff.TorchFixes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Diffusion;

/// <summary>
/// V2's denoiser <c>OneDimCNN</c> (reference §3.2) on latents of length D (128): stride-1 k7 convs over
/// channels 1 → 64 → 128 → 256 → 512 → 256 → 128 → 64 → 1, BatchNorm + ELU after every conv but the
/// last, the outputs of the first three blocks added back on the way up. The time embedding is DiT's:
/// [cos(t·f), sin(t·f)] with f_i = exp(−ln(10000)·i/D), i &lt; D, then Linear(2D → D) → SiLU → Linear(D → D);
/// it is added, broadcast over channels, before every conv. 2,462,977 parameters for D = 128.
/// </summary>
public sealed class OneDimCNN : Denoiser
{
    readonly Linear time1, time2;
    readonly ModuleList<Conv1d> convs;
    readonly ModuleList<BatchNorm1d> norms;
    readonly Tensor freqs;                 // not state: a function of D
    const int EncoderBlocks = 5, Skips = 3;

    readonly ConditionEmbedding? conditionEmbedding;   // null: unconditional p-diff (no extra state)

    /// <param name="conditional">
    /// Add a scalar condition input (<see cref="ConditionEmbedding"/>, registered as <c>cond_embed</c>), whose
    /// embedding is added to the time embedding. Its weights are drawn after every other layer's, so the
    /// other layers start exactly as in the unconditional model of the same seed.
    /// </param>
    public OneDimCNN(long latentSize, Generator gen, long[]? channels = null, long kernel = 7, bool conditional = false) : base(latentSize)
    {
        var ch = channels ?? new long[] { 1, 64, 128, 256, 512, 256, 128, 64, 1 };
        if (ch.Length != 9 || ch[0] != 1 || ch[^1] != 1 || ch[1] != ch[7] || ch[2] != ch[6] || ch[3] != ch[5])
            throw new ArgumentException($"OneDimCNN: channels must be 9 counts 1, a, b, c, d, c, b, a, 1 (skips add equal widths); got [{string.Join(", ", ch)}].");
        time1 = Layers.Linear(2 * latentSize, latentSize, gen);
        time2 = Layers.Linear(latentSize, latentSize, gen);
        var c = new List<Conv1d>();
        var n = new List<BatchNorm1d>();
        for (var i = 0; i < ch.Length - 1; i++)
        {
            c.Add(Layers.Conv1d(ch[i], ch[i + 1], kernel, gen, 1, kernel / 2));
            if (i < ch.Length - 2) n.Add(nn.BatchNorm1d(ch[i + 1]));
        }
        convs = new ModuleList<Conv1d>(c.ToArray());
        norms = new ModuleList<BatchNorm1d>(n.ToArray());
        register_module("time_mlp1", time1);
        register_module("time_mlp2", time2);
        register_module("convs", convs);
        register_module("norms", norms);
        using (no_grad())
        using (Scalar start = 0, stop = latentSize, step = 1, rate = -Math.Log(10000) / latentSize)
        using (var i = arange(start, stop, step, ScalarType.Float32))
        using (var scaled = i.mul(rate))
            freqs = scaled.exp().DetachFromDisposeScope();
        if (conditional)
        {
            conditionEmbedding = new ConditionEmbedding(latentSize, gen);
            register_module("cond_embed", conditionEmbedding);
        }
    }

    public override bool IsConditional => conditionEmbedding is not null;

    /// <summary>Every conv is stride 1 at length D: D × c_in·c_out·k each, plus the time MLP (2D·D + D·D).</summary>
    public override long? MultiplyAddsPerSample =>
        convs.Sum(c => LatentSize * c.weight!.numel()) + time1.weight!.numel() + time2.weight!.numel() + (conditionEmbedding is null ? 0 : 2 * LatentSize * LatentSize);

    /// <summary>τ(t) [B, D].</summary>
    public Tensor TimeEmbedding(Tensor t)
    {
        using var scope = NewDisposeScope();
        var a = outer(t.to(ScalarType.Float32), freqs);
        var e = cat(new[] { a.cos(), a.sin() }, 1);
        if (e.dtype != time1.weight.dtype) e = e.to(time1.weight.dtype);   // a module moved to float64 (gradient checks)
        return time2.forward(F.silu(time1.forward(e))).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Run the convolutions on channels-last [B, C, 1, L] activations instead of plain 1-D ops (same values).
    /// Off by default: with libtorch 2.10 the plain layout measured faster, in training and in sampling
    /// (bench/README.md).
    /// </summary>
    public bool UseChannelsLast { get; set; }

    /// <summary>ε̂(x_t, t); a conditional denoiser answers for "no condition" (its null embedding).</summary>
    public override Tensor forward(Tensor x, Tensor t)
    {
        Check(x, t);
        using var scope = NewDisposeScope();
        var e = TimeEmbedding(t);
        if (conditionEmbedding is not null) e = e.Plus(conditionEmbedding.Embed(null, null, x.size(0)));
        return Run(x, e).MoveToOuterDisposeScope();
    }

    public override Tensor ForwardConditional(Tensor x, Tensor t, Tensor? condition, Tensor? keep = null)
    {
        if (conditionEmbedding is null) return base.ForwardConditional(x, t, condition, keep);
        Check(x, t);
        using var scope = NewDisposeScope();
        if (condition is not null)
        {
            if (condition.dim() != 1 || condition.size(0) != x.size(0))
                throw new ArgumentException($"OneDimCNN: expected one condition per latent, [{x.size(0)}]; got [{string.Join(", ", condition.shape)}].", nameof(condition));
            if (!condition.isfinite().all().item<bool>())
                throw new ArgumentException("OneDimCNN: conditions must be finite numbers (a NaN or infinite condition was given).", nameof(condition));
        }
        var e = TimeEmbedding(t).Plus(conditionEmbedding.Embed(condition, keep, x.size(0)));
        return Run(x, e).MoveToOuterDisposeScope();
    }

    /// <summary>The convolutions, with the embedding e [B, D] (time, plus condition) added before each.</summary>
    Tensor Run(Tensor x, Tensor embedding)
    {
        // Under a bfloat16 scope (PDiffConfig.Autocast) each convolution's output stays bfloat16 through its norm and ELU,
        // as PyTorch's autocast leaves it (casting back to float32 after each convolution cost more than the bfloat16
        // convolutions saved, docs/design-notes.md); adding the float32 embedding promotes to float32 as in PyTorch, so
        // its gradient is summed in float32. The output is float32 either way.
        var mixed = SafeConv.InBFloat16Scope;
        var tau = embedding.unsqueeze(1);                              // [B, 1, D]
        var h = x.unsqueeze(1);                                         // [B, 1, D]
        if (mixed) h = h.to(ScalarType.BFloat16);
        if (UseChannelsLast)
        {
            tau = tau.unsqueeze(1);                                     // [B, 1, 1, D]
            h = ChannelsLast.From3d(h);
        }
        var skips = new Tensor[Skips];
        for (var i = 0; i < convs.Count; i++)
        {
            if (i > EncoderBlocks - 1 && i - EncoderBlocks < Skips) h = h.Plus(skips[Skips - 1 - (i - EncoderBlocks)]);
            var conv = convs[i];
            var bn = i < norms.Count ? norms[i] : null;
            if (bn is not null && FuseNormsInEval && !bn.training && bn.running_mean is not null && bn.running_var is not null)
            {
                // Sampling: BN with running statistics is an affine map per channel, folded into the conv.
                var (w, b) = Folded(conv, bn);
                h = SafeConv.Conv(h.Plus(tau), w, b, conv.stride[0], conv.padding![0], conv.dilation[0], conv.groups);
                h = SafeOps.Elu(h, 1.0);
            }
            else
            {
                h = UseChannelsLast ? ChannelsLast.Conv(h.Plus(tau), conv) : SafeConv.Conv(h.Plus(tau), conv);
                // In place: batch norm's backward needs its input, not its output.
                if (bn is not null) h = SafeOps.Elu(UseChannelsLast ? ChannelsLast.BatchNorm(h, bn) : SafeOps.BatchNorm(bn, h), 1.0);
            }
            if (i < Skips) skips[i] = h;
        }
        var y = UseChannelsLast ? h.select(2, 0).select(1, 0) : h.select(1, 0);
        return mixed ? y.to(ScalarType.Float32).contiguous() : y.contiguous();
    }

    /// <summary>
    /// In eval mode, fold each BatchNorm (running statistics) into the convolution before it: one pass over
    /// the activations less per layer, same values up to float rounding. Running stats are never updated
    /// in eval mode, so nothing else changes.
    /// </summary>
    public bool FuseNormsInEval { get; set; } = true;

    /// <summary>W·s and (b − μ)·s + β per output channel, s = γ/√(σ² + ε).</summary>
    static (Tensor Weight, Tensor Bias) Folded(Conv1d conv, BatchNorm1d bn)
    {
        using Scalar eps = bn.eps;
        var scale = bn.running_var!.add(eps, SafeOps.One).rsqrt();
        if (bn.weight is not null) scale = scale.mul(bn.weight);
        var w = conv.weight.mul(scale.unsqueeze(1).unsqueeze(2));
        var b = (conv.bias is null ? bn.running_mean!.neg() : conv.bias.sub(bn.running_mean!)).mul(scale);
        return (w, bn.bias is null ? b : b.Plus(bn.bias));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) freqs.Dispose();
        base.Dispose(disposing);
    }
}
