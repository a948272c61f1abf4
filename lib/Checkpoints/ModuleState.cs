using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Checkpoints;

/// <summary>
/// What <see cref="PtCheckpoint.LoadInto"/> or <see cref="Safetensors.LoadInto"/> matched by name between a
/// file and a module: the entries copied, the module's entries the file lacks, and the file's entries the
/// module lacks.
/// </summary>
public sealed record StateDictMatch(IReadOnlyList<string> Loaded, IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected);

/// <summary>
/// Copies checked tensors into a module's parameters and buffers. This replaces PyBridge's
/// <c>module.load_py</c>, which writes the file's bytes through the file's own sizes and strides into
/// the module's tensors, without comparing shapes.
/// </summary>
internal static class ModuleState
{
    public static StateDictMatch CopyInto(nn.Module module, IReadOnlyDictionary<string, Tensor> source, string path, bool strict)
    {
        ArgumentNullException.ThrowIfNull(module);
        var target = module.state_dict();
        var missing = target.Keys.Where(k => !source.ContainsKey(k)).ToList();
        var unexpected = source.Keys.Where(k => !target.ContainsKey(k)).ToList();
        if (strict && (missing.Count > 0 || unexpected.Count > 0))
            throw new InvalidDataException($"'{path}' does not match the names of {module.GetName()}: " +
                                           $"missing {List(missing)}, unexpected {List(unexpected)}; " +
                                           "pass strict: false to load the entries that match");
        // Every shape is checked before anything is copied: a refused file leaves the module as it was.
        var loaded = new List<string>();
        foreach (var (name, t) in source)
        {
            if (!target.TryGetValue(name, out var dst)) continue;
            if (!dst.shape.SequenceEqual(t.shape))
                throw new InvalidDataException($"'{path}': {SafeText.Quote(name)} has shape [{string.Join(", ", t.shape)}] in the file " +
                                               $"but [{string.Join(", ", dst.shape)}] in {module.GetName()}");
            loaded.Add(name);
        }
        using (torch.no_grad())
            foreach (var name in loaded)
                target[name].copy_(source[name]);
        return new StateDictMatch(loaded, missing, unexpected);
    }

    static string List(List<string> names) =>
        names.Count == 0 ? "none" : "[" + string.Join(", ", names.Take(5).Select(n => SafeText.Clean(n))) + (names.Count > 5 ? $", … ({names.Count} in all)" : "") + "]";
}
