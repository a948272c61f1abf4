using PDiff.Storage;

namespace PDiff.Models;

/// <summary>What a network is built for, which sets how many float32 copies of its parameters live at once.</summary>
public enum ModelUse
{
    /// <summary>Built (its weights): one copy.</summary>
    Build = 1,
    /// <summary>Built and loaded from a checkpoint (the module and the state dict read into it): two copies.</summary>
    Load = 2,
    /// <summary>Trained (weights, gradients and the optimizer's two AdamW moments; SGD with momentum keeps one): four copies.</summary>
    Train = 4,
}

/// <summary>
/// The size of a shipped architecture's network, counted from its <see cref="ModelSpec"/> without building it, and
/// the check that it fits the machine (<see cref="CheckFits"/>) before anything is allocated. TorchScript files and
/// registered classes cannot be counted from a spec: their checks pass (their file or class is the bound).
/// </summary>
/// <remarks>
/// The bytes a network needs are at least <c>P · 4 · copies</c> (P parameters in float32, <see cref="ModelUse"/> copies)
/// plus, when trained or scored in batches of B images, <c>B · (input + widest layer output) · 4</c> (one image's
/// input and the largest single activation, the least a forward has to hold). Counts are doubles, so a width of
/// 10⁹ gives a huge number rather than an overflow.
/// </remarks>
public static class ModelSize
{
    /// <summary>Parameters (not buffers) of the network <paramref name="spec"/> describes; null for a TorchScript file or a registered class.</summary>
    public static double? Parameters(ModelSpec spec) => Count(ModelRegistry.Complete(spec));

    // Count and Widest take a completed spec and do not validate it again: the limit search varies one size freely.
    static double? Count(ModelSpec s)
    {
        double c = s.InChannels, size = s.ImageSize, classes = s.Classes;
        switch (s.Arch)
        {
            case "mlp":
            {
                double inF = c * size * size, p = 0;
                foreach (var h in s.Hidden!) { p += inF * h + h + 2.0 * h; inF = h; }   // fc (weight, bias), bn (weight, bias)
                return p + inF * classes + classes;
            }
            case "convnet3":
            {
                var widths = s.Channels ?? Enumerable.Repeat(s.Width!.Value, 3).ToArray();
                double cin = c, p = 0;
                long side = s.ImageSize;
                foreach (double w in widths) { p += cin * w * 9 + w + 2 * w; cin = w; side /= 2; }   // 3×3 conv with bias, bn
                return p + cin * side * side * classes + classes;
            }
            case "resnet18":
            {
                double w = s.Width!.Value;
                var p = c * w * 9 + 2 * w;   // stem conv (no bias), bn1
                var inPlanes = w;
                foreach (var (planes, stride) in new[] { (w, 1), (2 * w, 2), (4 * w, 2), (8 * w, 2) })
                {
                    p += inPlanes * planes * 9 + 2 * planes + planes * planes * 9 + 2 * planes;   // block 1: conv1, bn1, conv2, bn2
                    if (stride != 1 || inPlanes != planes) p += inPlanes * planes + 2 * planes;   // its 1×1 shortcut and bn
                    p += 2 * (planes * planes * 9 + 2 * planes);                                  // block 2
                    inPlanes = planes;
                }
                return p + 8 * w * classes + classes;
            }
            case "vit":
            {
                double d = s.Dim!.Value, m = s.MlpDim!.Value, patch = s.Patch!.Value;
                var tokens = Math.Floor(size / patch) * Math.Floor(size / patch) + 1;
                var block = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (d * m + m) + (m * d + d);
                return d + tokens * d + (c * d * patch * patch + d) + s.Depth!.Value * block + 2 * d + d * classes + classes;
            }
            default:
                return null;
        }
    }

    /// <summary>Elements of one image's input plus its largest single layer output; null where <see cref="Parameters"/> is.</summary>
    public static double? ActivationsPerImage(ModelSpec spec) => Widest(ModelRegistry.Complete(spec));

    static double? Widest(ModelSpec s)
    {
        double pixels = (double)s.ImageSize * s.ImageSize, input = s.InChannels * pixels;
        double? widest = s.Arch switch
        {
            "mlp" => Math.Max(s.Hidden!.Max(), s.Classes),
            "convnet3" => (s.Channels ?? new[] { s.Width!.Value }).Select((w, b) => (double)w * pixels / Math.Pow(4, b)).Max(),
            "resnet18" => (double)s.Width!.Value * pixels,
            "vit" => (Math.Floor((double)s.ImageSize / s.Patch!.Value) * Math.Floor((double)s.ImageSize / s.Patch!.Value) + 1)
                     * Math.Max(3.0 * s.Dim!.Value, s.MlpDim!.Value),
            _ => null,
        };
        return widest is { } w ? input + Math.Max(w, s.Classes) : null;
    }

    /// <summary>
    /// The least bytes <paramref name="spec"/>'s network needs for <paramref name="use"/> with batches of
    /// <paramref name="batch"/> images (see the class remarks); null where <see cref="Parameters"/> is.
    /// </summary>
    public static double? Bytes(ModelSpec spec, ModelUse use, int batch = 0) => BytesOf(ModelRegistry.Complete(spec), use, batch);

    static double? BytesOf(ModelSpec s, ModelUse use, int batch) =>
        Count(s) is { } p ? 4.0 * p * (int)use + 4.0 * batch * Widest(s)!.Value : null;

    /// <summary>
    /// Throws <see cref="BudgetExceededException"/> (an ArgumentOutOfRangeException) when the network does not fit
    /// <paramref name="budget"/> (this machine when null), naming the size to reduce and the largest that fits.
    /// <paramref name="name"/> spells a property as the caller knows it (default "ModelSpec.Width"; the CLI gives "--width").
    /// The spec must be valid (<see cref="ModelRegistry.Complete"/> throws ArgumentException otherwise).
    /// </summary>
    public static void CheckFits(ModelSpec spec, ModelUse use, int batch = 0, MachineBudget? budget = null, Func<string, string>? name = null)
    {
        var s = ModelRegistry.Complete(spec);
        if (BytesOf(s, use, batch) is not { } bytes) return;
        budget ??= MachineBudget.Current();
        name ??= MachineBudget.Prefixed(nameof(ModelSpec));
        if (bytes <= budget.MemoryBytes) return;
        double At(ModelSpec x) => BytesOf(x, use, batch)!.Value;
        var knobs = new List<SizeKnob>();
        void Knob(string property, long? value, Func<long, ModelSpec> with, long min = 1, long step = 1, string? hint = null)
        {
            if (value is { } v) knobs.Add(new SizeKnob(property, v, min, x => At(with(x)), hint, step));
        }
        Knob(nameof(ModelSpec.Width), s.Width, v => s with { Width = Int(v) });
        // A ViT's dim is a multiple of its heads.
        Knob(nameof(ModelSpec.Dim), s.Dim, v => s with { Dim = Int(v) }, min: s.Heads ?? 1, step: s.Heads ?? 1, hint: s.Heads is { } h ? $"a multiple of the {h} heads" : null);
        Knob(nameof(ModelSpec.MlpDim), s.MlpDim, v => s with { MlpDim = Int(v) });
        Knob(nameof(ModelSpec.Depth), s.Depth, v => s with { Depth = Int(v) });
        Knob(nameof(ModelSpec.Classes), s.Classes, v => s with { Classes = Int(v) }, min: 2);
        if (s.Hidden is { } hidden)
        {
            var widest = hidden.Max();
            knobs.Add(new SizeKnob(nameof(ModelSpec.Hidden), widest, 1,
                v => At(s with { Hidden = hidden.Select(h => h == widest ? Int(v) : h).ToArray() }), "for the widest hidden layer"));
        }
        if (s.Channels is { } channels)
        {
            var widest = channels.Max();
            knobs.Add(new SizeKnob(nameof(ModelSpec.Channels), widest, 1,
                v => At(s with { Channels = channels.Select(h => h == widest ? Int(v) : h).ToArray() }), "for the widest block"));
        }
        var p = Count(s)!.Value;
        var copies = use switch
        {
            ModelUse.Build => "",
            ModelUse.Load => "; loading a checkpoint into it takes 2 copies",
            _ => "; training keeps 4 copies: weights, gradients, AdamW's two moments",
        };
        var activations = batch > 0 ? $", plus {MachineBudget.FormatBytes(4.0 * batch * Widest(s)!.Value)} of activations for a batch of {batch}" : "";
        budget.CheckMemory(bytes, $"{Describe(s)} has {MachineBudget.FormatCount(p)} parameters ({MachineBudget.FormatBytes(4 * p)} in float32{copies}){activations}",
            knobs, name);
    }

    static int Int(long v) => (int)Math.Min(v, int.MaxValue);

    static string Describe(ModelSpec s) => s.Arch switch
    {
        "resnet18" => $"a ResNet-18 of width {s.Width}",
        "convnet3" => s.Channels is { } ch ? $"a ConvNet-3 of channels [{string.Join(", ", ch)}]" : $"a ConvNet-3 of width {s.Width}",
        "mlp" => $"an MLP of hidden sizes [{string.Join(", ", s.Hidden!)}] and {s.Classes} classes",
        "vit" => $"a ViT of dim {s.Dim}, MLP {s.MlpDim}, depth {s.Depth}",
        _ => $"a {s.Arch}",
    } + (s.Arch == "mlp" ? "" : $" and {s.Classes} classes");
}
