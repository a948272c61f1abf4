using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Checkpoints;

/// <summary>
/// Reads PyTorch <c>torch.save</c> files (the zip format of PyTorch ≥ 1.6) without Python: a state dict,
/// or any nest of dicts, lists and tuples holding tensors. Nested names are joined with dots
/// (<c>{"model": {"fc.weight": t}}</c> gives <c>model.fc.weight</c>), list and tuple items by index.
/// Numbers, strings, None and pickled Python objects are skipped: nothing in the file is executed.
/// Tensors land on the CPU (like <c>map_location="cpu"</c>); tensors that shared storage in Python
/// share it here too.
/// </summary>
/// <remarks>
/// TorchSharp.PyBridge's unpickler cannot take an untrusted file: it reads records through the file's
/// own sizes and strides, checks no CRC and loses the state-dict order (README.md in this folder has the
/// details). The pickle is therefore parsed here (<see cref="TorchPickle"/>), and libtorch only receives
/// storages whose byte counts and CRCs were checked against the archive, and views checked against
/// their storage.
/// </remarks>
public static class PtCheckpoint
{
    const int MaxDepth = 100;
    const int MaxNameLength = 1 << 16;

    /// <summary>
    /// Loads the tensors of a torch.save file, in the order they were saved. A floating-point tensor holding
    /// NaN or ±inf is refused (<see cref="NonFinite"/>) unless <paramref name="allowNonFinite"/>.
    /// </summary>
    public static OrderedDictionary<string, Tensor> Load(string path, bool allowNonFinite = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
            throw Bad(path, "it is a directory, not a file", "pass the path of the .pt/.pth file inside it");
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return Load(fs, path, allowNonFinite);
    }

    /// <summary>Loads the tensors of a torch.save file held in memory; <paramref name="sourceName"/> names it in errors.</summary>
    public static OrderedDictionary<string, Tensor> Load(byte[] bytes, string sourceName = "<memory>", bool allowNonFinite = false)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        using var ms = new MemoryStream(bytes, writable: false);
        return Load(ms, sourceName, allowNonFinite);
    }

    /// <summary>
    /// Copies the tensors of a torch.save file into <paramref name="module"/>'s parameters and buffers of the
    /// same names (use this, not PyBridge's <c>load_py</c>: README.md in this folder says why). With
    /// <paramref name="strict"/>, names must match both ways; without it, the matching entries are copied
    /// (a subset checkpoint). Shapes must always match, and values must be finite unless
    /// <paramref name="allowNonFinite"/>; nothing is copied when any check fails.
    /// </summary>
    public static StateDictMatch LoadInto(nn.Module module, string path, bool strict = true, bool allowNonFinite = false)
    {
        using var scope = torch.NewDisposeScope();
        return ModuleState.CopyInto(module, Load(path, allowNonFinite), path, strict);
    }

    internal const string DefaultFix = "get an intact copy of the file, or re-save the weights with torch.save(model.state_dict(), path)";

    /// <summary>
    /// The one error of this reader: names the file, the problem and what to do (<paramref name="fix"/>;
    /// "" when the problem already says it). Text from the file reaches it only through <see cref="SafeText"/>.
    /// </summary>
    internal static InvalidDataException Bad(string path, string problem, string fix = DefaultFix) =>
        new($"'{path}' is not a readable PyTorch checkpoint: {problem}." + (fix.Length > 0 ? $" To fix: {fix}." : ""));

    static OrderedDictionary<string, Tensor> Load(Stream s, string path, bool allowNonFinite)
    {
        using var archive = new TorchArchive(s, path);
        var pickle = archive.ReadPickle();
        var root = TorchPickle.Read(pickle, path);
        var result = new OrderedDictionary<string, Tensor>(StringComparer.Ordinal);
        var skipped = new List<string>();
        try
        {
            // A tree without shared references has at most one node per pickle byte; a few shared
            // tensors (tied weights) add little. Far more visits means a tiny pickle describing a huge tree.
            // Joined names are charged too: shared references to a long key would otherwise multiply it
            // into gigabytes of names from a pickle of kilobytes.
            var budget = new Budget { Left = 2L * pickle.Length + 10_000, Chars = 16L * pickle.Length + (1 << 20), Views = pickle.Length / 4 + 1_000 };
            Flatten(root, "", 0, result, skipped, archive, budget, path);
            if (result.Count == 0 && skipped.Count > 0)
                throw Bad(path, $"it holds no tensors, only pickled Python objects ({string.Join(", ", skipped.Distinct().Take(3).Select(c => SafeText.Clean(c)))})",
                                "load it in Python and save model.state_dict() instead of the model object");
            if (!allowNonFinite) NonFinite.CheckAll(result, path);
            return result;
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
    }

    sealed class Budget
    {
        public long Left, Chars, Views;
    }

    static void Flatten(object? v, string name, int depth, OrderedDictionary<string, Tensor> result, List<string> skipped,
        TorchArchive archive, Budget budget, string path)
    {
        // Shared references can make a small pickle describe a huge (or cyclic) tree: bound the walk.
        if (depth > MaxDepth) throw Bad(path, $"its values nest deeper than {MaxDepth} levels (or form a cycle)");
        if (--budget.Left < 0) throw Bad(path, "its values reference each other too many times");
        if (name.Length > MaxNameLength) throw Bad(path, $"a joined name is longer than {MaxNameLength} characters");
        switch (v)
        {
            case TensorRef r:
                if (--budget.Views < 0) throw Bad(path, "it references its tensors more times than its pickle can describe (shared references)");
                var t = archive.View(r);
                if (!result.TryAdd(name, t))
                {
                    t.Dispose();
                    throw Bad(path, $"the name {SafeText.Quote(name)} occurs twice once nested names are joined with dots");
                }
                break;
            case PyDict d:
                foreach (var (k, item) in d.Items)
                {
                    var key = k switch
                    {
                        string s => s,
                        long l => l.ToString(CultureInfo.InvariantCulture),
                        _ => null, // tuple or float keys name no state-dict entry
                    };
                    if (key != null) Flatten(item, Join(name, key, budget, path), depth + 1, result, skipped, archive, budget, path);
                }
                break;
            case PyList l:
                for (var i = 0; i < l.Count; i++) Flatten(l[i], Join(name, i.ToString(CultureInfo.InvariantCulture), budget, path), depth + 1, result, skipped, archive, budget, path);
                break;
            case object?[] tuple:
                for (var i = 0; i < tuple.Length; i++) Flatten(tuple[i], Join(name, i.ToString(CultureInfo.InvariantCulture), budget, path), depth + 1, result, skipped, archive, budget, path);
                break;
            case PyObject o:
                skipped.Add(o.Class);
                break;
        }
    }

    static string Join(string prefix, string key, Budget budget, string path)
    {
        var length = prefix.Length == 0 ? key.Length : (long)prefix.Length + 1 + key.Length;
        if (length > MaxNameLength) throw Bad(path, $"a joined name is longer than {MaxNameLength} characters");
        if ((budget.Chars -= length) < 0) throw Bad(path, "its joined names are far longer than its pickle (a long key referenced many times)");
        return prefix.Length == 0 ? key : prefix + "." + key;
    }
}
