using static TorchSharp.torch;

namespace PDiff.Models;

/// <summary>
/// The architectures by name, built from a JSON-able <see cref="ModelSpec"/> with a seeded generator (the
/// generator fixes the initial weights): a table of names → factories. Besides the shipped ones it holds
/// "torchscript" (a user's network exported by PyTorch, <see cref="ModelSpec.Source"/>) and whatever
/// <see cref="Register"/> adds (a user's TorchSharp class, in this process). <see cref="Create"/> returns
/// our <see cref="ImageClassifier"/>s; <see cref="Build"/> returns any of them as a module.
/// </summary>
public static class ModelRegistry
{
    static readonly Dictionary<string, Func<ModelSpec, Generator, nn.Module<Tensor, Tensor>>> factories = new()
    {
        ["mlp"] = (s, g) => new Mlp(s, g),
        ["convnet3"] = (s, g) => new ConvNet3(s, g),
        ["resnet18"] = (s, g) => new ResNet18(s, g),
        ["vit"] = (s, g) => new Vit(s, g),
        // The file holds weights too; the generator has nothing to draw (base weights are loaded over them anyway).
        [ModelSpec.TorchScript] = (s, _) => TorchScriptModel.Load(s.Source!, inputShape: InputShape(s)),
    };
    static readonly string[] BuiltIn = { "mlp", "convnet3", "resnet18", "vit", ModelSpec.TorchScript };

    /// <summary>Our own architectures: the ones a zoo can be built for from scratch (base training needs an <see cref="ImageClassifier"/>).</summary>
    public static IReadOnlyList<string> Shipped { get; } = new[] { "mlp", "convnet3", "resnet18", "vit" };

    /// <summary>The architectures known by name, built-in ones first.</summary>
    public static IReadOnlyList<string> Names
    {
        get { lock (factories) return factories.Keys.ToList(); }
    }

    /// <summary>
    /// Adds an architecture under <paramref name="name"/> (case, '-' and '_' are ignored: "my-cnn" is stored as
    /// "mycnn"), for this process: e.g. <c>ModelRegistry.Register("my-cnn", (spec, gen) =&gt; new MyCnn())</c> in a
    /// notebook cell, before importing or opening a zoo of that architecture. The factory may return any
    /// <c>nn.Module&lt;Tensor, Tensor&gt;</c> whose parameter names are those of the checkpoints (an
    /// <see cref="ImageClassifier"/> also gets the prefix cache of its stages). Its specs take the common
    /// fields only (classes, channels, image size, input): the architecture-specific ones are rejected.
    /// Registering a name again replaces its factory; built-in names cannot be replaced.
    /// </summary>
    public static void Register(string name, Func<ModelSpec, Generator, nn.Module<Tensor, Tensor>> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        var n = Normalize(name);
        if (n.Length == 0) throw new ArgumentException("An architecture needs a non-empty name.", nameof(name));
        if (BuiltIn.Contains(n) || n is "convnet" or "vittiny") throw new ArgumentException($"'{name}' is a built-in architecture and cannot be replaced.", nameof(name));
        lock (factories) factories[n] = factory;
    }

    /// <summary>Whether <paramref name="arch"/> names a known architecture (built in or registered), under any of its spellings.</summary>
    public static bool IsKnown(string arch)
    {
        var n = Alias(Normalize(arch));
        lock (factories) return factories.ContainsKey(n);
    }

    /// <summary>
    /// Checks, without loading it into this process, that <see cref="Build"/> can load the file a spec names: a
    /// TorchScript file goes through <see cref="TorchScriptModel.Validate"/> (a child process loads it and runs
    /// forward on the spec's input shape; the verdict is remembered, so the later build does not probe again).
    /// Nothing to check for the other architectures. Tools call it before they create or claim an output folder.
    /// </summary>
    public static void ValidateSource(ModelSpec spec)
    {
        if (Canonical(spec.Arch) == ModelSpec.TorchScript && !string.IsNullOrWhiteSpace(spec.Source))
            TorchScriptModel.Validate(spec.Source, InputShape(spec));
    }

    static long[] InputShape(ModelSpec s) => new long[] { s.InChannels, s.ImageSize, s.ImageSize };

    /// <summary>The spec with every default spelled out (what manifests store).</summary>
    public static ModelSpec Complete(ModelSpec spec)
    {
        var arch = Canonical(spec.Arch);
        if (spec.Classes < 2) throw new ArgumentException($"ModelSpec.Classes must be at least 2; got {spec.Classes}.");
        if (spec.InChannels < 1) throw new ArgumentException($"ModelSpec.InChannels must be at least 1; got {spec.InChannels}.");
        if (spec.ImageSize < 4) throw new ArgumentException($"ModelSpec.ImageSize must be at least 4; got {spec.ImageSize}.");
        var s = spec with { Arch = arch, Input = CanonicalInput(spec.Input, spec.InChannels) };
        s = arch switch
        {
            "mlp" => s with { Hidden = s.Hidden ?? new[] { 256, 128 } },
            "convnet3" => s.Channels is null ? s with { Width = s.Width ?? 128 } : s,
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
        if (arch != "convnet3") Reject(nameof(ModelSpec.Channels), s.Channels);
        if (s.Channels is { } ch && (ch.Length != 3 || ch.Any(x => x < 1) || s.Width is not null))
            throw new ArgumentException($"ModelSpec.Channels of a ConvNet-3 lists three positive channel counts, one a block, and replaces Width; got [{string.Join(", ", ch)}]{(s.Width is null ? "" : $" with Width {s.Width}")}.");
        if (arch != "vit")
        {
            Reject(nameof(ModelSpec.Dim), s.Dim); Reject(nameof(ModelSpec.Heads), s.Heads); Reject(nameof(ModelSpec.MlpDim), s.MlpDim);
            Reject(nameof(ModelSpec.Depth), s.Depth); Reject(nameof(ModelSpec.Patch), s.Patch);
        }
        if (arch != ModelSpec.TorchScript) Reject(nameof(ModelSpec.Source), s.Source);
        else if (string.IsNullOrWhiteSpace(s.Source))
            throw new ArgumentException("A 'torchscript' spec needs ModelSpec.Source: the file written by torch.jit.script(model).save(\"model.pt\").");
        foreach (var (field, v) in new (string, int?)[] { ("Width", s.Width), ("Dim", s.Dim), ("Heads", s.Heads), ("MlpDim", s.MlpDim), ("Depth", s.Depth), ("Patch", s.Patch) })
            if (v is < 1) throw new ArgumentException($"ModelSpec.{field} must be at least 1; got {v}.");
        if (s.Hidden is { } h && (h.Length == 0 || h.Any(x => x < 1)))
            throw new ArgumentException($"ModelSpec.Hidden must list at least one positive size; got [{string.Join(", ", h)}].");
        // A ViT's shape rules, checked here rather than half-way through building one.
        if (s.Dim is { } dim && s.Heads is { } heads && dim % heads != 0)
            throw new ArgumentException($"ModelSpec.Heads {heads} does not divide ModelSpec.Dim {dim}: each head takes dim/heads numbers; give a divisor of {dim}.");
        if (s.Patch is { } patch && s.ImageSize % patch != 0)
            throw new ArgumentException($"ModelSpec.Patch {patch} does not divide the image size {s.ImageSize}; give a divisor of {s.ImageSize}.");
        return s;
    }

    /// <summary>
    /// "unit" stays "unit"; null and "standardize" (the default) become null, so a default spec serialises
    /// exactly as before the field existed; explicit values ("mean=…,std=…", <see cref="InputStatistics"/>) are
    /// checked (finite, std &gt; 0, one of each a channel when <paramref name="channels"/> is known) and written in
    /// their canonical form. Anything else is an error naming the three forms.
    /// </summary>
    public static string? CanonicalInput(string? input, int? channels = null)
    {
        if (InputStatistics.IsExplicit(input))
        {
            var stats = InputStatistics.Parse(input!);
            if (channels is { } c && stats.Channels != c)
                throw new ArgumentException($"ModelSpec.Input '{input}' gives {stats.Channels} mean(s) and std(s) but the network takes {c} input channel(s) " +
                    "(ModelSpec.InChannels): give one mean and one std a channel.");
            return stats.ToString();
        }
        return input?.Trim().ToLowerInvariant() switch
        {
            null or "" or ModelSpec.StandardizedInput or "standardized" => null,
            ModelSpec.UnitInput => ModelSpec.UnitInput,
            _ => throw new ArgumentException($"ModelSpec.Input '{input}' is not an input scaling: use \"{ModelSpec.StandardizedInput}\" " +
                $"(the train split's mean and std, the default), \"{ModelSpec.UnitInput}\" (raw pixels b/255) or the network's own " +
                "Normalize values, \"mean=0.1307,std=0.3081\" (one value a channel)."),
        };
    }

    /// <summary>Builds one of our classifiers (a built-in architecture, or a registered class deriving from <see cref="ImageClassifier"/>).</summary>
    public static ImageClassifier Create(ModelSpec spec, Generator gen)
    {
        var model = Build(spec, gen);
        if (model is ImageClassifier c) return c;
        var type = model.GetType().Name;
        model.Dispose();
        throw new InvalidOperationException($"Architecture '{Canonical(spec.Arch)}' builds a {type}, not an ImageClassifier; " +
            "use ModelRegistry.Build, which returns any module (scoring, subsets and p-diff take any module).");
    }

    public static ImageClassifier Create(ModelSpec spec, ulong seed)
    {
        using var gen = new Generator(seed);
        return Create(spec, gen);
    }

    /// <summary>
    /// Builds any architecture as a module, initialised from <paramref name="gen"/> (shipped ones with PyTorch's
    /// or timm's defaults; a TorchScript file with its own weights). A relative <see cref="ModelSpec.Source"/> is
    /// taken from the current directory: zoos resolve theirs against their folder first (<c>ZooTask.LoadBaseModel</c>).
    /// </summary>
    public static nn.Module<Tensor, Tensor> Build(ModelSpec spec, Generator gen)
    {
        var s = Complete(spec);
        ModelSize.CheckFits(s, ModelUse.Build);   // a network larger than the memory is refused before its first tensor
        Func<ModelSpec, Generator, nn.Module<Tensor, Tensor>> factory;
        lock (factories) factory = factories[s.Arch];
        return factory(s, gen) ?? throw new InvalidOperationException($"The factory registered for '{s.Arch}' returned null instead of a module.");
    }

    public static nn.Module<Tensor, Tensor> Build(ModelSpec spec, ulong seed)
    {
        using var gen = new Generator(seed);
        return Build(spec, gen);
    }

    /// <summary>
    /// "resnet18" (also "resnet-18", "ResNet18"), "convnet3", "mlp", "vit", "torchscript" or a registered name;
    /// anything else is an error listing the names and saying how to add one.
    /// </summary>
    public static string Canonical(string arch)
    {
        ArgumentNullException.ThrowIfNull(arch);
        var canonical = Alias(Normalize(arch));
        lock (factories)
            if (factories.ContainsKey(canonical)) return canonical;
        throw new ArgumentException($"Unknown architecture '{arch}'. Known: {string.Join(", ", Names)}. " +
            "A network of your own is either a TorchSharp class, registered in this process before its zoo is imported or opened " +
            $"(ModelRegistry.Register(\"{arch}\", (spec, gen) => new MyNet()), e.g. in a notebook cell), or a TorchScript file " +
            "(Arch = \"torchscript\", Source = \"model.pt\"; `pdiff zoo import --torchscript model.pt`).", nameof(arch));
    }

    static string Alias(string n) => n switch
    {
        "convnet" => "convnet3",
        "vittiny" => "vit",
        _ => n,
    };

    static string Normalize(string arch) => arch.Trim().ToLowerInvariant().Replace("-", "").Replace("_", "");
}
