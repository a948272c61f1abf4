using System.Diagnostics;
using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Zoo;
using static TorchSharp.torch;

namespace PDiff.Studies;

/// <summary>
/// Training p-diff on a task's zoo and generating models with it: the trained model is cached per configuration,
/// K and zoo (<see cref="TrainedModelDir"/>), so a configuration trained once is reused by every study.
/// </summary>
public static class Training
{
    /// <summary>
    /// Trains p-diff on the zoo's K vectors (optionally the first <paramref name="useK"/>) and generates models.
    /// Without <paramref name="checkpointDir"/>, training checkpoints go to <see cref="TrainedModelDir"/>, so
    /// the same configuration on the same zoo is trained once (notebooks 01, 05 and 06 share their model;
    /// re-running a notebook after editing a chart cell does not retrain). Training is deterministic, so
    /// a reused model is the one a new run would give.
    /// </summary>
    /// <param name="trainOn">Vectors [K', N] derived from the zoo to train on instead of its checkpoints (e.g. their
    /// windowed averages); they become the run's <see cref="PDiffRun.Originals"/>. Requires <paramref name="trainOnTag"/>,
    /// a name for how they were derived that keys the trained-model cache.</param>
    public static PDiffRun TrainAndGenerate(TaskContext ctx, PDiffConfig config, int generate, TextWriter? log = null,
        string? checkpointDir = null, int? useK = null, Tensor? trainOn = null, string? trainOnTag = null)
    {
        // The generated models and their scoring are counted with the training: a count that cannot fit is refused before training.
        PDiffMemory.CheckFits(config, new PDiffMemory.Job(ctx.Zoo.Layout.Length, trainOn?.size(0) ?? Math.Min(useK ?? ctx.Zoo.K, ctx.Zoo.K), generate,
            Math.Max(ctx.Data.Info.Validation, ctx.Data.Info.Test), ctx.Data.Train.Classes));
        var trained = Train(ctx, config, log, checkpointDir, useK, trainOn, trainOnTag);
        try
        {
            var clock = Stopwatch.StartNew();
            using var g = new Generator((ulong)config.SampleSeed);
            var gen = trained.Model.Generate(generate, g, chunk: 100);
            log?.WriteLine($"[p-diff] generated {generate} models in {clock.Elapsed.TotalSeconds:F1}s");
            return new PDiffRun(config, trained.Model, trained.Originals, gen, trained.AeLosses, trained.DiffusionLosses,
                trained.Validations, trained.TrainSeconds, clock.Elapsed.TotalSeconds);
        }
        catch
        {
            trained.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The training half of <see cref="TrainAndGenerate"/> (same checkpoint folder, so a model trained by either is
    /// reused by both), for callers that generate in their own way. The caller disposes the result.
    /// </summary>
    public static TrainedPDiff Train(TaskContext ctx, PDiffConfig config, TextWriter? log = null, string? checkpointDir = null, int? useK = null,
        Tensor? trainOn = null, string? trainOnTag = null)
    {
        config.Validate();
        if (trainOn is not null && string.IsNullOrWhiteSpace(trainOnTag))
            throw new ArgumentException("Training on derived vectors needs a tag that says how they were made (it keys the trained-model cache).", nameof(trainOnTag));
        if (trainOn is not null && (trainOn.dim() != 2 || trainOn.size(0) < 2 || trainOn.size(1) != ctx.Zoo.Layout.Length))
            throw new ArgumentException($"Vectors to train on must be [K ≥ 2, {ctx.Zoo.Layout.Length}]; got [{string.Join(", ", trainOn.shape)}].", nameof(trainOn));
        var clock = Stopwatch.StartNew();
        using var all = trainOn is null ? ctx.Zoo.LoadMatrix() : trainOn.alias();
        var k = Math.Min(useK ?? (int)all.size(0), (int)all.size(0));
        checkpointDir ??= TrainedModelDir(ctx.Zoo, config, k, trainOnTag);
        if (checkpointDir is not null && Directory.Exists(checkpointDir))
            log?.WriteLine($"[p-diff] reusing the training in {checkpointDir} (same zoo, K, configuration and seeds; PDIFF_MODEL_CACHE=off to retrain)");
        // A copy: derived vectors the caller passes stay the caller's.
        var originals = all.narrow(0, 0, k).contiguous().clone().DetachFromDisposeScope();
        try
        {
            using var trainer = new PDiffTrainer(config, originals, ctx.Zoo.Layout, new TrainerOptions
            {
                CheckpointDir = checkpointDir, Scorer = ctx.Scorer, Log = log,
            });
            var model = trainer.Train();
            return new TrainedPDiff(config, model, originals, trainer.AeLosses.ToArray(), trainer.DiffusionLosses.ToArray(),
                trainer.Validations.ToList(), clock.Elapsed.TotalSeconds);
        }
        catch
        {
            originals.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The training-checkpoint folder for <paramref name="config"/> on the first <paramref name="k"/> vectors of
    /// <paramref name="zoo"/>: <c>&lt;cache&gt;/&lt;hash&gt;/</c>, the hash over the configuration, K and the zoo's creation
    /// stamp (a rebuilt zoo gets new folders), the cache folder as <see cref="ModelCache"/> chooses it (beside the zoo,
    /// <c>&lt;zoo&gt;/pdiff/</c>, when it is writable). Null — train without checkpoints — when the cache is off; a chosen
    /// cache folder that cannot be written is an error.
    /// </summary>
    public static string? TrainedModelDir(ZooTask zoo, PDiffConfig config, int k, string? trainOnTag = null)
    {
        if (ModelCache.FolderFor(zoo) is not { } cache) return null;
        // Models trained on the checkpoints themselves keep the key they always had (cached models stay valid).
        var key = $"{ConfigText.ToJson(config)}|k={k}|zoo={zoo.Manifest.Created}|{zoo.Manifest.Task}" + (trainOnTag is null ? "" : $"|train={trainOnTag}");
        var hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)))[..16].ToLowerInvariant();
        return Path.Combine(cache, hash);
    }
}

/// <summary>A trained p-diff model with its training vectors (the first K of the zoo) and training curves.</summary>
public sealed record TrainedPDiff(
    PDiffConfig Config, PDiffModel Model, Tensor Originals, float[] AeLosses, float[] DiffusionLosses,
    IReadOnlyList<ValidationRecord> Validations, double TrainSeconds) : IDisposable
{
    public void Dispose()
    {
        Originals.Dispose();
        Model.Dispose();
    }
}

/// <summary>A trained p-diff model with its training curves and the models it generated.</summary>
public sealed record PDiffRun(
    PDiffConfig Config, PDiffModel Model, Tensor Originals, GenerationResult Generation,
    float[] AeLosses, float[] DiffusionLosses, IReadOnlyList<ValidationRecord> Validations,
    double TrainSeconds, double GenerateSeconds) : IDisposable
{
    public void Dispose()
    {
        Generation.Dispose();
        Originals.Dispose();
        Model.Dispose();
    }
}
