using System.Diagnostics;
using System.Globalization;
using PDiff.Checkpoints;
using PDiff.Data;
using PDiff.Models;
using PDiff.Storage;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>What <c>pdiff zoo import</c> needs: the user's checkpoint folder, base model and architecture.</summary>
public sealed record ZooImportOptions
{
    /// <summary>Folder of torch.save files (<c>*.pth</c>, <c>*.pt</c>), each a dict of subset tensors by name.</summary>
    public required string Checkpoints { get; init; }
    /// <summary>The fixed base model: a state dict as .pth/.pt or .safetensors.</summary>
    public required string BaseModel { get; init; }
    /// <summary>
    /// The architecture that wrote both (names must match, up to a <c>model.</c>/<c>module.</c> prefix): a shipped
    /// one, a class registered with <see cref="ModelRegistry.Register"/>, or <c>Arch = "torchscript"</c> with
    /// <see cref="ModelSpec.Source"/> the exported file (copied into <see cref="Out"/>). <see cref="ModelSpec.Input"/>
    /// says how the network wants its pixels ("unit" = b/255); the data are scaled accordingly.
    /// </summary>
    public required ModelSpec Model { get; init; }
    public required string Out { get; init; }
    /// <summary>When given, every checkpoint is scored on this dataset's validation and test split.</summary>
    public string? Dataset { get; init; }
    public ulong DataSeed { get; init; } = 0;
    public DataOptions? Data { get; init; }
    /// <summary>Write into a non-empty folder that pdiff did not write (only our own files are ever touched).</summary>
    public bool Force { get; init; }
}

/// <summary>
/// Brings a user's own task into the zoo format: a folder of PyTorch subset checkpoints (the form the
/// reference's <c>finetune.py</c> writes: <c>{name: tensor}</c> per file, optionally with a <c>model.</c>
/// prefix and BN running statistics) plus the base model. Files are taken in ordinal name order (the
/// reference read them in directory order, §8-4); <c>num_batches_tracked</c> and other non-float
/// entries are dropped (as the reference's dataset does). Every file must hold the same tensor names.
/// A TorchScript network is copied into the zoo (<see cref="TorchScriptFile"/>) and the manifest names the
/// copy relative to the folder, so the zoo stands alone: every later step rebuilds the network from it.
/// </summary>
public static class ZooImport
{
    /// <summary>The name of a TorchScript network's copy inside an imported zoo.</summary>
    public const string TorchScriptFile = "model.pt";

    public static ZooTask FromPthFolder(ZooImportOptions o, TextWriter? log = null)
    {
        var clock = Stopwatch.StartNew();
        if (!Directory.Exists(o.Checkpoints)) throw new DirectoryNotFoundException($"Checkpoint folder not found: {o.Checkpoints}");
        var spec = ModelRegistry.Complete(o.Model);
        var script = spec.Arch == ModelSpec.TorchScript ? Path.GetFullPath(spec.Source!) : null;
        if (script is not null && !File.Exists(script))
            throw new FileNotFoundException($"TorchScript model '{spec.Source}' does not exist (ModelSpec.Source / --torchscript).", script);
        ModelRegistry.ValidateSource(spec);   // a TorchScript file libtorch cannot load is refused before the folder is touched
        var writer = ZooWriter.Begin(o.Out, o.Force, keepStaged: false);   // a folder of someone else's files is refused before any work
        using var baseModel = BaseModels.Load(o.BaseModel, spec);
        var basePath = Path.GetFullPath(o.BaseModel);
        var files = Directory.GetFiles(o.Checkpoints)
            .Where(f => Path.GetExtension(f).ToLowerInvariant() is ".pth" or ".pt" && Path.GetFullPath(f) != basePath)
            .OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new FileNotFoundException($"No .pth or .pt checkpoint files in {o.Checkpoints} (besides the base model).");
        log?.WriteLine($"[import] {files.Count} checkpoints from {o.Checkpoints}, base model {o.BaseModel} ({spec})");

        var modelState = new Dictionary<string, Tensor>();
        foreach (var (k, v) in ModuleTree.StateDict(baseModel)) modelState.TryAdd(k, v);
        SubsetLayout? layout = null;
        var rows = new List<Tensor>();
        try
        {
            foreach (var f in files)
            {
                var raw = PtCheckpoint.Load(f);
                try
                {
                    var floats = raw.Where(kv => torch.is_floating_point(kv.Value) && !kv.Key.EndsWith("num_batches_tracked", StringComparison.Ordinal)).ToList();
                    if (floats.Count == 0) throw new InvalidDataException($"{f} holds no float tensors.");
                    var named = StateDicts.MatchPrefix(floats, modelState.Keys.ToHashSet(), f).ToDictionary(kv => kv.Key, kv => kv.Value);
                    layout ??= new SubsetLayout(modelState.Where(kv => named.ContainsKey(kv.Key)).Select(kv => new TensorSpec(kv.Key, kv.Value.shape)).ToList());
                    var want = layout.Tensors.Select(t => t.Name).ToHashSet();
                    if (!want.SetEquals(named.Keys))
                        throw new InvalidDataException($"{f} holds [{string.Join(", ", named.Keys.Order())}] but {Path.GetFileName(files[0])} holds [{string.Join(", ", want.Order())}]; every checkpoint must hold the same tensors.");
                    var parts = new List<Tensor>();
                    foreach (var t in layout.Tensors)
                    {
                        var v = named[t.Name];
                        if (!v.shape.SequenceEqual(t.Shape))
                            throw new InvalidDataException($"{f}: '{t.Name}' has shape [{string.Join(", ", v.shape)}] but the base model's is [{string.Join(", ", t.Shape)}].");
                        parts.Add(v.reshape(-1).to(ScalarType.Float32));
                    }
                    rows.Add(torch.cat(parts, 0).DetachFromDisposeScope());
                    parts.ForEach(p => p.Dispose());
                }
                finally
                {
                    foreach (var t in raw.Values) t.Dispose();
                }
            }
            using var vectors = torch.stack(rows);
            var subsetNames = string.Join(",", layout!.Tensors.Select(t => t.Name));
            log?.WriteLine($"[import] subset: {layout.Tensors.Count} tensors, {layout.Length:N0} numbers ({subsetNames})");

            var val = Enumerable.Repeat(double.NaN, files.Count).ToArray();
            var test = (double[])val.Clone();
            SplitInfo? info = null;
            string dataset = o.Dataset is null ? "unknown" : Datasets.Canonical(o.Dataset);
            var dataOptions = o.Dataset is null ? null : InputScaling.Apply(spec, o.Data);
            double? baseVal = null, baseTest = null;
            if (o.Dataset is not null)
            {
                using var data = Datasets.Load(dataset, o.DataSeed, dataOptions);
                info = data.Info;
                CheckImages(spec, data, dataset);
                log?.WriteLine($"[import] scoring on {dataset}: {info.Validation} validation / {info.Test} test images, {InputScaling.Describe(info.Normalization)}");
                var v = new LabeledImages(data.Validation.X, data.Validation.Y);
                var te = new LabeledImages(data.Test.X, data.Test.Y);
                baseVal = Accuracy.Evaluate(baseModel, v).Accuracy;
                baseTest = Accuracy.Evaluate(baseModel, te).Accuracy;
                using var scorer = new CachedScorer(baseModel, layout, v, te);
                val = scorer.Score(vectors, EvalSplit.Validation).Select(s => s.Accuracy).ToArray();
                test = scorer.Score(vectors, EvalSplit.Test).Select(s => s.Accuracy).ToArray();
            }
            var stored = spec;
            if (script is not null)
            {
                AtomicFile.Copy(script, writer.Staged(TorchScriptFile));
                stored = spec with { Source = TorchScriptFile };
                log?.WriteLine($"[import] TorchScript network copied into the zoo as {TorchScriptFile}");
            }
            BaseModels.SaveWeights(writer.Staged("base.safetensors"), baseModel, stored);
            var checkpoints = files.Select((f, i) => new CheckpointRecord(i, ZooStore.CheckpointFile(i), i, double.NaN, val[i], test[i], Path.GetFileName(f))).ToList();
            var manifest = new ZooManifest
            {
                Task = ZooStore.TaskName(dataset, spec.Arch, "imported"),
                Dataset = dataset,
                Data = info,
                DataOptions = dataOptions,
                Model = stored,
                BaseModel = "base.safetensors",
                BaseValAccuracy = baseVal,
                BaseTestAccuracy = baseTest,
                Subset = new SubsetRecord(subsetNames, layout.Tensors, layout.Length),
                Source = $"imported:{Path.GetFullPath(o.Checkpoints)}",
                Seeds = o.Dataset is null ? new Dictionary<string, ulong>() : new Dictionary<string, ulong> { ["data"] = o.DataSeed },
                Checkpoints = checkpoints,
                Validation = o.Dataset is null ? null : AccuracyStats.Of(val),
                Test = o.Dataset is null ? null : AccuracyStats.Of(test),
                Seconds = new Dictionary<string, double> { ["total"] = clock.Elapsed.TotalSeconds },
                Torch = torch.__version__,
                Threads = torch.get_num_threads(),
                Created = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
            };
            var task = writer.Commit(manifest, vectors);
            log?.WriteLine($"[import] wrote {Path.GetFullPath(Path.Combine(o.Out, "manifest.json"))}");
            return task;
        }
        finally
        {
            rows.ForEach(r => r.Dispose());
        }
    }

    // A network for other images fails deep inside its forward pass; say what differs instead.
    static void CheckImages(ModelSpec spec, DataSplits data, string dataset)
    {
        var x = data.Train.X;
        if (x.size(1) != spec.InChannels || x.size(2) != spec.ImageSize || x.size(3) != spec.ImageSize)
            throw new ArgumentException($"{dataset} has images [{x.size(1)}, {x.size(2)}, {x.size(3)}] but the model spec says {spec.InChannels} channel(s) of " +
                $"{spec.ImageSize}×{spec.ImageSize}; set ModelSpec.InChannels / ImageSize to the network's input.");
        if (data.Train.Classes != spec.Classes)
            throw new ArgumentException($"{dataset} has {data.Train.Classes} classes but the model spec says {spec.Classes}; set ModelSpec.Classes.");
    }
}
