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
    /// says how the network wants its pixels ("unit" = b/255, or its own "mean=…,std=…"); the data are scaled
    /// accordingly, and the log warns when the base model scores clearly better under another scaling.
    /// </summary>
    public required ModelSpec Model { get; init; }
    public required string Out { get; init; }
    /// <summary>When given, every checkpoint is scored on this dataset's validation and test split.</summary>
    public string? Dataset { get; init; }
    public ulong DataSeed { get; init; } = 0;
    public DataOptions? Data { get; init; }
    /// <summary>Write into a non-empty folder that pdiff did not write (only our own files are ever touched).</summary>
    public bool Force { get; init; }
    /// <summary>
    /// Told each warning (besides the log), e.g. that the base model scores clearly better under another input
    /// scaling than <see cref="ModelSpec.Input"/> says (<see cref="InputScaling.Compare"/>); the CLI prints it on stderr.
    /// </summary>
    public Action<string>? Warn { get; init; }
}

/// <summary>
/// Brings a user's own task into the zoo format: a folder of PyTorch subset checkpoints (the form the
/// reference's <c>finetune.py</c> writes: <c>{name: tensor}</c> per file, optionally with a <c>model.</c>
/// prefix and BN running statistics) plus the base model. Files are taken in ordinal name order (the
/// reference read them in directory order, §8-4); <c>num_batches_tracked</c> and other non-float
/// entries are dropped (as the reference's dataset does). Every file must hold the same tensor names; a file
/// that does not fit the network, or a base model that does not, is an error naming both and the fix. Other
/// files in the folder are listed as skipped. A failed import leaves <c>--out</c> as it was before.
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
        ModelSize.CheckFits(spec, ModelUse.Load);   // a network larger than the memory is refused before any file is read
        var script = spec.Arch == ModelSpec.TorchScript ? Path.GetFullPath(spec.Source!) : null;
        if (script is not null && !File.Exists(script))
            throw new FileNotFoundException($"TorchScript model '{spec.Source}' does not exist (ModelSpec.Source / --torchscript).", script);
        ModelRegistry.ValidateSource(spec);   // a TorchScript file libtorch cannot load is refused before the folder is touched
        var files = CheckpointFiles(o.Checkpoints, o.BaseModel, log);
        // Explicit data statistics that contradict the spec's input scaling are refused before the folder is touched.
        var dataOptions = o.Dataset is null ? null : InputScaling.Apply(spec, o.Data);
        using var writer = ZooWriter.Begin(o.Out, o.Force, keepStaged: false);   // a folder of someone else's files, or one being written, is refused before any work
        try
        {
            return Import(o, spec, script, files, dataOptions, writer, clock, log);
        }
        catch
        {
            // A failed import leaves --out as it found it: what this import created goes, a folder it made included.
            writer.Abandon();
            throw;
        }
    }

    static ZooTask Import(ZooImportOptions o, ModelSpec spec, string? script, List<string> files, DataOptions? dataOptions, ZooWriter writer,
        Stopwatch clock, TextWriter? log)
    {
        using var baseModel = BaseModels.Load(o.BaseModel, spec);
        log?.WriteLine($"[import] {files.Count} checkpoints from {o.Checkpoints}, base model {o.BaseModel} ({spec})");
        string dataset = o.Dataset is null ? "unknown" : Datasets.Canonical(o.Dataset);
        using var data = o.Dataset is null ? null : Datasets.Load(dataset, o.DataSeed, dataOptions);
        if (data is not null)
        {
            CheckImages(spec, data, dataset);
            // Before the checkpoints are read: does the base model score clearly better under another input scaling?
            WarnOnInputScaling(o, spec, baseModel, data, log);
        }
        var (layout, rows) = ReadCheckpoints(files, o.Checkpoints, baseModel, spec);
        try
        {
            using var vectors = torch.stack(rows);
            var subsetNames = string.Join(",", layout.Tensors.Select(t => t.Name));
            log?.WriteLine($"[import] subset: {layout.Tensors.Count} tensors, {layout.Length:N0} numbers ({subsetNames})");
            var scores = Score(baseModel, layout, vectors, data, dataset, files.Count, log);
            var stored = StoreNetwork(spec, script, writer, log);
            BaseModels.SaveWeights(writer.Staged("base.safetensors"), baseModel, stored);
            var checkpoints = files.Select((f, i) => new CheckpointRecord(i, ZooStore.CheckpointFile(i), i, double.NaN, scores.Val[i], scores.Test[i], Path.GetFileName(f))).ToList();
            var manifest = new ZooManifest
            {
                Task = ZooStore.TaskName(dataset, spec.Arch, "imported"),
                Dataset = dataset,
                Data = data?.Info,
                DataOptions = dataOptions,
                Model = stored,
                BaseModel = "base.safetensors",
                BaseValAccuracy = scores.BaseVal,
                BaseTestAccuracy = scores.BaseTest,
                Subset = new SubsetRecord(subsetNames, layout.Tensors, layout.Length),
                Source = $"imported:{Path.GetFullPath(o.Checkpoints)}",
                Seeds = o.Dataset is null ? new Dictionary<string, ulong>() : new Dictionary<string, ulong> { ["data"] = o.DataSeed },
                Checkpoints = checkpoints,
                Validation = o.Dataset is null ? null : AccuracyStats.Of(scores.Val),
                Test = o.Dataset is null ? null : AccuracyStats.Of(scores.Test),
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

    /// <summary>Logs how the base model scores under the spec's input scaling and the others, and passes on a warning when another scores clearly better.</summary>
    static void WarnOnInputScaling(ZooImportOptions o, ModelSpec spec, nn.Module<Tensor, Tensor> baseModel, DataSplits data, TextWriter? log)
    {
        var check = InputScaling.Compare(baseModel, spec, data);
        log?.WriteLine($"[import] {InputScaling.Summary(check)}");
        if (check.Warning is { } warning)
        {
            log?.WriteLine($"[import] warning: {warning}");
            o.Warn?.Invoke(warning);
        }
    }

    /// <summary>Validation and test accuracy of every checkpoint and of the base model; NaN and null without a dataset.</summary>
    sealed record ImportScores(double[] Val, double[] Test, double? BaseVal, double? BaseTest);

    static ImportScores Score(nn.Module<Tensor, Tensor> baseModel, SubsetLayout layout, Tensor vectors, DataSplits? data, string dataset, int count, TextWriter? log)
    {
        var val = Enumerable.Repeat(double.NaN, count).ToArray();
        var test = (double[])val.Clone();
        if (data is null) return new ImportScores(val, test, null, null);
        log?.WriteLine($"[import] scoring on {dataset}: {data.Info.Validation} validation / {data.Info.Test} test images, {InputScaling.Describe(data.Info.Normalization)}");
        var v = new LabeledImages(data.Validation.X, data.Validation.Y);
        var te = new LabeledImages(data.Test.X, data.Test.Y);
        var baseVal = Accuracy.Evaluate(baseModel, v).Accuracy;
        var baseTest = Accuracy.Evaluate(baseModel, te).Accuracy;
        using var scorer = new CachedScorer(baseModel, layout, v, te);
        val = scorer.Score(vectors, EvalSplit.Validation).Select(s => s.Accuracy).ToArray();
        test = scorer.Score(vectors, EvalSplit.Test).Select(s => s.Accuracy).ToArray();
        return new ImportScores(val, test, baseVal, baseTest);
    }

    /// <summary>The spec the zoo records: a TorchScript network is copied into the zoo and named relative to it, so the zoo stands alone.</summary>
    static ModelSpec StoreNetwork(ModelSpec spec, string? script, ZooWriter writer, TextWriter? log)
    {
        if (script is null) return spec;
        AtomicFile.Copy(script, writer.Staged(TorchScriptFile));
        log?.WriteLine($"[import] TorchScript network copied into the zoo as {TorchScriptFile}");
        return spec with { Source = TorchScriptFile };
    }

    /// <summary>
    /// The checkpoint files of <paramref name="dir"/> (*.pth, *.pt, the base model excepted) in ordinal name order.
    /// Anything else there is listed in the log as skipped, so a misnamed checkpoint is not lost without a word;
    /// a folder without a checkpoint is refused, naming what it holds.
    /// </summary>
    static List<string> CheckpointFiles(string dir, string baseModel, TextWriter? log)
    {
        var basePath = Path.GetFullPath(baseModel);
        var entries = Directory.GetFileSystemEntries(dir).Where(f => Path.GetFullPath(f) != basePath)
            .OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal).ToList();
        var files = entries.Where(f => File.Exists(f) && Path.GetExtension(f).ToLowerInvariant() is ".pth" or ".pt").ToList();
        var skipped = entries.Except(files).Select(f => Path.GetFileName(f) + (Directory.Exists(f) ? "/" : "")).ToList();
        var listed = string.Join(", ", skipped.Take(5)) + (skipped.Count > 5 ? $", … (first 5 of {skipped.Count})" : "");
        if (files.Count == 0)
            throw new FileNotFoundException($"No checkpoints in {dir}: a checkpoint is a torch.save file named *.pth or *.pt (the base model aside); the folder " +
                (skipped.Count == 0 ? "holds nothing else." : $"holds only {skipped.Count} other {(skipped.Count == 1 ? "entry" : "entries")}: {listed}.") +
                " Name the checkpoints *.pth (or *.pt), or give the folder that holds them.");
        if (skipped.Count > 0)
            log?.WriteLine($"[import] skipped {skipped.Count} {(skipped.Count == 1 ? "file that is" : "files that are")} not checkpoints (*.pth, *.pt): {listed}");
        return files;
    }

    /// <summary>
    /// Reads every checkpoint and fits it to the network (names up to a wrapper prefix, shapes, float values):
    /// the subset layout (the first file's tensors, in the network's order) and one float32 row per file.
    /// <c>num_batches_tracked</c> and other integer entries the network's floats do not take are dropped.
    /// </summary>
    static (SubsetLayout Layout, List<Tensor> Rows) ReadCheckpoints(List<string> files, string dir, nn.Module<Tensor, Tensor> baseModel, ModelSpec spec)
    {
        var state = ModuleTree.StateDict(baseModel);
        var network = new Dictionary<string, Tensor>();
        foreach (var (k, v) in state) network.TryAdd(k, v);
        var networkName = StateDicts.NetworkName(baseModel, spec);
        var fix = StateDicts.ArchitectureFix($"The checkpoints in {Path.GetFullPath(dir)}", baseModel, spec, plural: true);
        bool NamesANetworkTensor(string key) => network.Keys.Any(k => key == k || key.EndsWith("." + k, StringComparison.Ordinal));
        SubsetLayout? layout = null;
        var rows = new List<Tensor>();
        try
        {
            foreach (var f in files)
            {
                var raw = PtCheckpoint.Load(f);
                try
                {
                    var entries = raw.Where(kv => !kv.Key.EndsWith("num_batches_tracked", StringComparison.Ordinal)
                                                  && (torch.is_floating_point(kv.Value) || NamesANetworkTensor(kv.Key)));
                    var fitted = StateDicts.Fit(entries, state, complete: false, $"checkpoint {Path.GetFullPath(f)}", networkName, fix)
                        .Where(kv => torch.is_floating_point(network[kv.Key])).ToDictionary(kv => kv.Key, kv => kv.Value);
                    if (fitted.Count == 0) throw new InvalidDataException($"{f} holds no float tensors of {networkName}. {fix}");
                    layout ??= new SubsetLayout(state.Where(kv => fitted.ContainsKey(kv.Key)).Select(kv => new TensorSpec(kv.Key, kv.Value.shape)).ToList());
                    var want = layout.Tensors.Select(t => t.Name).ToHashSet();
                    if (!want.SetEquals(fitted.Keys))
                        throw new InvalidDataException($"{f} holds [{string.Join(", ", fitted.Keys.Order())}] but {Path.GetFileName(files[0])} holds [{string.Join(", ", want.Order())}]; " +
                            $"every checkpoint in {dir} must hold the same tensors: move the files of other runs elsewhere.");
                    using var scope = torch.NewDisposeScope();
                    rows.Add(torch.cat(layout.Tensors.Select(t => fitted[t.Name].reshape(-1).to(ScalarType.Float32)).ToList(), 0).DetachFromDisposeScope());
                }
                finally
                {
                    foreach (var t in raw.Values) t.Dispose();
                }
            }
            return (layout!, rows);
        }
        catch
        {
            rows.ForEach(r => r.Dispose());
            throw;
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
