using PDiff.TorchFixes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Models;

/// <summary>
/// The CIFAR-style BasicBlock of the kuangliu ResNet: 3×3 conv → BN → ReLU → 3×3 conv → BN, plus a
/// shortcut (1×1 conv + BN when the shape changes, empty otherwise), then ReLU. Convs have no bias.
/// The Conv2d modules hold the parameters (PyTorch's names); their forwards run through
/// <see cref="SafeConv"/>, around libtorch 2.10's wrong float32 kernels for some channel counts.
/// </summary>
public sealed class BasicBlock : nn.Module<Tensor, Tensor>, ISafeConvolutions
{
    readonly Conv2d conv1, conv2;
    readonly BatchNorm2d bn1, bn2;
    readonly Sequential shortcut;
    readonly Func<Tensor, Tensor>[] shortcutSteps;

    public BasicBlock(long inPlanes, long planes, long stride, Generator gen) : base(nameof(BasicBlock))
    {
        conv1 = Layers.Conv2d(inPlanes, planes, 3, gen, stride: stride, padding: 1, bias: false);
        bn1 = nn.BatchNorm2d(planes);
        conv2 = Layers.Conv2d(planes, planes, 3, gen, stride: 1, padding: 1, bias: false);
        bn2 = nn.BatchNorm2d(planes);
        shortcut = stride != 1 || inPlanes != planes
            ? nn.Sequential(Layers.Conv2d(inPlanes, planes, 1, gen, stride: stride, bias: false), nn.BatchNorm2d(planes))
            : nn.Sequential();
        register_module("conv1", conv1);
        register_module("bn1", bn1);
        register_module("conv2", conv2);
        register_module("bn2", bn2);
        register_module("shortcut", shortcut);
        shortcutSteps = SafeConv.Steps(shortcut);
    }

    Tensor Shortcut(Tensor x) => shortcutSteps.Length == 0 ? x.alias() : SafeConv.Run(shortcutSteps, x);

    /// <summary>
    /// The block as six stages. The first keeps the block input as the skip tensor, so a cut inside the
    /// block (say at <c>bn1</c>) caches both the conv output and the input the shortcut needs.
    /// </summary>
    public IEnumerable<Stage> Stages(string p)
    {
        yield return new Stage($"{p}.conv1", new[] { $"{p}.conv1" }, a => new Activations(SafeConv.Conv(a.Main, conv1), a.Main.alias()));
        yield return new Stage($"{p}.bn1", new[] { $"{p}.bn1" }, a => new Activations(SafeOps.BatchNorm(bn1, a.Main), a.Skip!.alias()));
        yield return new Stage($"{p}.relu1", Array.Empty<string>(), a => new Activations(a.Main.relu(), a.Skip!.alias()));
        yield return new Stage($"{p}.conv2", new[] { $"{p}.conv2" }, a => new Activations(SafeConv.Conv(a.Main, conv2), a.Skip!.alias()));
        yield return new Stage($"{p}.bn2", new[] { $"{p}.bn2" }, a => new Activations(SafeOps.BatchNorm(bn2, a.Main), a.Skip!.alias()));
        yield return new Stage($"{p}.shortcut", new[] { $"{p}.shortcut" }, a =>
        {
            using var sc = Shortcut(a.Skip!);
            using var sum = a.Main.Plus(sc);
            return new Activations(sum.relu());
        });
    }

    public override Tensor forward(Tensor x)
    {
        using var h1 = SafeConv.Conv(x, conv1);
        using var h2 = SafeOps.BatchNorm(bn1, h1);
        using var h3 = h2.relu();
        using var h4 = SafeConv.Conv(h3, conv2);
        using var h5 = SafeOps.BatchNorm(bn2, h4);
        using var sc = Shortcut(x);
        using var sum = h5.Plus(sc);
        return sum.relu();
    }
}

/// <summary>
/// CIFAR-style ResNet-18 (kuangliu design, as in reference §1.1) for small images: 3×3 stem with stride 1
/// and no max-pool, four stages of two BasicBlocks (widths w, 2w, 4w, 8w; strides 1, 2, 2, 2), global
/// average pool, <c>fc</c>. On 28×28 inputs the stages run at 28, 14, 7 and 4 pixels, so the final
/// feature map is 4×4 as on CIFAR. The width option (w = 64 in the paper) lets quick runs use narrower nets.
/// </summary>
public sealed class ResNet18 : ImageClassifier, ISafeConvolutions
{
    readonly Conv2d conv1;
    readonly BatchNorm2d bn1;
    readonly ModuleList<BasicBlock>[] layers;
    readonly Linear fc;

    public ResNet18(ModelSpec spec, Generator gen) : base(nameof(ResNet18), spec)
    {
        var w = spec.Width!.Value;
        conv1 = Layers.Conv2d(spec.InChannels, w, 3, gen, stride: 1, padding: 1, bias: false);
        register_module("conv1", conv1);
        bn1 = nn.BatchNorm2d(w);
        register_module("bn1", bn1);
        long inPlanes = w;
        var widths = new long[] { w, 2 * w, 4 * w, 8 * w };
        var strides = new long[] { 1, 2, 2, 2 };
        layers = new ModuleList<BasicBlock>[4];
        for (var i = 0; i < 4; i++)
        {
            var first = new BasicBlock(inPlanes, widths[i], strides[i], gen);
            var second = new BasicBlock(widths[i], widths[i], 1, gen);
            layers[i] = nn.ModuleList(first, second);
            register_module($"layer{i + 1}", layers[i]);
            inPlanes = widths[i];
        }
        fc = Layers.Linear(8 * w, spec.Classes, gen);
        register_module("fc", fc);
    }

    public override string ClassifierModule => "fc";
    public override string FirstLayerModule => "conv1";

    /// <summary>
    /// The paper's BN locations, numbered by conv layer (conv 1, convs 2–17 in the blocks, fc 18):
    /// BN 16–18 = layer4.1.bn1/bn2 (the default), BN 14–16 = layer4.0.bn1/bn2, BN 10–14 = the four BNs
    /// of layer3.0 and layer3.1 (reference §1.3 ablations <c>layers_bn1415</c>, <c>bn1013</c>).
    /// </summary>
    public override IReadOnlyDictionary<string, string[]> ExtraPresets => new Dictionary<string, string[]>
    {
        ["bn16-18"] = new[] { "layer4.1.bn1", "layer4.1.bn2" },
        ["bn14-16"] = new[] { "layer4.0.bn1", "layer4.0.bn2" },
        ["bn10-14"] = new[] { "layer3.0.bn1", "layer3.0.bn2", "layer3.1.bn1", "layer3.1.bn2" },
    };

    protected override IEnumerable<Stage> BuildStages()
    {
        yield return new Stage("conv1", new[] { "conv1" }, a => new Activations(SafeConv.Conv(a.Main, conv1)));
        yield return new Stage("bn1", new[] { "bn1" }, a => new Activations(SafeOps.BatchNorm(bn1, a.Main)));
        yield return new Stage("relu", Array.Empty<string>(), a => new Activations(a.Main.relu()));
        for (var i = 0; i < 4; i++)
            for (var j = 0; j < 2; j++)
                foreach (var s in layers[i][j].Stages($"layer{i + 1}.{j}")) yield return s;
        yield return new Stage("pool", Array.Empty<string>(), a =>
        {
            using var pooled = F.adaptive_avg_pool2d(a.Main, 1);
            return new Activations(pooled.flatten(1));
        });
        yield return new Stage("fc", new[] { "fc" }, a => new Activations(fc.forward(a.Main)));
    }
}
