using PDiff.TorchFixes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PDiff.Models;

/// <summary>
/// A multilayer perceptron on the flattened image: fc1 → bn1 → ReLU → fc2 → bn2 → ReLU → … → fc{L+1}.
/// The BatchNorm1d layers give the MLP the same kind of default subset (the last two norms) as the
/// other networks.
/// </summary>
public sealed class Mlp : ImageClassifier
{
    readonly List<(Linear Fc, BatchNorm1d Bn)> hidden = new();
    readonly Linear head;
    readonly string headName;

    public Mlp(ModelSpec spec, Generator gen) : base(nameof(Mlp), spec)
    {
        long inF = (long)spec.InChannels * spec.ImageSize * spec.ImageSize;
        var sizes = spec.Hidden!;
        for (var i = 0; i < sizes.Length; i++)
        {
            var fc = Layers.Linear(inF, sizes[i], gen);
            var bn = nn.BatchNorm1d(sizes[i]);
            register_module($"fc{i + 1}", fc);
            register_module($"bn{i + 1}", bn);
            hidden.Add((fc, bn));
            inF = sizes[i];
        }
        headName = $"fc{sizes.Length + 1}";
        head = Layers.Linear(inF, spec.Classes, gen);
        register_module(headName, head);
    }

    public override string ClassifierModule => headName;
    /// <summary>An MLP has no conv: its first layer is <c>fc1</c>.</summary>
    public override string FirstLayerModule => "fc1";

    protected override IEnumerable<Stage> BuildStages()
    {
        yield return new Stage("flatten", Array.Empty<string>(), a => new Activations(a.Main.flatten(1)));
        for (var i = 0; i < hidden.Count; i++)
        {
            var (fc, bn) = hidden[i];
            yield return new Stage($"fc{i + 1}", new[] { $"fc{i + 1}" }, a => new Activations(fc.forward(a.Main)));
            yield return new Stage($"bn{i + 1}", new[] { $"bn{i + 1}" }, a => new Activations(SafeOps.BatchNorm(bn, a.Main)));
            yield return new Stage($"relu{i + 1}", Array.Empty<string>(), a => new Activations(a.Main.relu()));
        }
        yield return new Stage(headName, new[] { headName }, a => new Activations(head.forward(a.Main)));
    }
}
