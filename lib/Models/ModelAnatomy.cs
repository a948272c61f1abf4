using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PDiff.Models;

/// <summary>
/// Where a network's normalisation layers, classifier and first layer are: what the subset presets
/// (<c>last-two-norms</c>, <c>classifier</c>, <c>first-conv</c>) need. Our classifiers declare the last two.
/// For any other module they are read off the parameter names and shapes, grouped by owner (the name up to
/// its last dot), which works even where the module tree is not visible to .NET (a TorchScript file whose
/// tensors are registered flat): an owner of TorchSharp's norm types is a norm; otherwise an affine norm
/// owns only a 1-D <c>weight</c> (and <c>bias</c>), a linear layer a 2-D weight, a convolution a weight of
/// rank ≥ 3. "Forward order" is registration order, as in PyTorch's <c>named_modules()</c>.
/// </summary>
public static class ModelAnatomy
{
    /// <summary>Owners of affine normalisation parameters, in registration order.</summary>
    public static IReadOnlyList<string> NormModules(nn.Module model)
    {
        var modules = ModuleTree.NamedModules(model).ToDictionary(m => m.Name, m => m.Module);
        return Owners(model).Where(o => IsAffineNorm(o, modules.GetValueOrDefault(o.Name))).Select(o => o.Name).ToList();
    }

    /// <summary>The last owner of a 2-D <c>weight</c> (the final linear layer).</summary>
    public static string ClassifierModule(nn.Module model) =>
        Owners(model).LastOrDefault(o => WeightRank(o) == 2)?.Name
        ?? throw new ArgumentException($"{ModuleTree.Describe(model)} has no linear layer (a module owning a 2-D weight) to call its classifier.");

    /// <summary>The first owner of a weight of rank ≥ 2 (the first convolution or linear layer).</summary>
    public static string FirstLayerModule(nn.Module model) =>
        Owners(model).FirstOrDefault(o => WeightRank(o) >= 2)?.Name
        ?? throw new ArgumentException($"{ModuleTree.Describe(model)} has no layer owning a weight of rank 2 or more.");

    /// <summary>Every owner of parameters (layers), in registration order: what error messages list as selectable.</summary>
    public static IReadOnlyList<string> ParameterLayers(nn.Module model) => Owners(model).Select(o => o.Name).Where(n => n.Length > 0).ToList();

    sealed record Owner(string Name, List<(string Leaf, Tensor Value)> Parameters);

    static List<Owner> Owners(nn.Module model)
    {
        var owners = new List<Owner>();
        var byName = new Dictionary<string, Owner>();
        foreach (var (name, p) in model.named_parameters())
        {
            var dot = name.LastIndexOf('.');
            var (owner, leaf) = dot < 0 ? ("", name) : (name[..dot], name[(dot + 1)..]);
            if (!byName.TryGetValue(owner, out var o)) owners.Add(byName[owner] = o = new Owner(owner, new()));
            o.Parameters.Add((leaf, p));
        }
        return owners;
    }

    static bool IsAffineNorm(Owner o, nn.Module? module)
    {
        if (module is NormBase or LayerNorm or GroupNorm) return true;
        if (module is not null && module.GetType().Namespace == typeof(Linear).Namespace) return false; // another TorchSharp layer
        return o.Parameters.Any(p => p.Leaf == "weight") && o.Parameters.All(p => p.Leaf is "weight" or "bias" && p.Value.dim() == 1);
    }

    static long WeightRank(Owner o)
    {
        foreach (var (leaf, value) in o.Parameters)
            if (leaf == "weight") return value.dim();
        return -1;
    }
}
