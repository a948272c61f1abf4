using System.Text.Json;
using System.Text.Json.Serialization;

namespace PDiff.Models;

/// <summary>
/// Everything that rebuilds an architecture, JSON-able (it is stored in every manifest). Fields that do
/// not apply to an architecture stay null; <see cref="ModelRegistry.Complete"/> fills in the defaults, so a
/// stored spec always spells out the network exactly. Besides the shipped architectures, a spec names a
/// user's network: a TorchScript file (<see cref="ModelSpec.TorchScript"/>, <see cref="Source"/>) or a
/// class registered at run time with <see cref="ModelRegistry.Register"/>.
/// </summary>
public sealed record ModelSpec
{
    /// <summary>The architecture whose scripted form <see cref="Source"/> holds.</summary>
    public const string TorchScript = "torchscript";

    /// <summary>Input scaling <see cref="Input"/>: pixels as (b/255 − mean)/std with the train split's statistics (the default).</summary>
    public const string StandardizedInput = "standardize";
    /// <summary>Input scaling <see cref="Input"/>: raw pixels b/255 in [0, 1], as torchvision's ToTensor alone gives.</summary>
    public const string UnitInput = "unit";

    /// <summary>
    /// "mlp", "convnet3", "resnet18", "vit"; "torchscript" (a file, <see cref="Source"/>); or the name a
    /// user's class was registered under (<see cref="ModelRegistry.Register"/>).
    /// </summary>
    public string Arch { get; init; } = "resnet18";
    public int Classes { get; init; } = 10;
    public int InChannels { get; init; } = 1;
    public int ImageSize { get; init; } = 28;

    /// <summary>ResNet-18: width of the first stage (64 in the paper; stages are w, 2w, 4w, 8w). ConvNet-3: channels (128).</summary>
    public int? Width { get; init; }
    /// <summary>
    /// ConvNet-3 only: the channels of its three blocks, e.g. [32, 64, 128] (the full-v2 profile's network); when
    /// given, <see cref="Width"/> stays null. Null: every block has <see cref="Width"/> channels.
    /// </summary>
    public int[]? Channels { get; init; }
    /// <summary>MLP hidden sizes (default [256, 128]).</summary>
    public int[]? Hidden { get; init; }

    /// <summary>ViT: embedding dim (192 = ViT-Tiny), heads (3), MLP hidden (768), blocks (12), patch (4).</summary>
    public int? Dim { get; init; }
    public int? Heads { get; init; }
    public int? MlpDim { get; init; }
    public int? Depth { get; init; }
    public int? Patch { get; init; }

    /// <summary>
    /// TorchScript only: the file written by <c>torch.jit.script(model).save(...)</c>. A zoo copies it into its
    /// folder and stores the path relative to that folder, so the zoo stands alone.
    /// </summary>
    public string? Source { get; init; }

    /// <summary>
    /// How the network expects its input pixels: null or "standardize" (the default: the train split's mean and
    /// std, as every shipped architecture is trained), "unit" (b/255, no normalisation), or the values of the
    /// network's own <c>Normalize(mean, std)</c>, "mean=0.1307,std=0.3081" (one value a channel; see
    /// <see cref="InputStatistics"/> and <see cref="NormalizedInput"/>). Stored as null for the default, so specs
    /// written before this field existed read the same.
    /// </summary>
    public string? Input { get; init; }

    /// <summary>The <see cref="Input"/> of a network trained with <c>Normalize(mean, std)</c>, one value a channel.</summary>
    public static string NormalizedInput(IReadOnlyList<double> mean, IReadOnlyList<double> std) => new InputStatistics(mean, std).ToString();

    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = false,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static ModelSpec FromJson(string json) =>
        JsonSerializer.Deserialize<ModelSpec>(json, Json) ?? throw new ArgumentException("A model spec cannot be JSON null.");

    /// <summary>Short description for logs, e.g. "resnet18(width 16, 10 classes)".</summary>
    public override string ToString()
    {
        var parts = new List<string>();
        if (Width is { } w) parts.Add($"width {w}");
        if (Channels is { } ch) parts.Add($"channels [{string.Join(", ", ch)}]");
        if (Hidden is { } h) parts.Add($"hidden [{string.Join(", ", h)}]");
        if (Dim is { } d) parts.Add($"dim {d}");
        if (Heads is { } hd) parts.Add($"heads {hd}");
        if (MlpDim is { } m) parts.Add($"mlp {m}");
        if (Depth is { } dp) parts.Add($"depth {dp}");
        if (Patch is { } p) parts.Add($"patch {p}");
        if (Source is { } src) parts.Add(Path.GetFileName(src));
        if (Input is { } input) parts.Add($"{input} input");
        parts.Add($"{Classes} classes");
        return $"{Arch}({string.Join(", ", parts)})";
    }

    // Records compare arrays by reference; compare the spelled-out JSON instead.
    public bool SameAs(ModelSpec other) => ModelRegistry.Complete(this).ToJson() == ModelRegistry.Complete(other).ToJson();
}
