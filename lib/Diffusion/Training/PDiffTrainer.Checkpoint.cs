using System.Globalization;
using System.Text.Json;
using PDiff.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PDiff.Diffusion;

// Periodic checkpoints and resume. A checkpoint is a folder <dir>/checkpoint holding state.safetensors
// (weights of every part, generator states, batch orders, loss histories; counters, config and normaliser
// in its metadata) and the two optimisers' states (TorchSharp's own optimizer-state format). It is written
// beside the old one and swapped in by renames, so a kill during a save leaves the previous checkpoint intact.
public sealed partial class PDiffTrainer
{
    const string Current = "checkpoint", Writing = "checkpoint.tmp", Previous = "checkpoint.old";
    const string StateFile = "state.safetensors", AeOptimFile = "ae_optim.bin", DiffOptimFile = "diffusion_optim.bin";
    string? pendingAeOptim, pendingDiffOptim;

    void SaveCheckpoint(string dir)
    {
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, Writing);
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        using (var scope = NewDisposeScope())
        {
            var tensors = Model.NamedState().ToDictionary(kv => "model." + kv.Key, kv => kv.Value);
            tensors["rng.ae"] = aeGen.get_state();
            tensors["rng.diffusion"] = diffGen.get_state();
            if (aeBatches.Permutation is { } pa) tensors["batches.ae"] = pa;
            if (diffBatches.Permutation is { } pd) tensors["batches.diffusion"] = pd;
            if (aeLosses.Count > 0) tensors["loss.ae"] = tensor(aeLosses.ToArray());
            if (diffLosses.Count > 0) tensors["loss.diffusion"] = tensor(diffLosses.ToArray());
            var inv = CultureInfo.InvariantCulture;
            var meta = new Dictionary<string, string>
            {
                ["format"] = "pdiff-training-checkpoint",
                ["ae_step"] = aeStep.ToString(inv),
                ["diffusion_step"] = diffStep.ToString(inv),
                ["ae_batch_position"] = aeBatches.Position.ToString(inv),
                ["diffusion_batch_position"] = diffBatches.Position.ToString(inv),
                ["ema_updates"] = emaUpdates.ToString(inv),
                ["config"] = ConfigText.ToJson(config),
                ["normalizer"] = Model.Normalizer.ToJson(),
                ["validations"] = JsonSerializer.Serialize(validations),
            };
            if (Model.Condition is { } c) meta["condition"] = c.ToJson();
            Safetensors.Save(Path.Combine(tmp, StateFile), tensors, meta);
        }
        // A finished phase never loads its optimiser again (resume only needs it mid-phase): the final
        // checkpoint is then weights and histories alone, a third of the size.
        if (aeStep < config.AeSteps) aeOpt?.save_state_dict(Path.Combine(tmp, AeOptimFile));
        if (diffStep < config.DiffSteps) diffOpt?.save_state_dict(Path.Combine(tmp, DiffOptimFile));
        var cur = Path.Combine(dir, Current);
        var old = Path.Combine(dir, Previous);
        if (Directory.Exists(old)) Directory.Delete(old, true);
        if (Directory.Exists(cur)) Directory.Move(cur, old);
        Directory.Move(tmp, cur);
        if (Directory.Exists(old)) Directory.Delete(old, true);
        Log($"[p-diff] checkpoint at ae step {aeStep}, diffusion step {diffStep} → {cur}");
    }

    /// <summary>Restores the latest checkpoint in <paramref name="dir"/>, if there is one.</summary>
    bool TryResume(string dir)
    {
        var folder = new[] { Current, Previous }.Select(n => Path.Combine(dir, n)).FirstOrDefault(p => File.Exists(Path.Combine(p, StateFile)));
        if (folder is null) return false;
        var file = Path.Combine(folder, StateFile);
        using var content = Safetensors.Load(file);
        var meta = content.Metadata;
        string Meta(string key) => meta.TryGetValue(key, out var v) ? v
            : throw new InvalidDataException($"'{file}' is not a p-diff training checkpoint: metadata '{key}' is missing.");
        if (Meta("format") != "pdiff-training-checkpoint") throw new InvalidDataException($"'{file}' is not a p-diff training checkpoint (format '{meta["format"]}').");
        var saved = ConfigText.FromJson(Meta("config"));
        if (!saved.Equals(config))
            throw new InvalidOperationException($"The checkpoint in '{folder}' was made with a different configuration; resume with the same settings or use another checkpoint folder. Saved: {string.Join(" ", ConfigText.ToArgs(saved))}");
        if (Meta("normalizer") != Model.Normalizer.ToJson())
            throw new InvalidOperationException($"The checkpoint in '{folder}' was trained on different parameter vectors (its normalisation statistics differ from this zoo's).");

        if ((meta.GetValueOrDefault("condition") ?? "") != (Model.Condition?.ToJson() ?? ""))
            throw new InvalidOperationException($"The checkpoint in '{folder}' was trained with other conditions (its condition statistics differ from this run's).");
        var t = content.Tensors;
        Tensor Need(string key) => t.TryGetValue(key, out var v) ? v : throw new InvalidDataException($"'{file}' lacks tensor '{key}'.");
        Model.LoadNamedState(t.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key["model.".Length..], kv => kv.Value), file);
        aeGen.set_state(Need("rng.ae"));
        diffGen.set_state(Need("rng.diffusion"));
        var inv = CultureInfo.InvariantCulture;
        aeStep = int.Parse(Meta("ae_step"), inv);
        diffStep = int.Parse(Meta("diffusion_step"), inv);
        emaUpdates = long.Parse(Meta("ema_updates"), inv);
        aeBatches.Restore(t.GetValueOrDefault("batches.ae"), long.Parse(Meta("ae_batch_position"), inv));
        diffBatches.Restore(t.GetValueOrDefault("batches.diffusion"), long.Parse(Meta("diffusion_batch_position"), inv));
        aeLosses.Clear();
        if (t.TryGetValue("loss.ae", out var la)) aeLosses.AddRange(la.data<float>().ToArray());
        diffLosses.Clear();
        if (t.TryGetValue("loss.diffusion", out var ld)) diffLosses.AddRange(ld.data<float>().ToArray());
        validations.Clear();
        validations.AddRange(JsonSerializer.Deserialize<List<ValidationRecord>>(Meta("validations")) ?? new());
        if (aeLosses.Count != aeStep || diffLosses.Count != diffStep)
            throw new InvalidDataException($"'{file}' is inconsistent: {aeLosses.Count} AE losses for {aeStep} steps, {diffLosses.Count} diffusion losses for {diffStep} steps.");
        // Optimiser states are loaded when each phase builds its optimiser.
        var ao = Path.Combine(folder, AeOptimFile);
        var dopt = Path.Combine(folder, DiffOptimFile);
        pendingAeOptim = aeStep > 0 && aeStep < config.AeSteps ? RequireFile(ao) : null;
        pendingDiffOptim = diffStep > 0 && diffStep < config.DiffSteps ? RequireFile(dopt) : null;
        return true;
    }

    /// <summary>Restores an optimiser's moments and step counts; a file for another optimiser or parameter set is a clear error.</summary>
    static void LoadOptimizer(OptimizerHelper opt, string path)
    {
        try { opt.load_state_dict(path); }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or EndOfStreamException or IOException or FormatException)
        {
            throw new InvalidDataException($"Checkpoint optimiser state '{path}' does not fit this run's optimiser ({e.Message}); the checkpoint is corrupt or from another configuration.", e);
        }
    }

    static string RequireFile(string path) =>
        File.Exists(path) ? path : throw new InvalidDataException($"Checkpoint optimiser state '{path}' is missing; the checkpoint is incomplete.");
}
