using PDiff.Nn;
using PDiff.Torch;

namespace PDiff.Models;

/// <summary>
/// ConvNet-3 (the paper's Table 1 row; the ConvNet of the dataset-distillation literature): three blocks
/// of 3×3 conv (padding 1, with bias) → BatchNorm → ReLU → 2×2 average pool, then <c>classifier</c>.
/// Modules are <c>features.0</c> … <c>features.11</c> (conv, bn, relu, pool ×3), as an nn.Sequential
/// would name them. On 28×28 inputs the maps are 14, 7 and 3 pixels, so the classifier sees w·9 features.
/// </summary>
public sealed class ConvNet3 : ImageClassifier
{
    readonly Sequential features;
    readonly Linear classifier;

    public ConvNet3(ModelSpec spec, Generator gen) : base(spec)
    {
        var w = spec.Width!.Value;
        features = new Sequential();
        long c = spec.InChannels, size = spec.ImageSize;
        for (var b = 0; b < 3; b++)
        {
            features.Add(new Conv2d(c, w, 3, gen, padding: 1));
            features.Add(new BatchNorm2d(w));
            features.Add(new ReLU());
            features.Add(new AvgPool2d(2));
            c = w;
            size /= 2;
        }
        RegisterModule("features", features);
        classifier = RegisterModule("classifier", new Linear(w * size * size, spec.Classes, gen));
    }

    public override string ClassifierModule => "classifier";
    public override string FirstLayerModule => "features.0";

    protected override IEnumerable<Stage> BuildStages()
    {
        for (var i = 0; i < features.Count; i++)
        {
            var m = features[i];
            var name = $"features.{i}";
            yield return new Stage(name, m.named_parameters().Any() ? new[] { name } : Array.Empty<string>(), a => new Activations(m.forward(a.Main)));
        }
        yield return new Stage("classifier", new[] { "classifier" }, a =>
        {
            using var flat = a.Main.flatten(1);
            return new Activations(classifier.forward(flat));
        });
    }
}

/// <summary>2-D average pooling with a square window (stride = window), as nn.AvgPool2d(k).</summary>
public sealed class AvgPool2d : Module
{
    public long Kernel { get; }
    public AvgPool2d(long kernel) => Kernel = kernel;
    public override Tensor forward(Tensor x) => torch.nn.functional.avg_pool2d(x, Kernel);
}
