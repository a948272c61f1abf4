using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Diffusion;

/// <summary>Strict state-dict loading with errors that name the keys and shapes (TorchSharp's own says only that the dicts differ).</summary>
internal static class StateDicts
{
    /// <summary>Copies every entry of <paramref name="state"/> into the module's tensor of the same name; keys must match exactly.</summary>
    public static void LoadStrict(nn.Module module, IEnumerable<KeyValuePair<string, Tensor>> state, string what)
    {
        var mine = module.state_dict();
        var given = state.ToList();
        var missing = mine.Keys.Except(given.Select(kv => kv.Key)).ToList();
        var unexpected = given.Select(kv => kv.Key).Where(k => !mine.ContainsKey(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new KeyNotFoundException($"{what}: " +
                (missing.Count > 0 ? $"missing keys [{string.Join(", ", missing)}]" : "") +
                (missing.Count > 0 && unexpected.Count > 0 ? "; " : "") +
                (unexpected.Count > 0 ? $"unexpected keys [{string.Join(", ", unexpected)}]" : "") + ".");
        foreach (var (key, value) in given)
            if (!mine[key].shape.SequenceEqual(value.shape))
                throw new ArgumentException($"{what}: '{key}' has shape [{string.Join(", ", value.shape)}] but the module expects [{string.Join(", ", mine[key].shape)}].");
        using var scope = NewDisposeScope();
        using (no_grad())
            foreach (var (key, value) in given)
                mine[key].copy_(value);
    }

    /// <summary>The module's parameters and buffers under <paramref name="prefix"/> (the module's own tensors, not copies).</summary>
    public static IEnumerable<KeyValuePair<string, Tensor>> Named(nn.Module module, string prefix) =>
        module.state_dict().Select(kv => new KeyValuePair<string, Tensor>(prefix + "." + kv.Key, kv.Value));
}
