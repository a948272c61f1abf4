using PDiff.Data;
using PDiff.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>
/// Name matching between a stored state dict (a base model, a subset checkpoint) and a network, with errors
/// a user can act on: every mismatch names the file, the network, what differs (names, shapes, kinds of
/// number) and what to do, in one message.
/// </summary>
public static class StateDicts
{
    static readonly string[] KnownPrefixes = { "", "model.", "module.", "net.", "model.module." };

    /// <summary>
    /// Drops a wrapper prefix (<c>model.</c> as the reference's CIFAR wrapper writes, <c>module.</c> from
    /// DataParallel) so that the keys are the model's. The prefix chosen is the one under which every
    /// key that has it names a tensor of the model; none fits → an error listing examples of both sides.
    /// </summary>
    public static List<KeyValuePair<string, Tensor>> MatchPrefix(IEnumerable<KeyValuePair<string, Tensor>> source, ISet<string> modelKeys, string origin)
    {
        var items = source.ToList();
        var renamed = BestPrefix(items, modelKeys);
        if (renamed.All(kv => modelKeys.Contains(kv.Key))) return renamed;
        var unknown = items.Select(kv => kv.Key).Where(k => !modelKeys.Contains(k)).Take(5);
        throw new KeyNotFoundException(
            $"{origin}: tensor names do not match the model (also tried dropping the prefixes {string.Join(", ", KnownPrefixes.Skip(1))}). " +
            $"Unknown here: [{string.Join(", ", unknown)}]; the model has e.g. [{string.Join(", ", modelKeys.Take(5))}]. " +
            "Check the architecture spec (arch, width, depth) matches the network that wrote the file.");
    }

    /// <summary>The entries renamed under the known prefix that most of them fit (the empty prefix on a tie).</summary>
    static List<KeyValuePair<string, Tensor>> BestPrefix(List<KeyValuePair<string, Tensor>> items, ISet<string> modelKeys)
    {
        List<KeyValuePair<string, Tensor>>? best = null;
        var bestHits = -1;
        foreach (var p in KnownPrefixes)
        {
            if (!items.All(kv => kv.Key.StartsWith(p, StringComparison.Ordinal))) continue;
            var renamed = items.Select(kv => new KeyValuePair<string, Tensor>(kv.Key[p.Length..], kv.Value)).ToList();
            var hits = renamed.Count(kv => modelKeys.Contains(kv.Key));
            if (hits > bestHits) (best, bestHits) = (renamed, hits);
        }
        return best!;
    }

    /// <summary>
    /// <paramref name="source"/> (the tensors of <paramref name="file"/>) renamed to the network's names, after
    /// checking that they fit <paramref name="network"/>'s state <paramref name="networkState"/>: every name is
    /// the network's (up to a wrapper prefix), every shape is the network's, a float tensor of the network gets
    /// float values, and, when <paramref name="complete"/>, every tensor of the network is there. Anything else
    /// is one <see cref="InvalidDataException"/>: "<paramref name="what"/> does not fit <paramref name="network"/>:
    /// what differs. <paramref name="fix"/>".
    /// </summary>
    public static List<KeyValuePair<string, Tensor>> Fit(IEnumerable<KeyValuePair<string, Tensor>> source, IReadOnlyList<KeyValuePair<string, Tensor>> networkState,
        bool complete, string what, string network, string fix)
    {
        var mine = new Dictionary<string, Tensor>();
        foreach (var (k, v) in networkState) mine.TryAdd(k, v);
        var renamed = BestPrefix(source.ToList(), mine.Keys.ToHashSet());
        var given = renamed.Select(kv => kv.Key).ToHashSet();
        var problems = new List<string>();
        var shapes = renamed.Where(kv => mine.TryGetValue(kv.Key, out var t) && !t.shape.SequenceEqual(kv.Value.shape))
            .Select(kv => $"'{kv.Key}' is {DataShapes.Format(kv.Value.shape)} in the file but {DataShapes.Format(mine[kv.Key].shape)} in the network").ToList();
        if (shapes.Count > 0) problems.Add(List(shapes, 3, "tensors differ in shape"));
        var missing = complete ? mine.Keys.Where(k => !given.Contains(k)).ToList() : new List<string>();
        if (missing.Count > 0) problems.Add($"the file lacks {Names(missing)} of the network's {mine.Count} tensors");
        var unknown = renamed.Select(kv => kv.Key).Where(k => !mine.ContainsKey(k)).ToList();
        if (unknown.Count > 0) problems.Add($"the file has {Names(unknown)} that the network lacks");
        var kinds = renamed.Where(kv => mine.TryGetValue(kv.Key, out var t) && is_floating_point(t) && !is_floating_point(kv.Value))
            .Select(kv => $"'{kv.Key}' holds {kv.Value.dtype} numbers but the network's is {mine[kv.Key].dtype}").ToList();
        if (kinds.Count > 0) problems.Add(List(kinds, 3, "tensors hold other numbers"));
        if (problems.Count == 0) return renamed;
        throw new InvalidDataException($"{what} does not fit {network}: {string.Join("; ", problems)}. {fix}");
    }

    /// <summary>How messages name a network: its TorchScript file, else its spec (or its class).</summary>
    public static string NetworkName(nn.Module model, ModelSpec? spec) => model switch
    {
        TorchScriptModel ts => $"the TorchScript network {Path.GetFullPath(ts.SourcePath)}",
        _ when spec is not null => $"the network {spec}",
        _ => $"the network {model.GetType().Name}",
    };

    /// <summary>
    /// What to do when stored tensors do not fit the network: export the right network, or name the one that wrote
    /// them. <paramref name="stored"/> starts the sentence: "The file base.pth", "The checkpoints in ck/" (<paramref name="plural"/>).
    /// </summary>
    public static string ArchitectureFix(string stored, nn.Module model, ModelSpec? spec, bool plural = false)
    {
        var were = plural ? "were" : "was";
        if (model is TorchScriptModel ts)
        {
            var script = Path.GetFileName(ts.SourcePath);
            return $"{stored} {were} saved from another architecture than {script}: export {script} again from the network that wrote " +
                $"{(plural ? "them" : "it")} (torch.jit.script(model).save(\"{script}\")), or pass that network's TorchScript file (--torchscript; ModelSpec.Source in C#).";
        }
        return $"{stored} {were} saved from another architecture than {spec?.ToString() ?? model.GetType().Name}: pass the --arch and size options " +
            "(--width, --hidden, --depth, …) of the network that wrote " + (plural ? "them" : "it") + " (ModelSpec in C#), or export that network with " +
            "torch.jit.script(model).save(\"model.pt\") and pass --torchscript model.pt.";
    }

    static string Names(List<string> names) =>
        (names.Count == 1 ? "1 tensor (" : $"{names.Count} tensors (") + string.Join(", ", names.Take(5)) + (names.Count > 5 ? ", …" : "") + ")";

    static string List(List<string> items, int max, string what) =>
        items.Count <= max ? string.Join("; ", items) : $"{items.Count} {what}: {string.Join("; ", items.Take(max))}; …";
}
