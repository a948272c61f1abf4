using static TorchSharp.torch;

namespace PDiff.Models;

/// <summary>
/// The base architectures by name, built from a JSON-able <see cref="ModelSpec"/> with a seeded generator
/// (the generator fixes the initial weights): a table of names → factories. <see cref="Register"/> adds
/// an architecture (a user's class); code written against <see cref="ImageClassifier"/> then works on it.
/// </summary>
public static class ModelRegistry
{
    static readonly Dictionary<string, Func<ModelSpec, Generator, ImageClassifier>> factories = new()
    {
        ["mlp"] = (s, g) => new Mlp(s, g),
        ["convnet3"] = (s, g) => new ConvNet3(s, g),
        ["resnet18"] = (s, g) => new ResNet18(s, g),
        ["vit"] = (s, g) => new Vit(s, g),
    };
    static readonly string[] BuiltIn = { "mlp", "convnet3", "resnet18", "vit" };

    /// <summary>The architectures known by name, built-in ones first.</summary>
    public static IReadOnlyList<string> Names
    {
        get { lock (factories) return factories.Keys.ToList(); }
    }

    /// <summary>
    /// Adds an architecture under <paramref name="name"/> (lower case, no '-' or '_'). Its specs take the
    /// common fields only (classes, channels, image size): the architecture-specific ones are rejected.
    /// Built-in names cannot be replaced.
    /// </summary>
    public static void Register(string name, Func<ModelSpec, Generator, ImageClassifier> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        var n = Normalize(name);
        if (n.Length == 0) throw new ArgumentException("An architecture needs a non-empty name.", nameof(name));
        if (BuiltIn.Contains(n) || n is "convnet" or "vittiny") throw new ArgumentException($"'{name}' is a built-in architecture and cannot be replaced.", nameof(name));
        lock (factories) factories[n] = factory;
    }

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
            _ => s,
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
        Func<ModelSpec, Generator, ImageClassifier> factory;
        lock (factories) factory = factories[s.Arch];
        return factory(s, gen);
    }

    public static ImageClassifier Create(ModelSpec spec, ulong seed)
    {
        using var gen = new Generator(seed);
        return Create(spec, gen);
    }

    /// <summary>"resnet18" (also "resnet-18", "ResNet18"), "convnet3", "mlp", "vit"; anything else is an error listing the names.</summary>
    public static string Canonical(string arch)
    {
        var n = Normalize(arch);
        var canonical = n switch
        {
            "convnet" => "convnet3",
            "vittiny" => "vit",
            _ => n,
        };
        lock (factories)
            if (factories.ContainsKey(canonical)) return canonical;
        throw new ArgumentException($"Unknown architecture '{arch}'. Known: {string.Join(", ", Names)}.", nameof(arch));
    }

    static string Normalize(string arch) => arch.Trim().ToLowerInvariant().Replace("-", "").Replace("_", "");
}
