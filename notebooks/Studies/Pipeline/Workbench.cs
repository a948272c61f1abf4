using System.Diagnostics;
using PDiff.Data;
using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Models;
using PDiff.Storage;
using PDiff.Zoo;
using static TorchSharp.torch;

namespace PDiff.Studies;

/// <summary>
/// The whole pipeline on one task, as the reference's run_all: collect the zoo if it is not cached, train
/// the autoencoder and the latent diffusion model, generate, and evaluate against the originals, their
/// weight average and the baselines. Notebooks and the CLI call this; each stage is also usable alone.
/// </summary>
public static class Workbench
{
    /// <summary>The repository root (the folder holding PDiff.Lib.csproj), or the current directory.</summary>
    public static string RepoRoot => DataPaths.FindRepoRoot() ?? Directory.GetCurrentDirectory();

    /// <summary>Where zoos are cached: $PDIFF_ZOO_CACHE, else data/cache/zoos/&lt;profile&gt;/.</summary>
    public static string ZooCacheDir(Profile p) =>
        Environment.GetEnvironmentVariable("PDIFF_ZOO_CACHE") is { Length: > 0 } env
            ? Path.Combine(env, p.Name())
            : Path.Combine(RepoRoot, "data", "cache", "zoos", p.Name());

    /// <summary>Opens the task's cached zoo when its manifest matches, else builds it (base model + collection).</summary>
    public static ZooTask EnsureZoo(TaskSpec task, Profile profile, TextWriter? log = null, string? dir = null, bool rebuild = false)
    {
        // Our own cache folder may be written even when an older, damaged zoo there has no marker (only our files
        // are ever overwritten or deleted); a folder the caller names must be empty or ours.
        var cache = dir is null;
        dir ??= Path.Combine(ZooCacheDir(profile), task.ZooName(profile));
        var options = new ZooBuildOptions
        {
            Dataset = task.Dataset, Arch = task.Arch, Subset = task.Subset, Profile = profile, Recipe = task.Recipe,
            K = task.KFor(profile), Out = dir, Force = cache,
        };
        // Pipeline seed s ≠ 0: its own base model and collection (seeds shifted); the data split stays seed 0's.
        // Seed 0 leaves both unset, so its zoo is exactly the one of old (same folder, same manifest check).
        if (task.Seed != 0)
            options = options with
            {
                Train = ZooProfiles.Seeded(ZooProfiles.Train(profile, task.Arch), task.Seed),
                Collection = ZooProfiles.Seeded(ZooProfiles.Collection(profile, task.Recipe, task.Arch, task.KFor(profile)), task.Seed),
            };
        if (!rebuild && Reusable(dir, options, log) is { } cached) return cached;
        // One process builds a zoo; another that wants the same one waits for it (said in the log) and then reuses it.
        using var writer = ZooWriter.Begin(dir, options.Force, wait: true, log: log);
        if (!rebuild && Reusable(dir, options, null) is { } made)
        {
            log?.WriteLine($"[zoo] reusing {dir}, which another process built while this one waited");
            return made;
        }
        SeedBaseModel(task, writer, log);
        return ZooBuilder.Build(options, log);
    }

    /// <summary>The zoo in <paramref name="dir"/> when it is what <paramref name="options"/> would build and intact, else null (the log says why).</summary>
    static ZooTask? Reusable(string dir, ZooBuildOptions options, TextWriter? log)
    {
        if (!File.Exists(Path.Combine(dir, "manifest.json"))) return null;
        string? stale;
        try
        {
            stale = ZooBuilder.StaleReason(dir, options);
            if (stale is null)
            {
                var zoo = ZooTask.Open(dir);
                zoo.Verify();
                log?.WriteLine($"[zoo] reusing {dir} ({zoo.Manifest.K} checkpoints, test mean {100 * zoo.Manifest.Test!.Mean:F2}%)");
                return zoo;
            }
        }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException)
        {
            stale = $"damaged: {e.Message}";
        }
        log?.WriteLine($"[zoo] cached zoo in {dir} was made with other settings or is damaged ({stale}): rebuilding");
        return null;
    }

    /// <summary>
    /// Zoos of one dataset and architecture (other subsets, other K) share their base model: copy a sibling's
    /// into the new folder, and the builder reuses it when architecture, split and training recipe match
    /// (it checks, and trains anew otherwise), so an ablation over subsets trains one base model, not one each.
    /// </summary>
    static void SeedBaseModel(TaskSpec task, ZooWriter writer, TextWriter? log)
    {
        var dir = writer.Directory;
        if (ZooTask.TryOpen(dir)?.BaseFolder is { } own && File.Exists(Path.Combine(own, "base.json")) || File.Exists(Path.Combine(writer.Staging, "base.json"))) return;
        var root = Path.GetDirectoryName(Path.GetFullPath(dir))!;
        if (!Directory.Exists(root)) return;
        var prefix = ZooStore.TaskName(task.Dataset, task.Arch, "");
        foreach (var sibling in Directory.GetDirectories(root, prefix + "*").OrderBy(d => d, StringComparer.Ordinal))
        {
            // Only a sibling of the same pipeline seed trained the same base model.
            if (SeedOfZooName(Path.GetFileName(sibling)) != task.Seed) continue;
            if (Path.GetFullPath(sibling) == Path.GetFullPath(dir)) continue;
            // Its base lives in its revision folder (beside its manifest in a zoo from before revisions).
            var baseDir = ZooTask.TryOpen(sibling)?.BaseFolder ?? sibling;
            var manifest = Path.Combine(baseDir, "base.json");
            if (!File.Exists(manifest)) continue;
            var weights = BaseModels.ReadManifest(baseDir).WeightsFile;
            if (!File.Exists(Path.Combine(baseDir, weights))) continue;
            // Staged, as a killed build's base would be: the zoo in `dir` (if any) stays as it is until the build commits.
            AtomicFile.Copy(Path.Combine(baseDir, weights), writer.Staged(weights));
            AtomicFile.Copy(manifest, writer.Staged("base.json"));
            log?.WriteLine($"[zoo] offering the base model of {sibling} for reuse");
            return;
        }
    }

    /// <summary>The pipeline seed a zoo folder name carries (<see cref="TaskSpec.SeedSuffix"/>): 0 without a suffix.</summary>
    public static int SeedOfZooName(string name)
    {
        var i = name.LastIndexOf("_seed", StringComparison.Ordinal);
        return i >= 0 && int.TryParse(name.AsSpan(i + 5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var s) ? s : 0;
    }

    /// <summary>The base model, its data and a cached scorer of subset vectors on validation and test.</summary>
    public static TaskContext OpenContext(ZooTask zoo)
    {
        var data = zoo.LoadData();
        nn.Module<Tensor, Tensor>? model = null;
        try
        {
            model = zoo.LoadBaseModel();
            var scorer = new CachedScorer(model, zoo.Layout, new LabeledImages(data.Validation.X, data.Validation.Y), new LabeledImages(data.Test.X, data.Test.Y));
            PrimeWithZooScores(zoo, scorer);
            return new TaskContext(zoo, data, model, scorer);
        }
        catch
        {
            model?.Dispose();
            data.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Gives the scorer the originals' scores the zoo's build measured (<see cref="ZooScores"/>), so evaluations do not
    /// score the K originals again. Only when the zoo was scored by this libtorch version (another may choose other
    /// kernels and flip near-tied predictions); the data split is the recorded one (<see cref="ZooTask.LoadData"/>).
    /// </summary>
    static void PrimeWithZooScores(ZooTask zoo, CachedScorer scorer)
    {
        if (zoo.Manifest.Torch != __version__ || zoo.LoadScores() is not { } scores) return;
        using var originals = zoo.LoadMatrix();
        scorer.Remember(originals, EvalSplit.Validation, scores.Validation);
        scorer.Remember(originals, EvalSplit.Test, scores.Test);
    }

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

    /// <summary>
    /// Continues the zoo's collection recipe for <c>steps</c> iterations from a given vector: the paper's
    /// "fine-tuned" baseline (reference §4.6, inferred construction). Null for a zoo that records no recipe
    /// (imported checkpoints): the evaluator then skips that baseline and says so in the report.
    /// </summary>
    /// <param name="work">A copy of the base model (<c>ctx.Zoo.LoadBaseModel()</c>, owned by the caller) to train in for
    /// every call: loading the base model costs seconds, more than a short fine-tune. Reusing it is exact, since the
    /// collector puts back everything it changes (subset, running statistics, modes) and each call writes its start
    /// vector first. Without it each call loads a fresh copy.</param>
    public static Func<Tensor, int, Generator, Tensor>? FineTuner(TaskContext ctx, nn.Module<Tensor, Tensor>? work = null)
    {
        if (ctx.Zoo.Manifest.Recipe is not { } zooRecipe) return null;
        return (start, steps, g) =>
        {
            // A copy of the base model rebuilt from the zoo: any architecture, and the scorer's model stays untouched.
            using var fresh = work is null ? ctx.Zoo.LoadBaseModel() : null;
            var model = work ?? fresh!;
            Subsets.WriteBack(model, ctx.Zoo.Layout, start);
            var recipe = zooRecipe with { K = 1, SaveEvery = steps, SkipFirst = 0, Seed = PDiff.Models.Seeds.Next(g) };
            using var result = Collector.Collect(model, ctx.Zoo.Layout, ctx.Data.Train, recipe);
            return result.Vectors.select(0, 0).clone();
        };
    }

    /// <summary>Scores originals, generated models, ensemble and baselines; computes similarity, novelty, embeddings.</summary>
    public static EvaluationReport Evaluate(TaskContext ctx, PDiffRun run, EvaluationOptions? options = null, TextWriter? log = null)
    {
        var evaluator = new Evaluator(ctx.Scorer, options, FineTuner(ctx));
        var latents = new LatentInputs { Encoder = v => run.Model.EncodeVectors(v), Generated = run.Generation.Latents };
        var clock = Stopwatch.StartNew();
        var report = evaluator.Evaluate(run.Originals, run.Generation.Vectors, latents, ctx.Zoo.Manifest.Task);
        log?.WriteLine($"[eval] scored and compared in {clock.Elapsed.TotalSeconds:F1}s");
        return report;
    }

    /// <summary>Evaluation options scaled to a profile (fewer baseline models and no t-SNE in smoke).</summary>
    public static EvaluationOptions EvaluationFor(Profile p) => p switch
    {
        Profile.Smoke => new EvaluationOptions
        {
            Baselines = new BaselineOptions { RelativeNoiseCount = 4, AbsoluteNoiseCount = 4, AverageCount = 4, AverageOf = 4, GaussianCount = 4, FineTunedCount = 2, FineTuneSteps = 3 },
            Tsne = false, WriteIouMatrix = false,
        },
        Profile.Quick => new EvaluationOptions
        {
            Baselines = new BaselineOptions { RelativeNoiseCount = 50, AbsoluteNoiseCount = 50, AverageCount = 50, GaussianCount = 50, FineTunedCount = 10, FineTuneSteps = 20 },
            WriteIouMatrix = false, EmbeddingMaxPerGroup = 100,
        },
        // Full-v2: the quick profile's baseline counts (its timed evaluation is of originals and generated models).
        Profile.FullV2 => EvaluationFor(Profile.Quick),
        _ => new EvaluationOptions(),
    };

    /// <summary>
    /// Smoke and quick sample with DDIM (20 and 100 steps) instead of 1,000 DDPM steps: the V2 denoiser costs
    /// about 0.3 GMAC per model per step, so 100 models × 1,000 steps would take over half an hour on 2 cores.
    /// The paper profile keeps the preset's sampler (DDPM, 1,000 steps); full-v2 samples by the 1,000-step DDPM
    /// chain whatever the preset (its notebook adds DDIM-50 as a second row). A sampler or step count the user set
    /// (<see cref="PDiffConfig.Explicit"/>) is kept.
    /// </summary>
    public static PDiffConfig SamplingFor(Profile p, PDiffConfig c) => c.KeepExplicit(p switch
    {
        Profile.Smoke => c with { Sampler = SamplerKind.Ddim, DdimSteps = Math.Min(c.DdimSteps, 20) },
        Profile.Quick => c with { Sampler = SamplerKind.Ddim, DdimSteps = Math.Min(c.Timesteps, 100) },
        Profile.FullV2 => c with { Sampler = SamplerKind.Ddpm },
        _ => c,
    });

    /// <summary>Models generated per run in each profile (the reference generates 100 (V1) or 200 (V2)).</summary>
    public static int GeneratedCount(Profile p) => p switch { Profile.Smoke => 8, Profile.Quick => 100, _ => 200 };
}

/// <summary>
/// A zoo with what evaluating its vectors needs: data, the fixed base model (any architecture: ours, a
/// registered class, a TorchScript file) and a cached scorer.
/// </summary>
public sealed class TaskContext(ZooTask zoo, DataSplits data, nn.Module<Tensor, Tensor> model, CachedScorer scorer) : IDisposable
{
    public ZooTask Zoo { get; } = zoo;
    public DataSplits Data { get; } = data;
    public nn.Module<Tensor, Tensor> Model { get; } = model;
    /// <summary>What the base model is (the zoo's spec, a TorchScript source made absolute).</summary>
    public ModelSpec Spec => Zoo.Spec;
    public CachedScorer Scorer { get; } = scorer;

    public void Dispose()
    {
        Scorer.Dispose();
        Model.Dispose();
        Data.Dispose();
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
