using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using PDiff.Checkpoints;
using PDiff.Data;
using PDiff.TorchFixes;
using PDiff.Models;
using PDiff.Storage;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Zoo;

/// <summary>One epoch of base training, as recorded in the manifest.</summary>
public sealed record EpochRecord(int Epoch, double Lr, double TrainLoss, double TrainAccuracy, double ValAccuracy, double TestAccuracy, double Seconds);

/// <summary>What a trained base model is: architecture, data, recipe, seeds, the chosen epoch and its scores.</summary>
public sealed record BaseManifest
{
    public string Format { get; init; } = "pdiff-base";
    public int Version { get; init; } = 1;
    public required ModelSpec Model { get; init; }
    public required SplitInfo Data { get; init; }
    public required DataOptions DataOptions { get; init; }
    public required TrainConfig Train { get; init; }
    public required IReadOnlyDictionary<string, ulong> Seeds { get; init; }
    /// <summary>The epoch (0-based) with the best validation accuracy; its weights are the ones saved.</summary>
    public int BestEpoch { get; init; }
    public double ValAccuracy { get; init; }
    public double TestAccuracy { get; init; }
    public required IReadOnlyList<EpochRecord> Epochs { get; init; }
    public double TrainSeconds { get; init; }
    public long Parameters { get; init; }
    public string WeightsFile { get; init; } = "base.safetensors";
    /// <summary>SHA-256 of <see cref="WeightsFile"/> as written (null in manifests written before hashes).</summary>
    public string? WeightsSha256 { get; init; }
    public string Torch { get; init; } = "";
    public int Threads { get; init; }
    public string Created { get; init; } = "";
}

/// <summary>A trained base model and its manifest. Dispose frees the model.</summary>
public sealed class TrainedBase : IDisposable
{
    public TrainedBase(ImageClassifier model, BaseManifest manifest) => (Model, Manifest) = (model, manifest);
    public ImageClassifier Model { get; }
    public BaseManifest Manifest { get; }
    public void Dispose() => Model.Dispose();
}

/// <summary>
/// Base training: seeded init, shuffle and augmentation; the optimizer and per-epoch schedule of
/// <see cref="TrainConfig"/>; validation after every epoch, and the weights of the best validation epoch
/// kept (test is measured and reported, never used to choose: design §4, reference §8-1).
/// </summary>
public static class BaseTrainer
{
    public static TrainedBase Train(ModelSpec spec, DataSplits data, DataOptions dataOptions, TrainConfig config, TextWriter? log = null)
    {
        config.Validated();
        spec = ModelRegistry.Complete(spec);
        var wall = Stopwatch.StartNew();
        using var gen = new Generator(config.Seed);
        var model = ModelRegistry.Create(spec, gen);
        IDisposable? exact;
        try
        {
            exact = ForeignConvolutions.Exact(model, $"Training a {spec.Arch} base model"); // until the training ends
        }
        catch
        {
            model.Dispose();
            throw;
        }
        // Drawn after the weights, in this order: the same config seed gives the same run.
        var shuffleSeed = PDiff.Models.Seeds.Next(gen);
        var augmentSeed = PDiff.Models.Seeds.Next(gen);
        using var shuffleGen = new Generator(shuffleSeed);
        using var augmentGen = new Generator(augmentSeed);
        var loader = new DataLoader(data.Train, config.BatchSize, shuffle: true, generator: shuffleGen,
            augmentation: config.Augment ? Augmentation.For(data.Train, augmentGen) : null);
        var best = new BestEpoch();
        try
        {
            using var optimizer = config.MakeOptimizer(model.parameters());
            var run = new EpochRun(model, loader, optimizer, config.MakeScheduler(optimizer), new ProgressLog(log, "base", (long)config.Epochs * loader.Count), config);
            run.Progress.Line($"{spec} ({model.parameter_count():N0} parameters) on {data.Train.Name} ({data.Train.Count} images), " +
                              $"{config.Optimizer} lr {config.Lr} {config.Schedule}, {config.Epochs} epochs of {loader.Count} steps, batch {config.BatchSize}, seed {config.Seed}");
            var epochs = RunEpochs(run, new LabeledImages(data.Validation.X, data.Validation.Y), new LabeledImages(data.Test.X, data.Test.Y), best);
            ModuleTree.LoadStateDict(model, best.Weights!);
            var final = epochs[best.Epoch];
            var seeds = new Dictionary<string, ulong> { ["init"] = config.Seed, ["shuffle"] = shuffleSeed, ["augment"] = augmentSeed, ["data"] = data.Info.Seed };
            var manifest = Manifest(spec, data, dataOptions, config, seeds, best.Epoch, epochs, wall, model);
            run.Progress.Line(string.Create(CultureInfo.InvariantCulture,
                $"kept epoch {best.Epoch + 1} (best validation {100 * final.ValAccuracy:F2}%, test {100 * final.TestAccuracy:F2}%), {ProgressLog.Format(wall.Elapsed)} in all"));
            model.eval();
            return new TrainedBase(model, manifest);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        finally
        {
            ModuleTree.Free(best.Weights);
            exact?.Dispose();
        }
    }

    /// <summary>What every epoch of one training uses: the model, its data, optimizer and schedule, and the progress log.</summary>
    sealed record EpochRun(ImageClassifier Model, DataLoader Loader, optim.Optimizer Optimizer, optim.lr_scheduler.LRScheduler Scheduler, ProgressLog Progress, TrainConfig Config);

    /// <summary>The epoch with the best validation accuracy so far and a snapshot of its weights (null before the first).</summary>
    sealed class BestEpoch
    {
        public Dictionary<string, Tensor>? Weights { get; private set; }
        public int Epoch { get; private set; } = -1;
        public double ValAccuracy { get; private set; } = double.NegativeInfinity;

        public void Keep(nn.Module model, int epoch, double valAccuracy)
        {
            ValAccuracy = valAccuracy;
            Epoch = epoch;
            ModuleTree.Free(Weights);
            Weights = ModuleTree.Snapshot(model);
        }
    }

    /// <summary>
    /// Every epoch of <paramref name="run"/>: a pass over the training data, validation and test, a snapshot of
    /// the weights into <paramref name="best"/> when validation improved, then the schedule's step.
    /// </summary>
    static List<EpochRecord> RunEpochs(EpochRun run, LabeledImages val, LabeledImages test, BestEpoch best)
    {
        var (model, config, progress) = (run.Model, run.Config, run.Progress);
        var epochs = new List<EpochRecord>();
        long step = 0;
        for (var epoch = 0; epoch < config.Epochs; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            var lr = run.Optimizer.ParamGroups.First().LearningRate;
            var (lossSum, correct, seen) = TrainEpoch(run, epoch, lr, epochClock, ref step);
            var (valAcc, _) = Accuracy.Evaluate(model, val);
            var (testAcc, _) = Accuracy.Evaluate(model, test);
            epochs.Add(new EpochRecord(epoch, lr, lossSum / Math.Max(1, seen), (double)correct / Math.Max(1, seen), valAcc, testAcc, epochClock.Elapsed.TotalSeconds));
            var isBest = valAcc > best.ValAccuracy;
            progress.Line(string.Create(CultureInfo.InvariantCulture,
                $"epoch {epoch + 1}: train loss {lossSum / Math.Max(1, seen):F4}, val {100 * valAcc:F2}%, test {100 * testAcc:F2}%{(isBest ? " (best so far on validation)" : "")}, {epochClock.Elapsed.TotalSeconds:F0}s"));
            if (isBest) best.Keep(model, epoch, valAcc);
            run.Scheduler.step();
        }
        return epochs;
    }

    /// <summary>One pass over the training batches: the summed loss (weighted by batch size), the correct count and the images seen.</summary>
    static (double LossSum, long Correct, long Seen) TrainEpoch(EpochRun run, int epoch, double lr, Stopwatch epochClock, ref long step)
    {
        var (model, optimizer) = (run.Model, run.Optimizer);
        model.train();
        double lossSum = 0;
        long correct = 0, seen = 0;
        foreach (var batch in run.Loader)
        {
            using var scope = torch.NewDisposeScope();
            var logits = model.forward(batch.X);
            var loss = F.cross_entropy(logits, batch.Y);
            optimizer.zero_grad();
            loss.backward();
            OptimizerSteps.Step(optimizer);   // not optimizer.step(): its implicit Scalars race the GC (OptimizerSteps)
            using (torch.no_grad())
            {
                lossSum += loss.ReadDouble() * batch.Size;
                correct += logits.argmax(1).eq(batch.Y).sum().ReadInt64();
            }
            seen += batch.Size;
            step++;
            run.Progress.Step(step, string.Create(CultureInfo.InvariantCulture,
                $"epoch {epoch + 1}/{run.Config.Epochs} loss {lossSum / seen:F4} acc {100.0 * correct / seen:F2}% lr {lr:G3} {seen / epochClock.Elapsed.TotalSeconds:F0} img/s"));
        }
        return (lossSum, correct, seen);
    }

    static BaseManifest Manifest(ModelSpec spec, DataSplits data, DataOptions dataOptions, TrainConfig config, IReadOnlyDictionary<string, ulong> seeds,
        int bestEpoch, List<EpochRecord> epochs, Stopwatch wall, ImageClassifier model) => new()
    {
        Model = spec,
        Data = data.Info,
        DataOptions = dataOptions,
        Train = config,
        Seeds = seeds,
        BestEpoch = bestEpoch,
        ValAccuracy = epochs[bestEpoch].ValAccuracy,
        TestAccuracy = epochs[bestEpoch].TestAccuracy,
        Epochs = epochs,
        TrainSeconds = wall.Elapsed.TotalSeconds,
        Parameters = model.parameter_count(),
        Torch = torch.__version__,
        Threads = torch.get_num_threads(),
        Created = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
    };
}

/// <summary>Base models on disk: the state dict as safetensors plus the manifest as JSON beside it.</summary>
public static class BaseModels
{
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    /// <summary>
    /// Writes <c>&lt;dir&gt;/base.safetensors</c>, then <c>&lt;dir&gt;/base.json</c> with the weights' SHA-256 (each
    /// atomically; the manifest last, so a manifest always describes the weights beside it). Returns
    /// <paramref name="trained"/> with the hash in its manifest (the same model, not a copy).
    /// </summary>
    public static TrainedBase Save(string dir, TrainedBase trained)
    {
        Directory.CreateDirectory(dir);
        var weights = Path.Combine(dir, trained.Manifest.WeightsFile);
        SaveWeights(weights, trained.Model, trained.Manifest.Model);
        var manifest = trained.Manifest with { WeightsSha256 = AtomicFile.Sha256(weights) };
        AtomicFile.WriteAllText(Path.Combine(dir, "base.json"), JsonSerializer.Serialize(manifest, Json));
        return new TrainedBase(trained.Model, manifest);
    }

    /// <summary>The full state dict (parameters and buffers) of any module, with the spec in the safetensors metadata.</summary>
    public static void SaveWeights(string path, nn.Module model, ModelSpec spec)
    {
        var dict = new Dictionary<string, Tensor>();
        foreach (var (k, v) in ModuleTree.StateDict(model)) dict.TryAdd(k, v);
        Safetensors.Save(path, dict, new Dictionary<string, string> { ["pdiff.model"] = spec.ToJson(), ["format"] = "pt" });
    }

    /// <summary>Reads <c>base.json</c> from <paramref name="dir"/>.</summary>
    public static BaseManifest ReadManifest(string dir)
    {
        var path = Path.Combine(dir, "base.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"No base model manifest at {path}: train one with `pdiff zoo build`, or import a model.", path);
        return JsonSerializer.Deserialize<BaseManifest>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"{path} holds JSON null.");
    }

    /// <summary>Builds <paramref name="spec"/> and loads a safetensors or torch.save (.pth/.pt) state dict into it (strict).</summary>
    public static ImageClassifier LoadWeights(string path, ModelSpec spec)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Base model weights not found: {path}", path);
        var model = ModelRegistry.Create(spec, 0);
        try
        {
            LoadWeightsInto(model, path, spec);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Builds any architecture of <paramref name="spec"/> (shipped, registered or TorchScript; see
    /// <see cref="ModelRegistry.Build(ModelSpec, ulong)"/>) and loads the state dict at <paramref name="path"/> into it (strict, eval mode).
    /// </summary>
    public static nn.Module<Tensor, Tensor> Load(string path, ModelSpec spec)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Base model weights not found: {path}", path);
        var model = ModelRegistry.Build(spec, 0);
        try
        {
            LoadWeightsInto(model, path, spec);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads a safetensors or torch.save state dict into any module (strict, after dropping a wrapper prefix
    /// such as <c>model.</c>) and puts it in eval mode: how a user's own network gets its trained weights.
    /// A file that does not fit the network (names, shapes, integer values for float tensors) is an
    /// <see cref="InvalidDataException"/> naming the file, the network (<paramref name="spec"/> when given) and the fix.
    /// </summary>
    public static void LoadWeightsInto(nn.Module model, string path, ModelSpec? spec = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Base model weights not found: {path}", path);
        var tensors = ReadStateDict(path);
        try
        {
            var fitted = StateDicts.Fit(tensors, ModuleTree.StateDict(model), complete: true, $"base model {Path.GetFullPath(path)}",
                StateDicts.NetworkName(model, spec), StateDicts.ArchitectureFix($"The file {Path.GetFileName(path)}", model, spec));
            ModuleTree.LoadStateDict(model, fitted);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
        model.eval();
    }

    /// <summary>Name → tensor from a safetensors file or a torch.save file (by extension).</summary>
    public static OrderedDictionary<string, Tensor> ReadStateDict(string path)
    {
        var ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext == ".safetensors")
        {
            var content = Safetensors.LoadParameters(path);
            return content.Tensors;
        }
        if (ext is ".pth" or ".pt" or ".bin" or ".ckpt") return PtCheckpoint.Load(path);
        throw new ArgumentException($"Cannot read weights from {path}: use a .safetensors file or a torch.save file (.pth / .pt).");
    }
}
