using PDiff.TorchFixes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PDiff.Models;

/// <summary>
/// ConvNet-3 (the paper's Table 1 row; the ConvNet of the dataset-distillation literature): three blocks
/// of 3×3 conv (padding 1, with bias) → BatchNorm → ReLU → 2×2 average pool, then <c>classifier</c>.
/// Modules are <c>features.0</c> … <c>features.11</c> (conv, bn, relu, pool ×3), as an nn.Sequential
/// would name them. On 28×28 inputs the maps are 14, 7 and 3 pixels, so the classifier sees c₃·9 features.
/// Every block has <see cref="ModelSpec.Width"/> channels, or <see cref="ModelSpec.Channels"/> gives one count a block.
/// </summary>
public sealed class ConvNet3 : ImageClassifier, ISafeConvolutions
{
    readonly List<nn.Module<Tensor, Tensor>> layers = new();
    readonly Linear classifier;

    public ConvNet3(ModelSpec spec, Generator gen) : base(nameof(ConvNet3), spec)
    {
        var widths = spec.Channels ?? Enumerable.Repeat(spec.Width!.Value, 3).ToArray();
        long c = spec.InChannels, size = spec.ImageSize;
        for (var b = 0; b < 3; b++)
        {
            var w = widths[b];
            layers.Add(Layers.Conv2d(c, w, 3, gen, padding: 1));
            layers.Add(nn.BatchNorm2d(w));
            layers.Add(nn.ReLU());
            layers.Add(nn.AvgPool2d(2));
            c = w;
            size /= 2;
        }
        register_module("features", nn.Sequential(layers));
        classifier = Layers.Linear(c * size * size, spec.Classes, gen);
        register_module("classifier", classifier);
    }

    public override string ClassifierModule => "classifier";
    public override string FirstLayerModule => "features.0";

    protected override IEnumerable<Stage> BuildStages()
    {
        for (var i = 0; i < layers.Count; i++)
        {
            var m = layers[i];
            var name = $"features.{i}";
            // Convolutions through SafeConv (libtorch 2.10's float32 kernels are wrong for some channel counts),
            // batch norms through SafeOps (TorchSharp's forward leaves a Scalar to the finalizer).
            Func<Tensor, Tensor> f = m switch
            {
                Conv2d conv => x => SafeConv.Conv(x, conv),
                BatchNorm bn => x => SafeOps.BatchNorm(bn, x),
                _ => m.forward,
            };
            yield return new Stage(name, m.named_parameters().Any() ? new[] { name } : Array.Empty<string>(), a => new Activations(f(a.Main)));
        }
        yield return new Stage("classifier", new[] { "classifier" }, a =>
        {
            using var flat = a.Main.flatten(1);
            return new Activations(classifier.forward(flat));
        });
    }
}
