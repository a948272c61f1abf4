using PDiff.Torch;

namespace PDiff.Models;

/// <summary>
/// The base architectures by name, built from a JSON-able <see cref="ModelSpec"/> with a seeded generator
/// (the generator fixes the initial weights).
/// </summary>
public static class ModelRegistry
{
    public static readonly IReadOnlyList<string> Names = new[] { "mlp", "convnet3", "resnet18", "vit" };

    /// <summary>The spec with every default spelled out (what manifests store).</summary>
    public static ModelSpec Complete(ModelSpec spec)
    {
        var arch = Canonical(spec.Arch);
        if (spec.Classes < 2) throw new ArgumentException($"ModelSpec.Classes must be at least 2; got {spec.Classes}.");
        if (spec.InChannels < 1) throw new ArgumentException($"ModelSpec.InChannels must be at least 1; got {spec.InChannels}.");
        if (spec.ImageSize < 4) throw new ArgumentException($"ModelSpec.ImageSize must be at least 4; got {spec.ImageSize}.");
        var s = spec with { Arch = arch };
        s = arch switch
        {
            "mlp" => s with { Hidden = s.Hidden ?? new[] { 256, 128 } },
            "convnet3" => s with { Width = s.Width ?? 128 },
            "resnet18" => s with { Width = s.Width ?? 64 },
            "vit" => s with { Dim = s.Dim ?? 192, Heads = s.Heads ?? 3, MlpDim = s.MlpDim ?? 768, Depth = s.Depth ?? 12, Patch = s.Patch ?? 4 },
            _ => throw new InvalidOperationException(),
        };
        // Options of other architectures are rejected rather than ignored: a stored spec must mean one network.
        void Reject(string field, object? value)
        {
            if (value is not null) throw new ArgumentException($"ModelSpec.{field} does not apply to '{arch}'; leave it out.");
        }
        if (arch != "resnet18" && arch != "convnet3") Reject(nameof(ModelSpec.Width), s.Width);
        if (arch != "mlp") Reject(nameof(ModelSpec.Hidden), s.Hidden);
        if (arch != "vit")
        {
            Reject(nameof(ModelSpec.Dim), s.Dim); Reject(nameof(ModelSpec.Heads), s.Heads); Reject(nameof(ModelSpec.MlpDim), s.MlpDim);
            Reject(nameof(ModelSpec.Depth), s.Depth); Reject(nameof(ModelSpec.Patch), s.Patch);
        }
        foreach (var (field, v) in new (string, int?)[] { ("Width", s.Width), ("Dim", s.Dim), ("Heads", s.Heads), ("MlpDim", s.MlpDim), ("Depth", s.Depth), ("Patch", s.Patch) })
            if (v is < 1) throw new ArgumentException($"ModelSpec.{field} must be at least 1; got {v}.");
        if (s.Hidden is { } h && (h.Length == 0 || h.Any(x => x < 1)))
            throw new ArgumentException($"ModelSpec.Hidden must list at least one positive size; got [{string.Join(", ", h)}].");
        return s;
    }

    /// <summary>Builds the network, initialised from <paramref name="gen"/> with PyTorch's (or timm's) defaults.</summary>
    public static ImageClassifier Create(ModelSpec spec, Generator gen)
    {
        var s = Complete(spec);
        return s.Arch switch
        {
            "mlp" => new Mlp(s, gen),
            "convnet3" => new ConvNet3(s, gen),
            "resnet18" => new ResNet18(s, gen),
            "vit" => new Vit(s, gen),
            _ => throw new InvalidOperationException(),
        };
    }

    public static ImageClassifier Create(ModelSpec spec, ulong seed)
    {
        using var gen = new Generator(seed);
        return Create(spec, gen);
    }

    /// <summary>"resnet18" (also "resnet-18", "ResNet18"), "convnet3", "mlp", "vit"; anything else is an error listing the names.</summary>
    public static string Canonical(string arch)
    {
        var n = arch.Trim().ToLowerInvariant().Replace("-", "").Replace("_", "");
        return n switch
        {
            "mlp" => "mlp",
            "convnet3" or "convnet" => "convnet3",
            "resnet18" => "resnet18",
            "vit" or "vittiny" => "vit",
            _ => throw new ArgumentException($"Unknown architecture '{arch}'. Known: {string.Join(", ", Names)}.", nameof(arch)),
        };
    }
}
