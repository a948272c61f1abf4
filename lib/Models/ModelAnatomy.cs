using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PDiff.Models;

/// <summary>
/// Where a network's normalisation layers, classifier and first layer are: what the subset presets
/// (<c>last-two-norms</c>, <c>classifier</c>, <c>first-conv</c>) need. Our classifiers declare the last two;
/// for any other module (a user's class, a TorchScript file, whose layers may all look alike to .NET) they
/// are read off the parameters: TorchSharp's norm layers by type, anything else by shape (an affine norm
/// owns only a 1-D weight and bias, a linear layer a 2-D weight, a convolution a weight of rank ≥ 3).
/// "Forward order" is registration order, as in PyTorch's <c>named_modules()</c>.
/// </summary>
public static class ModelAnatomy
{
    /// <summary>Modules with affine normalisation parameters, in registration order.</summary>
    public static IReadOnlyList<string> NormModules(nn.Module model) =>
        ModuleTree.NamedModules(model).Where(m => IsAffineNorm(m.Module)).Select(m => m.Name).ToList();

    /// <summary>The last module that owns a 2-D <c>weight</c> (the final linear layer).</summary>
    public static string ClassifierModule(nn.Module model) =>
        ModuleTree.NamedModules(model).LastOrDefault(m => OwnWeightRank(m.Module) == 2).Name
        ?? throw new ArgumentException($"{ModuleTree.Describe(model)} has no linear layer (a module owning a 2-D weight) to call its classifier.");

    /// <summary>The first module that owns a weight of rank ≥ 2 (the first convolution or linear layer).</summary>
    public static string FirstLayerModule(nn.Module model) =>
        ModuleTree.NamedModules(model).FirstOrDefault(m => OwnWeightRank(m.Module) >= 2).Name
        ?? throw new ArgumentException($"{ModuleTree.Describe(model)} has no layer owning a weight of rank 2 or more.");

    /// <summary>Leaf modules that own parameters: what error messages list as the layers one can select.</summary>
    public static IReadOnlyList<string> ParameterLayers(nn.Module model) =>
        ModuleTree.NamedModules(model)
            .Where(m => m.Name.Length > 0 && m.Module.named_parameters(false).Any())
            .Select(m => m.Name).ToList();

    static bool IsAffineNorm(nn.Module m)
    {
        var own = m.named_parameters(false).ToList();
        if (own.Count == 0) return false;
        if (m is NormBase or LayerNorm or GroupNorm) return true;
        if (m.GetType().Namespace == typeof(Linear).Namespace) return false; // another TorchSharp layer
        return !m.named_children().Any() && own.Any(p => p.name == "weight")
               && own.All(p => p.name is "weight" or "bias" && p.parameter.dim() == 1);
    }

    static long OwnWeightRank(nn.Module m)
    {
        foreach (var (name, p) in m.named_parameters(false))
            if (name == "weight") return p.dim();
        return -1;
    }
}
