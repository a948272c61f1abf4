using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Models;

/// <summary>Keys that a non-strict <see cref="ModuleTree.LoadStateDict"/> skipped.</summary>
public sealed record LoadStateResult(IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys);

/// <summary>
/// PyTorch's traversal orders and state-dict semantics for any TorchSharp module (ours, a user's class, a
/// TorchScript module). Why not TorchSharp's own: its <c>named_modules()</c> is breadth-first without the
/// root and its <c>state_dict()</c> lists all parameters before all buffers, while subsets, manifests and
/// the reference's write-back follow PyTorch's order (each module's parameters, then its buffers, then its
/// children, depth first). Its <c>load_state_dict</c> also reports a mismatch without naming the keys.
/// </summary>
public static class ModuleTree
{
    /// <summary>Every module, the root first (named ""), depth first in registration order: PyTorch's <c>named_modules()</c>.</summary>
    public static IEnumerable<(string Name, nn.Module Module)> NamedModules(nn.Module root, string prefix = "")
    {
        yield return (prefix, root);
        foreach (var (name, child) in root.named_children())
            foreach (var m in NamedModules(child, Join(prefix, name))) yield return m;
    }

    /// <summary>
    /// The module named <paramref name="name"/> (dotted), or null. Also looks inside a TorchScript model's
    /// script, whose tensors are registered flat on the wrapper and whose modules are the script's.
    /// </summary>
    public static nn.Module? Find(nn.Module root, string name)
    {
        foreach (var (n, m) in NamedModules(root))
            if (n == name) return m;
        return root is TorchScriptModel ts ? Find(ts.Script, name) : null;
    }

    /// <summary>
    /// Parameters and persistent buffers by dotted name, in PyTorch's <c>state_dict()</c> order. The tensors
    /// are the module's own (live, not copies): clone what must outlive a change, never dispose them.
    /// </summary>
    public static List<KeyValuePair<string, Tensor>> StateDict(nn.Module root)
    {
        var result = new List<KeyValuePair<string, Tensor>>();
        foreach (var (name, m) in NamedModules(root))
        {
            foreach (var (p, t) in m.named_parameters(false)) result.Add(new(Join(name, p), t));
            foreach (var (b, t) in m.named_buffers(false, false)) result.Add(new(Join(name, b), t));
        }
        return result;
    }

    /// <summary>Parameters by dotted name (PyTorch order), typed as the optimizers want them.</summary>
    public static Dictionary<string, TorchSharp.Modules.Parameter> Parameters(nn.Module root) =>
        root.named_parameters().ToDictionary(p => p.name, p => p.parameter);

    /// <summary>Number of parameter elements (optionally only those that require grad).</summary>
    public static long ParameterCount(nn.Module root, bool trainableOnly = false) =>
        root.parameters().Where(p => !trainableOnly || p.requires_grad).Sum(p => p.numel());

    /// <summary>"ResNet18(11,172,810 parameters)": how messages name a module.</summary>
    public static string Describe(nn.Module m) => m is ImageClassifier c ? c.ToString() : $"{m.GetType().Name}({ParameterCount(m):N0} parameters)";

    /// <summary>
    /// Copies values into the module's own tensors in place (so optimizers and references stay valid),
    /// converting dtype and device. Strict mode demands exactly the module's keys; non-strict loads the
    /// keys present and reports the rest. A shape mismatch is always an error naming the key and shapes.
    /// </summary>
    public static LoadStateResult LoadStateDict(nn.Module root, IEnumerable<KeyValuePair<string, Tensor>> source, bool strict = true)
    {
        var mine = new Dictionary<string, Tensor>();
        foreach (var (k, v) in StateDict(root)) mine.TryAdd(k, v);
        var given = source.ToList();
        var givenKeys = given.Select(kv => kv.Key).ToHashSet();
        var unexpected = given.Select(kv => kv.Key).Where(k => !mine.ContainsKey(k)).ToList();
        var missing = mine.Keys.Where(k => !givenKeys.Contains(k)).ToList();
        if (strict && (unexpected.Count > 0 || missing.Count > 0))
            throw new KeyNotFoundException(
                $"load_state_dict into {root.GetType().Name} (strict): " +
                (missing.Count > 0 ? $"missing keys [{string.Join(", ", missing)}]" : "") +
                (missing.Count > 0 && unexpected.Count > 0 ? "; " : "") +
                (unexpected.Count > 0 ? $"unexpected keys [{string.Join(", ", unexpected)}]" : "") +
                ". Pass strict: false to load the keys that match.");
        foreach (var (key, value) in given)
            if (mine.TryGetValue(key, out var target) && !target.shape.SequenceEqual(value.shape))
                throw new ArgumentException($"load_state_dict: '{key}' has shape {Shape(value.shape)} but the module expects {Shape(target.shape)}.");
        using (no_grad())
            foreach (var (key, value) in given)
                if (mine.TryGetValue(key, out var target))
                    target.copy_(value);   // copy_ converts dtype and device itself
        return new LoadStateResult(missing, unexpected);
    }

    /// <summary>Detached copies of the state, outside any dispose scope (a snapshot to restore later). Free with <see cref="Free"/>.</summary>
    public static Dictionary<string, Tensor> Snapshot(nn.Module root, Func<string, bool>? which = null)
    {
        using (no_grad())
            return StateDict(root).Where(kv => which?.Invoke(kv.Key) ?? true)
                .ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope());
    }

    public static void Free(IReadOnlyDictionary<string, Tensor>? tensors)
    {
        if (tensors is null) return;
        foreach (var t in tensors.Values) t.Dispose();
    }

    /// <summary>The train/eval flag of every module, to put back with <see cref="RestoreModes"/>.</summary>
    public static List<(nn.Module Module, bool Training)> Modes(nn.Module root) =>
        NamedModules(root).Select(m => (m.Module, m.Module.training)).ToList();

    /// <summary>
    /// Sets each module's own flag as recorded. TorchSharp's <c>train(bool)</c> recurses into children, so
    /// the flags are applied parent first: every child's own value is written after its parent's.
    /// </summary>
    public static void RestoreModes(IEnumerable<(nn.Module Module, bool Training)> modes)
    {
        foreach (var (m, training) in modes) m.train(training);
    }

    internal static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    internal static string Shape(long[] shape) => $"[{string.Join(", ", shape)}]";
}
