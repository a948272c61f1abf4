using PDiff.Models;

namespace PDiff.Zoo;

/// <summary>
/// One axis that a permutation of hidden units acts on: dimension <see cref="Dim"/> of tensor <see cref="Tensor"/>,
/// in blocks of <c>shape[Dim] / group size</c> consecutive entries (1, except where a conv's channels are flattened
/// into a linear layer's inputs: ConvNet-3's classifier sees each channel as 9 pixels).
/// </summary>
public sealed record PermutedAxis(string Tensor, int Dim);

/// <summary>
/// A set of <see cref="Size"/> interchangeable hidden units (a hidden layer's neurons, a conv block's channels) and
/// every tensor axis their order shows in. Permuting all the axes of a group together leaves the network's function
/// unchanged (permutation symmetry), which is why networks trained from different seeds can be aligned.
/// </summary>
public sealed record PermutationGroup(string Name, int Size, IReadOnlyList<PermutedAxis> Axes);

/// <summary>The permutation groups of the built-in small networks (<c>mlp</c>, <c>convnet3</c>); any other network passes its own.</summary>
public static class PermutationGroups
{
    static readonly string[] NormTensors = { "weight", "bias", "running_mean", "running_var" };

    /// <summary>
    /// The groups of <paramref name="spec"/>'s architecture, checked against <paramref name="layout"/>: every tensor a
    /// group touches must be in the layout with a size the group divides, or the aligned vector would not be the same
    /// network (a subset that leaves out a layer cannot be aligned).
    /// </summary>
    public static IReadOnlyList<PermutationGroup> For(ModelSpec spec, SubsetLayout layout)
    {
        var groups = spec.Arch switch
        {
            "mlp" => Mlp(spec.Hidden ?? throw new ArgumentException("PermutationGroups: the mlp spec lists no hidden sizes.", nameof(spec))),
            "convnet3" => ConvNet3(spec.Channels ?? Enumerable.Repeat(spec.Width ?? throw new ArgumentException("PermutationGroups: the convnet3 spec has no width.", nameof(spec)), 3).ToArray()),
            var other => throw new ArgumentException(
                $"Permutation alignment knows the hidden units of mlp and convnet3, not of '{other}'. Pass its groups yourself " +
                "(WeightMatching.Align with a list of PermutationGroup: each hidden layer's size and the tensor axes its units show in).", nameof(spec)),
        };
        Check(groups, layout);
        return groups;
    }

    /// <summary>MLP: hidden layer i's units are fc{i}'s rows, bn{i}'s entries and fc{i+1}'s columns.</summary>
    static List<PermutationGroup> Mlp(IReadOnlyList<int> hidden) => hidden.Select((size, k) =>
    {
        var i = k + 1;
        var axes = new List<PermutedAxis> { new($"fc{i}.weight", 0), new($"fc{i}.bias", 0) };
        axes.AddRange(NormTensors.Select(t => new PermutedAxis($"bn{i}.{t}", 0)));
        axes.Add(new($"fc{i + 1}.weight", 1));
        return new PermutationGroup($"fc{i}", size, axes);
    }).ToList();

    /// <summary>ConvNet-3: block b's channels are its conv's output channels, its BatchNorm's entries and the next conv's (or the classifier's) inputs.</summary>
    static List<PermutationGroup> ConvNet3(IReadOnlyList<int> widths) => widths.Select((size, b) =>
    {
        var axes = new List<PermutedAxis> { new($"features.{4 * b}.weight", 0), new($"features.{4 * b}.bias", 0) };
        axes.AddRange(NormTensors.Select(t => new PermutedAxis($"features.{4 * b + 1}.{t}", 0)));
        axes.Add(b + 1 < widths.Count ? new($"features.{4 * (b + 1)}.weight", 1) : new("classifier.weight", 1));
        return new PermutationGroup($"block{b + 1}", size, axes);
    }).ToList();

    /// <summary>Throws, naming the tensor, when a group's axis is not in the layout or its size is not a multiple of the group's.</summary>
    public static void Check(IReadOnlyList<PermutationGroup> groups, SubsetLayout layout)
    {
        var byName = layout.Tensors.ToDictionary(t => t.Name);
        foreach (var g in groups)
        {
            if (g.Size < 1) throw new ArgumentException($"Permutation group {g.Name}: size {g.Size} must be positive.");
            foreach (var a in g.Axes)
            {
                if (!byName.TryGetValue(a.Tensor, out var t))
                    throw new ArgumentException($"Permutation group {g.Name} permutes {a.Tensor}, which is not in the vector's layout " +
                        $"({layout.Tensors.Count} tensors). Alignment needs every tensor a hidden unit touches: use the whole-network subset ('whole').");
                if (a.Dim < 0 || a.Dim >= t.Shape.Length || t.Shape[a.Dim] % g.Size != 0)
                    throw new ArgumentException($"Permutation group {g.Name} ({g.Size} units) cannot act on dimension {a.Dim} of {a.Tensor} [{string.Join(", ", t.Shape)}].");
            }
        }
    }
}
