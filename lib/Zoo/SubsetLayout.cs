using System.Text.Json.Serialization;
using TorchSharp;

namespace PDiff.Zoo;

/// <summary>One tensor of a parameter subset: its dotted name in the base model and its shape.</summary>
public sealed record TensorSpec(string Name, long[] Shape)
{
    [JsonIgnore] public long Numel => Shape.Aggregate(1L, (a, b) => a * b);
    /// <summary>BatchNorm running variances are normalised in log space by V2 (reference §1.4).</summary>
    [JsonIgnore] public bool IsRunningVar => Name.EndsWith("running_var", StringComparison.Ordinal);
}

/// <summary>
/// The fixed, recorded order in which a subset's tensors are flattened (row-major) and concatenated into
/// one vector of <see cref="Length"/> numbers. Every zoo, the p-diff models and the evaluation share it.
/// </summary>
public sealed record SubsetLayout(IReadOnlyList<TensorSpec> Tensors)
{
    [JsonIgnore] public long Length => Tensors.Sum(t => t.Numel);

    /// <summary>Start offset of each tensor in the flat vector.</summary>
    public long[] Offsets()
    {
        var o = new long[Tensors.Count];
        long at = 0;
        for (var i = 0; i < o.Length; i++) { o[i] = at; at += Tensors[i].Numel; }
        return o;
    }

    /// <summary>
    /// Each tensor of a flat <paramref name="vector"/> [N] by name, as a view in its own shape (no copy: writing a view
    /// writes the vector; the caller's dispose scope owns the views).
    /// </summary>
    public Dictionary<string, torch.Tensor> Views(torch.Tensor vector)
    {
        var offsets = Offsets();
        return Tensors.Select((t, i) => (t.Name, View: vector.narrow(0, offsets[i], t.Numel).reshape(t.Shape))).ToDictionary(x => x.Name, x => x.View);
    }
}
