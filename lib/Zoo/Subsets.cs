using System.Text.RegularExpressions;
using PDiff.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>
/// Named parameter subsets of a base model, and the exact map between a model's subset tensors and one
/// flat vector. A selector is a preset, a module or parameter name, a glob (<c>layer4.*.bn?</c>) or a
/// regex (<c>re:^layer3\..*bn</c>); several can be joined with commas. Presets:
/// <list type="bullet">
/// <item><c>last-two-norms</c> (default): the affine weight and bias of the last two normalisation layers
/// in forward order (ResNet-18: <c>layer4.1.bn1</c>, <c>layer4.1.bn2</c>; ViT: <c>blocks.{last}.norm2</c>,
/// <c>norm</c>) — the reference's default (§1.1, §1.3);</item>
/// <item><c>classifier</c> (the final linear layer), <c>first-conv</c> (the first layer that sees the
/// image), <c>all</c> (every parameter), <c>whole</c> (every parameter and every floating-point buffer, i.e. BatchNorm's
/// running statistics too: the whole network, for generating networks from scratch, where a row must carry the
/// statistics that belong to its own weights);</item>
/// <item>architecture presets such as ResNet-18's <c>bn14-16</c> and <c>bn10-14</c> (the paper's other BN locations).</item>
/// </list>
/// Tensors are always ordered as the model's <c>state_dict()</c> (for parameters, the
/// <c>named_parameters()</c> order that the reference's write-back walks), whatever the order of the selector. Module and pattern selectors pick parameters;
/// a float buffer (e.g. <c>layer4.1.bn1.running_var</c>) is picked only by its exact name, which imported
/// V2-dev zoos need.
/// <para>
/// Everything here takes any TorchSharp module and finds tensors by name: our classifiers declare their
/// norms, classifier and first layer (and extra presets); for another module (a user's class, a
/// TorchScript file) the presets are read off its parameters (<see cref="ModelAnatomy"/>).
/// </para>
/// </summary>
public static class Subsets
{
    public const string DefaultPreset = "last-two-norms";
    static readonly string[] CommonPresets = { "last-two-norms", "classifier", "first-conv", "all", "whole" };

    /// <summary>Every preset name this model accepts.</summary>
    public static IReadOnlyList<string> PresetNames(nn.Module model) => CommonPresets.Concat(ExtraPresets(model).Keys).ToList();

    static IReadOnlyDictionary<string, string[]> ExtraPresets(nn.Module model) =>
        model is ImageClassifier c ? c.ExtraPresets : new Dictionary<string, string[]>();

    static string Describe(nn.Module model) => model is ImageClassifier c ? c.Spec.ToString() : ModuleTree.Describe(model);

    /// <summary>Resolves <paramref name="selector"/> against <paramref name="model"/> into a layout.</summary>
    public static SubsetLayout Resolve(nn.Module model, string selector)
    {
        if (string.IsNullOrWhiteSpace(selector)) selector = DefaultPreset;
        var state = ModuleTree.StateDict(model);
        var parameters = model.named_parameters().Select(p => p.name).ToList();
        var buffers = model.named_buffers().Where(b => torch.is_floating_point(b.buffer)).Select(b => b.name).ToHashSet();
        var chosen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var raw in selector.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var picked = Pick(model, raw, parameters, buffers);
            if (picked.Count == 0) throw UnknownSelector(model, raw);
            chosen.UnionWith(picked);
        }
        var seen = new HashSet<string>();
        return new SubsetLayout(state.Where(kv => chosen.Contains(kv.Key) && seen.Add(kv.Key)).Select(kv => new TensorSpec(kv.Key, kv.Value.shape)).ToList());
    }

    static List<string> Pick(nn.Module model, string sel, List<string> parameters, HashSet<string> buffers)
    {
        var preset = sel.ToLowerInvariant();
        switch (preset)
        {
            case "last-two-norms":
                var norms = ModelAnatomy.NormModules(model);
                if (norms.Count < 2)
                    throw new ArgumentException($"Subset 'last-two-norms': {(model is ImageClassifier c ? c.Spec.Arch : model.GetType().Name)} has {norms.Count} normalisation layer(s) with affine parameters; choose another subset ({string.Join(", ", PresetNames(model).Where(p => p != "last-two-norms"))}).");
                return Under(parameters, norms.Skip(norms.Count - 2));
            case "classifier": return Under(parameters, new[] { model is ImageClassifier ic ? ic.ClassifierModule : ModelAnatomy.ClassifierModule(model) });
            case "first-conv": return Under(parameters, new[] { model is ImageClassifier fc ? fc.FirstLayerModule : ModelAnatomy.FirstLayerModule(model) });
            case "all": return parameters.ToList();
            case "whole": return parameters.Concat(buffers).ToList();
        }
        if (ExtraPresets(model).TryGetValue(preset, out var modules)) return Under(parameters, modules);
        if (sel.StartsWith("re:", StringComparison.Ordinal))
        {
            Regex re;
            try { re = new Regex(sel[3..], RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)); }
            catch (ArgumentException e) { throw new ArgumentException($"Subset selector '{sel}': invalid regular expression ({e.Message}).", e); }
            return parameters.Where(p => re.IsMatch(p)).ToList();
        }
        if (sel.IndexOfAny(new[] { '*', '?' }) >= 0)
        {
            var re = GlobToRegex(sel);
            // A glob names parameters or the modules that hold them: "layer4.*.bn1" picks their weight and bias.
            return parameters.Where(p => re.IsMatch(p) || ModulePrefixes(p).Any(m => re.IsMatch(m))).ToList();
        }
        if (buffers.Contains(sel)) return new List<string> { sel };
        return Under(parameters, new[] { sel });
    }

    /// <summary>Parameters named <paramref name="names"/> or lying under those modules.</summary>
    static List<string> Under(List<string> parameters, IEnumerable<string> names)
    {
        var ns = names.ToList();
        return parameters.Where(p => ns.Any(n => p == n || p.StartsWith(n + ".", StringComparison.Ordinal))).ToList();
    }

    static IEnumerable<string> ModulePrefixes(string param)
    {
        for (var i = param.LastIndexOf('.'); i > 0; i = param.LastIndexOf('.', i - 1))
            yield return param[..i];
    }

    /// <summary><c>*</c> matches within one dotted component, <c>**</c> across components, <c>?</c> one character.</summary>
    static Regex GlobToRegex(string glob)
    {
        var sb = new System.Text.StringBuilder("^");
        for (var i = 0; i < glob.Length; i++)
        {
            var c = glob[i];
            if (c == '*' && i + 1 < glob.Length && glob[i + 1] == '*') { sb.Append(".*"); i++; }
            else if (c == '*') sb.Append("[^.]*");
            else if (c == '?') sb.Append("[^.]");
            else sb.Append(Regex.Escape(c.ToString()));
        }
        return new Regex(sb.Append('$').ToString(), RegexOptions.CultureInvariant);
    }

    static ArgumentException UnknownSelector(nn.Module model, string sel)
    {
        var modules = ModelAnatomy.ParameterLayers(model);
        return new ArgumentException(
            $"Subset '{sel}' matches no parameter of {Describe(model)}. Presets: {string.Join(", ", PresetNames(model))}. " +
            $"Layers: {string.Join(", ", modules)}. Also accepted: parameter names (layer.weight), globs (layer4.*.bn?) and regexes (re:...), comma-separated.");
    }

    /// <summary>The model's own tensors of the layout, in layout order (live, not copies: never dispose them).</summary>
    public static IReadOnlyList<Tensor> Tensors(nn.Module model, SubsetLayout layout)
    {
        var all = new Dictionary<string, Tensor>();
        foreach (var (k, v) in ModuleTree.StateDict(model)) all.TryAdd(k, v);
        return layout.Tensors.Select(t =>
        {
            if (!all.TryGetValue(t.Name, out var v))
                throw new KeyNotFoundException($"The subset names '{t.Name}', which the model ({Describe(model)}) does not have.");
            if (!v.shape.SequenceEqual(t.Shape))
                throw new ArgumentException($"Subset tensor '{t.Name}' has shape [{string.Join(", ", t.Shape)}] in the layout but [{string.Join(", ", v.shape)}] in the model.");
            return v;
        }).ToList();
    }

    /// <summary>The subset as one float32 vector [N] (a copy; row-major, concatenated in layout order).</summary>
    public static Tensor Flatten(nn.Module model, SubsetLayout layout)
    {
        using var scope = torch.NewDisposeScope();
        using (torch.no_grad())
        {
            var parts = Tensors(model, layout).Select(t => t.detach().reshape(-1).to(ScalarType.Float32)).ToList();
            // cat always copies, so the vector never aliases the model's tensors (even for a one-tensor subset).
            return torch.cat(parts, 0).MoveToOuterDisposeScope();
        }
    }

    /// <summary>
    /// Copies <paramref name="vector"/> [N] into the model's subset tensors, in place (so optimizers and
    /// references stay valid). Exact: Flatten after WriteBack returns the same bits.
    /// </summary>
    public static void WriteBack(nn.Module model, SubsetLayout layout, Tensor vector)
    {
        var n = layout.Length;
        if (vector.dim() != 1 || vector.size(0) != n)
            throw new ArgumentException($"WriteBack: the vector has shape [{string.Join(", ", vector.shape)}] but the subset ({layout.Tensors.Count} tensors) needs [{n}].", nameof(vector));
        using var scope = torch.NewDisposeScope();
        using (torch.no_grad())
        {
            var targets = Tensors(model, layout);
            long at = 0;
            for (var i = 0; i < targets.Count; i++)
            {
                var len = layout.Tensors[i].Numel;
                targets[i].copy_(vector.narrow(0, at, len).reshape(layout.Tensors[i].Shape));
                at += len;
            }
        }
    }
}
