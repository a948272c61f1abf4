using PDiff.TorchFixes;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Models;

/// <summary>Multi-head self-attention as in timm: one <c>qkv</c> projection, softmax(q·kᵀ/√d)·v, <c>proj</c>.</summary>
public sealed class Attention : nn.Module<Tensor, Tensor>
{
    readonly Linear qkv, proj;
    readonly long heads;

    public Attention(long dim, long heads, Generator gen) : base(nameof(Attention))
    {
        if (dim % heads != 0) throw new ArgumentException($"ViT: dim {dim} does not split into {heads} heads.");
        this.heads = heads;
        qkv = Vit.TimmLinear(dim, 3 * dim, gen);
        proj = Vit.TimmLinear(dim, dim, gen);
        register_module("qkv", qkv);
        register_module("proj", proj);
    }

    public override Tensor forward(Tensor x)
    {
        long b = x.size(0), t = x.size(1), c = x.size(2);
        using var scope = torch.NewDisposeScope();
        var qkvOut = qkv.forward(x).reshape(b, t, 3, heads, c / heads).permute(2, 0, 3, 1, 4); // [3, B, H, T, hd]
        var o = F.scaled_dot_product_attention(qkvOut.select(0, 0), qkvOut.select(0, 1), qkvOut.select(0, 2)); // [B, H, T, hd]
        var merged = o.transpose(1, 2).reshape(b, t, c);
        return proj.forward(merged).MoveToOuterDisposeScope();
    }
}

/// <summary>The transformer MLP: fc1 → GELU (exact) → fc2.</summary>
public sealed class VitMlp : nn.Module<Tensor, Tensor>
{
    readonly Linear fc1, fc2;

    public VitMlp(long dim, long hidden, Generator gen) : base(nameof(VitMlp))
    {
        fc1 = Vit.TimmLinear(dim, hidden, gen);
        fc2 = Vit.TimmLinear(hidden, dim, gen);
        register_module("fc1", fc1);
        register_module("fc2", fc2);
    }

    public override Tensor forward(Tensor x)
    {
        using var h = fc1.forward(x);
        using var g = F.gelu(h);
        return fc2.forward(g);
    }
}

/// <summary>A pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)).</summary>
public sealed class VitBlock : nn.Module<Tensor, Tensor>
{
    readonly LayerNorm norm1, norm2;
    readonly Attention attn;
    readonly VitMlp mlp;

    public VitBlock(long dim, long heads, long mlpDim, Generator gen) : base(nameof(VitBlock))
    {
        norm1 = nn.LayerNorm(dim, Vit.LayerNormEps);
        attn = new Attention(dim, heads, gen);
        norm2 = nn.LayerNorm(dim, Vit.LayerNormEps);
        mlp = new VitMlp(dim, mlpDim, gen);
        register_module("norm1", norm1);
        register_module("attn", attn);
        register_module("norm2", norm2);
        register_module("mlp", mlp);
    }

    /// <summary>Six stages; each residual branch keeps its input as the skip tensor.</summary>
    public IEnumerable<Stage> Stages(string p)
    {
        yield return new Stage($"{p}.norm1", new[] { $"{p}.norm1" }, a => new Activations(norm1.forward(a.Main), a.Main.alias()));
        yield return new Stage($"{p}.attn", new[] { $"{p}.attn" }, a => new Activations(attn.forward(a.Main), a.Skip!.alias()));
        yield return new Stage($"{p}.add1", Array.Empty<string>(), a => new Activations(a.Skip!.Plus(a.Main)));
        yield return new Stage($"{p}.norm2", new[] { $"{p}.norm2" }, a => new Activations(norm2.forward(a.Main), a.Main.alias()));
        yield return new Stage($"{p}.mlp", new[] { $"{p}.mlp" }, a => new Activations(mlp.forward(a.Main), a.Skip!.alias()));
        yield return new Stage($"{p}.add2", Array.Empty<string>(), a => new Activations(a.Skip!.Plus(a.Main)));
    }

    public override Tensor forward(Tensor x)
    {
        using var n1 = norm1.forward(x);
        using var a = attn.forward(n1);
        using var h = x.Plus(a);
        using var n2 = norm2.forward(h);
        using var m = mlp.forward(n2);
        return h.Plus(m);
    }
}

/// <summary>
/// Patch embedding: a conv with kernel = stride = patch size, as timm's <c>patch_embed.proj</c>, run
/// through <see cref="SafeConv"/> (libtorch 2.10's float32 kernels are wrong for some channel counts).
/// </summary>
public sealed class PatchEmbed : nn.Module<Tensor, Tensor>, ISafeConvolutions
{
    readonly Conv2d proj;
    public PatchEmbed(long inChannels, long dim, long patch, Generator gen) : base(nameof(PatchEmbed))
    {
        proj = Layers.Conv2d(inChannels, dim, patch, gen, stride: patch);
        register_module("proj", proj);
    }

    /// <summary>[B, C, H, W] → [B, (H/p)·(W/p), dim].</summary>
    public override Tensor forward(Tensor x)
    {
        using var h = SafeConv.Conv(x, proj);
        using var flat = h.flatten(2);
        return flat.transpose(1, 2);
    }
}

/// <summary>
/// A small Vision Transformer with timm's names and layout: <c>patch_embed.proj</c> (patch 4 on 28×28 gives
/// 49 tokens), <c>cls_token</c>, <c>pos_embed</c>, <c>blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1,
/// mlp.fc2}</c>, <c>norm</c>, <c>head</c> on the class token. Widths default to ViT-Tiny (dim 192, 3 heads,
/// MLP 768); depth is configurable (ViT-Tiny has 12). LayerNorm eps 1e-6 and the init (truncated normal
/// std 0.02 for linear weights and pos_embed, zero biases, cls_token N(0, 1e-6)) follow timm.
/// </summary>
public sealed class Vit : ImageClassifier, ISafeConvolutions
{
    internal const double LayerNormEps = 1e-6;

    readonly PatchEmbed patchEmbed;
    // Named as registered: TorchSharp re-registers Parameter fields under their component name when moving devices.
    [ComponentName(Name = "cls_token")] readonly Parameter clsToken;
    [ComponentName(Name = "pos_embed")] readonly Parameter posEmbed;
    readonly ModuleList<VitBlock> blocks;
    readonly LayerNorm norm;
    readonly Linear head;

    public Vit(ModelSpec spec, Generator gen) : base(nameof(Vit), spec)
    {
        long dim = spec.Dim!.Value, patch = spec.Patch!.Value;
        if (spec.ImageSize % patch != 0) throw new ArgumentException($"ViT: image size {spec.ImageSize} is not a multiple of the patch size {patch}.");
        var tokens = (spec.ImageSize / patch) * (spec.ImageSize / patch) + 1;
        // Out of any dispose scope: a Parameter made from a scoped tensor would die with the scope.
        clsToken = new Parameter(torch.zeros(1, 1, dim).DetachFromDisposeScope());
        posEmbed = new Parameter(torch.zeros(1, tokens, dim).DetachFromDisposeScope());
        register_parameter("cls_token", clsToken);
        register_parameter("pos_embed", posEmbed);
        patchEmbed = new PatchEmbed(spec.InChannels, dim, patch, gen);
        register_module("patch_embed", patchEmbed);
        Init.TruncNormal(posEmbed, 0.02, gen);
        Init.Normal(clsToken, 0, 1e-6, gen);
        var list = new List<VitBlock>();
        for (var i = 0; i < spec.Depth!.Value; i++) list.Add(new VitBlock(dim, spec.Heads!.Value, spec.MlpDim!.Value, gen));
        blocks = nn.ModuleList(list.ToArray());
        register_module("blocks", blocks);
        norm = nn.LayerNorm(dim, LayerNormEps);
        register_module("norm", norm);
        head = TimmLinear(dim, spec.Classes, gen);
        register_module("head", head);
    }

    internal static Linear TimmLinear(long inF, long outF, Generator gen)
    {
        var l = Layers.Linear(inF, outF, gen);
        Init.TruncNormal(l.weight!, 0.02, gen);
        using (no_grad()) l.bias!.zero_();
        return l;
    }

    public override string ClassifierModule => "head";
    public override string FirstLayerModule => "patch_embed.proj";

    protected override IEnumerable<Stage> BuildStages()
    {
        yield return new Stage("patch_embed", new[] { "patch_embed", "cls_token", "pos_embed" }, a =>
        {
            using var scope = torch.NewDisposeScope();
            var tokens = patchEmbed.forward(a.Main);
            var cls = clsToken.expand(a.Main.size(0), 1, clsToken.size(2));
            var x = torch.cat(new[] { cls, tokens }, 1).Plus(posEmbed);
            return new Activations(x.MoveToOuterDisposeScope());
        });
        for (var i = 0; i < blocks.Count; i++)
            foreach (var s in blocks[i].Stages($"blocks.{i}")) yield return s;
        yield return new Stage("norm", new[] { "norm" }, a => new Activations(norm.forward(a.Main)));
        yield return new Stage("head", new[] { "head" }, a =>
        {
            using var cls = a.Main.select(1, 0);
            return new Activations(head.forward(cls));
        });
    }
}
