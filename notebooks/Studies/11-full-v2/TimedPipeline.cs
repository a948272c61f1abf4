using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Models;
using PDiff.Storage;
using PDiff.Zoo;
using static TorchSharp.torch;

namespace PDiff.Studies;

/// <summary>
/// One stage of a timed run: its wall seconds, the multiply-adds it did (null where not counted) and what they
/// were, and the rate that makes (2 floating-point operations a multiply-add) against the machine's peak.
/// </summary>
public sealed record StageTime(string Stage, double Seconds, double? MultiplyAdds, string Work)
{
    public double? GflopPerSecond => MultiplyAdds is { } m && Seconds > 0 ? 2 * m / Seconds / 1e9 : null;
    public double? FractionOfPeak(double peakGflopPerSecond) => GflopPerSecond / peakGflopPerSecond;
}

/// <summary>Generated models of one sampler on the trained p-diff model, scored (validation and test) against the originals.</summary>
public sealed record SamplerResult(string Name, SamplerOptions Options, EvaluationReport Report, StageTime Sampling, StageTime Evaluation) : IDisposable
{
    public void Dispose() => Report.Dispose();
}

/// <summary>
/// A timed run of the whole pipeline on one task and pipeline seed: each stage's wall time, its
/// multiply-adds and its efficiency against the 2-core matrix-multiply peak, and the accuracy picture of one trained
/// p-diff model sampled two ways (the 1,000-step DDPM chain and DDIM).
/// </summary>
public sealed record TimedRun(TaskSpec Task, ZooTask Zoo, IReadOnlyList<StageTime> Stages, IReadOnlyList<SamplerResult> Samplers,
    double PeakGflopPerSecond, string Folder) : IDisposable
{
    /// <summary>The path to write a file of ours (a chart) into the run's folder, listed in its marker first.</summary>
    public string Writable(string name)
    {
        using var folder = OwnedFolder.Claim(Folder, ResultsFolders.Kind);
        return folder.Writable(name);
    }

    /// <summary>The stages every sampler shares (zoo and training); each sampler adds its sampling and evaluation.</summary>
    public double SharedSeconds => Stages.Sum(s => s.Seconds);

    /// <summary>Wall seconds of the whole pipeline with sampler <paramref name="i"/>: shared stages, its sampling and its evaluation.</summary>
    public double PipelineSeconds(int i) => SharedSeconds + Samplers[i].Sampling.Seconds + Samplers[i].Evaluation.Seconds;

    /// <summary>Every stage in order, the samplers' after the shared ones, with a total line per sampler.</summary>
    public TextTable ToTable()
    {
        var t = new TextTable($"{Task}: stage wall times and multiply-adds (peak {PeakGflopPerSecond:F0} GFLOP/s, a 2048² sgemm here)", new[]
        {
            TableColumn.Text("stage"), TableColumn.Number("seconds", "s", "F1"), TableColumn.Number("gmac", "GMAC", "F1"),
            TableColumn.Number("gflops", "GFLOP/s", "F1"), TableColumn.Percent("of_peak", "% of peak"), TableColumn.Text("work"),
        });
        void Add(StageTime s) => t.Add(s.Stage, s.Seconds, s.MultiplyAdds / 1e9 ?? double.NaN, s.GflopPerSecond ?? double.NaN,
            s.FractionOfPeak(PeakGflopPerSecond) ?? double.NaN, s.Work);
        foreach (var s in Stages) Add(s);
        for (var i = 0; i < Samplers.Count; i++)
        {
            Add(Samplers[i].Sampling);
            Add(Samplers[i].Evaluation);
            t.Add($"whole pipeline with {Samplers[i].Name}", PipelineSeconds(i), double.NaN, double.NaN, double.NaN, "shared stages + its sampling + its evaluation");
        }
        return t;
    }

    public void Dispose()
    {
        foreach (var s in Samplers) s.Dispose();
    }
}

/// <summary>
/// Multiply-adds of forward passes through a task's base model, whole or from the scorer's cut stage on (the suffix
/// it reruns per vector); null when the model's stages are not counted.
/// </summary>
sealed class ForwardCost(IReadOnlyList<StageMultiplyAdds> stages, int cut)
{
    public double? Of(double images, bool suffix = false) =>
        ModelCost.Counted(stages) ? images * (suffix ? ModelCost.From(stages, cut) : ModelCost.Forward(stages)) : null;
}

/// <summary>Runs and times the pipeline stage by stage (notebook 11); writes <c>stage_times.csv</c>/<c>.json</c> and one run folder per sampler.</summary>
public static class TimedPipeline
{
    /// <summary>
    /// Builds (or reuses) the zoo of <paramref name="task"/>, trains p-diff anew (no cached training: its time is
    /// measured), generates <paramref name="generate"/> models with each sampler in <paramref name="samplers"/> and
    /// scores them with the originals and their weight average (no baselines: the evaluation timed is the reference's
    /// 200 + 200 models). A zoo reused from the cache reports the build times its manifest recorded.
    /// </summary>
    public static TimedRun Run(TaskSpec task, PDiffConfig preset, Profile profile, IReadOnlyList<(string Name, SamplerOptions Options)> samplers,
        string resultsDir, TextWriter? log = null, int? generate = null, double? peakGflopPerSecond = null, bool force = false)
    {
        if (samplers.Count == 0) throw new ArgumentException("TimedPipeline.Run needs at least one sampler.", nameof(samplers));
        var config = TaskRunner.SeedsFor(ProfileDefaults.SamplingFor(profile, preset.ForProfile(profile)), 0, task.Seed);
        config.Validate();
        var count = generate ?? ProfileDefaults.GeneratedCount(profile);
        using var folder = ResultsFolders.Claim(resultsDir, ResultsFolders.Fingerprint(new
        {
            layout = "timed", task = task.ToString(), profile = profile.Name(), config = ConfigText.ToJson(config), count,
            samplers = samplers.Select(s => $"{s.Name}:{s.Options}").ToArray(),
        }), force, log);
        var peak = peakGflopPerSecond ?? PDiff.Studies.MatmulPeak.GflopPerSecond();
        log?.WriteLine($"[timed] matrix-multiply peak {peak:F0} GFLOP/s (2048² sgemm, {get_num_threads()} threads)");

        var started = DateTime.UtcNow;
        var zoo = ZooCache.Ensure(task, profile, log);
        // Built by this call when its manifest's stamp is newer than the call (a cached zoo reports its build's times).
        var zooBuiltNow = DateTime.TryParse(zoo.Manifest.Created, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var created)
            && created.ToUniversalTime() >= started;
        using var ctx = TaskContext.Open(zoo);
        var cost = new ForwardCost(ModelCost.PerStage(ctx.Model, ctx.Spec), ctx.Scorer.CutStage);
        var stages = ZooStages(task, ctx, profile, cost, zooBuiltNow);
        using var originals = zoo.LoadMatrix();
        var model = (PDiffModel?)null;
        var results = new List<SamplerResult>();
        try
        {
            using var trainer = new PDiffTrainer(config, originals, zoo.Layout, new TrainerOptions { Scorer = ctx.Scorer, Log = log });
            model = trainer.Train();
            stages.AddRange(TrainingStages(trainer, model, config, zoo.K));
            var evaluation = ProfileDefaults.EvaluationFor(profile) with { Baselines = BaselineOptions.None, Tsne = false, WriteIouMatrix = false };
            foreach (var (name, options) in samplers)
            {
                var result = SampleAndEvaluate(ctx, trainer, model, originals, config, (name, options), count, evaluation, cost, log);
                results.Add(result);
                ResultsFolders.WriteRun(folder, name.ToLowerInvariant().Replace(' ', '-'), result.Report, config with { Sampler = options.Kind, DdimSteps = options.Steps },
                    new { ae = trainer.AeLosses, diffusion = trainer.DiffusionLosses, validations = trainer.Validations });
                log?.WriteLine($"[timed] {name}: sampled in {result.Sampling.Seconds:F1}s, evaluated in {result.Evaluation.Seconds:F1}s; generated test mean {100 * result.Report.Summary(Evaluator.Generated).Test.Mean:F2}%");
            }
            var timed = new TimedRun(task, zoo, stages, results, peak, folder.Directory);
            Write(folder, timed, profile, config);
            log?.WriteLine(timed.ToTable().ToPlain());
            return timed;
        }
        catch
        {
            foreach (var r in results) r.Dispose();
            throw;
        }
        finally
        {
            model?.Dispose();
        }
    }

    /// <summary>The zoo's stages (base training, collection, scoring the zoo) with the seconds its manifest recorded.</summary>
    static List<StageTime> ZooStages(TaskSpec task, TaskContext ctx, Profile profile, ForwardCost cost, bool zooBuiltNow)
    {
        var zoo = ctx.Zoo;
        var stages = new List<StageTime>();
        var train = ZooProfiles.Train(profile, task.Arch);
        var recipe = zoo.Manifest.Recipe;
        long nTrain = ctx.Data.Train.Count, nVal = ctx.Data.Validation.Count, nTest = ctx.Data.Test.Count;
        var from = zooBuiltNow ? "" : " (zoo from the cache: the times its build recorded)";
        double Seconds(string key) => zoo.Manifest.Seconds.TryGetValue(key, out var s) ? s : double.NaN;
        // Training an image costs about three forwards (forward, input gradients, weight gradients); each epoch also scores validation and test.
        stages.Add(new StageTime("base training", Seconds("base"), cost.Of(3.0 * nTrain * train.Epochs + (double)(nVal + nTest) * train.Epochs),
            $"{train.Epochs} epochs × {nTrain:N0} images (×3 for the backward) + validation and test each epoch{from}"));
        if (recipe is not null)
        {
            var iterations = (double)(recipe.SkipFirst + recipe.K * recipe.SaveEvery);
            // Gradients flow back only to the subset: the forward pass plus the suffix's input gradients.
            stages.Add(new StageTime("collection", Seconds("collect"),
                cost.Of(iterations * recipe.BatchSize) + cost.Of(iterations * recipe.BatchSize, suffix: true),
                $"{iterations:N0} iterations × batch {recipe.BatchSize}, backward through the layers from the subset on{from}"));
        }
        stages.Add(new StageTime("scoring the zoo", Seconds("score"), cost.Of(nVal + nTest) + cost.Of((double)zoo.K * (nVal + nTest), suffix: true),
            $"{zoo.K} checkpoints on validation and test for the manifest (prefix once, suffix per checkpoint){from}"));
        return stages;
    }

    /// <summary>The autoencoder's and the denoiser's training, with their multiply-adds where the model counts them.</summary>
    static StageTime[] TrainingStages(PDiffTrainer trainer, PDiffModel model, PDiffConfig config, int k)
    {
        var aeMacs = model.Autoencoder.MultiplyAddsPerVector;
        var denMacs = model.SamplingDenoiser.MultiplyAddsPerSample;
        return new[]
        {
            new StageTime("autoencoder training", trainer.PhaseSeconds[PDiffTrainer.AePhase],
                aeMacs is { } a ? 3.0 * config.AeSteps * config.AeBatch * (a.Encode + a.Decode) : null,
                $"{config.AeSteps} steps × batch {config.AeBatch} (×3 for the backward)"),
            new StageTime("denoiser training", trainer.PhaseSeconds[PDiffTrainer.DiffusionPhase],
                denMacs is { } d && aeMacs is { } a2 ? 3.0 * config.DiffSteps * config.DiffBatch * d + (double)k * a2.Encode : null,
                $"{config.DiffSteps} steps × batch {config.DiffBatch} (×3 for the backward) + encoding the {k} vectors"),
        };
    }

    /// <summary>
    /// Samples <paramref name="count"/> models with one sampler and scores them with the originals and their weight
    /// average; the generated vectors are freed once scored (the report keeps the scores).
    /// </summary>
    static SamplerResult SampleAndEvaluate(TaskContext ctx, PDiffTrainer trainer, PDiffModel model, Tensor originals, PDiffConfig config,
        (string Name, SamplerOptions Options) sampler, int count, EvaluationOptions evaluation, ForwardCost cost, TextWriter? log)
    {
        var (gen, sampling) = Sample(model, config, sampler, count, log);
        var imagesBefore = ctx.Scorer.ImagesScored;
        EvaluationReport report;
        try
        {
            var run = new PDiffRun(config, model, originals, gen, trainer.AeLosses.ToArray(), trainer.DiffusionLosses.ToArray(),
                trainer.Validations.ToList(), trainer.PhaseSeconds.Values.Sum(), sampling.Seconds);
            report = RunEvaluation.Evaluate(ctx, run, evaluation, log);
        }
        finally
        {
            gen.Dispose();
        }
        var stage = EvaluationStage(ctx, report, sampler.Name, count, ctx.Scorer.ImagesScored - imagesBefore, cost);
        return new SamplerResult(sampler.Name, sampler.Options, report, sampling, stage);
    }

    /// <summary>The sampler's models from the sample seed's generator, with the chain's progress on the log, and the stage's time and work.</summary>
    static (GenerationResult Generated, StageTime Stage) Sample(PDiffModel model, PDiffConfig config, (string Name, SamplerOptions Options) sampler,
        int count, TextWriter? log)
    {
        var (name, options) = sampler;
        log?.WriteLine($"[timed] sampling {count} models with {name}");
        var clock = Stopwatch.StartNew();
        using var g = new Generator((ulong)config.SampleSeed);
        var chainSteps = options.Kind == SamplerKind.Ddim ? options.Steps : config.Timesteps;
        var chains = (count + 99) / 100;
        var progress = log is null ? null : new ProgressLog(log, "sample", (long)chainSteps * chains) { Interval = TimeSpan.FromSeconds(10) };
        var stepsDone = 0L;
        var gen = model.Generate(count, g, options, chunk: 100, progress: (_, _) => progress?.Step(++stepsDone, $"{name}, {count} models in {chains} chain(s)"));
        var sampleSeconds = clock.Elapsed.TotalSeconds;
        var aeMacs = model.Autoencoder.MultiplyAddsPerVector;
        var denMacs = model.SamplingDenoiser.MultiplyAddsPerSample;
        return (gen, new StageTime($"sampling, {name}", sampleSeconds,
            denMacs is { } dm && aeMacs is { } am ? (double)count * chainSteps * dm + (double)count * am.Decode : null,
            $"{count} models × {chainSteps} denoiser steps + decoding"));
    }

    /// <summary>The evaluation's seconds (scoring and similarity) and the forward passes the scorer ran for it (<paramref name="images"/>).</summary>
    static StageTime EvaluationStage(TaskContext ctx, EvaluationReport report, string name, int count, long images, ForwardCost cost)
    {
        long nVal = ctx.Data.Validation.Count, nTest = ctx.Data.Test.Count;
        var evalSeconds = report.Seconds.GetValueOrDefault("scoring") + report.Seconds.GetValueOrDefault("similarity");
        var scored = report.Models.Count;
        // Only the rows the scorer ran count: the originals' scores usually come from the zoo (ZooScores).
        var modelsRun = images / (double)(nVal + nTest);
        return new StageTime($"evaluation, {name}", evalSeconds, cost.Of(nVal + nTest) + cost.Of(images, suffix: true),
            $"{scored} models ({ctx.Zoo.K} originals, {count} generated, their weight average) on validation and test, {modelsRun:N0} of them run " +
            "(the others' scores kept from the zoo's build or an earlier sampler), and the IoU of their wrong-prediction sets");
    }

    /// <summary>
    /// <see cref="Run"/> once per pipeline seed into <c>&lt;results&gt;/seed&lt;s&gt;/</c>, then the spread over seeds of every
    /// sampler's accuracy picture (<see cref="SeedSummary"/>, one a sampler, in the order given); the first sampler's
    /// (the reference's DDPM chain) is written as <c>seeds_summary.*</c> beside the seed folders.
    /// </summary>
    public static (IReadOnlyList<TimedRun> Runs, IReadOnlyList<SeedSummary> Summaries) RunSeeds(TaskSpec task, PDiffConfig preset, Profile profile,
        IReadOnlyList<int> seeds, IReadOnlyList<(string Name, SamplerOptions Options)> samplers, string resultsDir, TextWriter? log = null,
        int? generate = null, double? peakGflopPerSecond = null, bool force = false)
    {
        SeedRunner.Check(seeds);
        var baseTask = task.WithSeed(0);
        using var folder = ResultsFolders.Claim(resultsDir, ResultsFolders.Fingerprint(new
        {
            layout = "timed-seeds", task = baseTask.ToString(), profile = profile.Name(), preset = ConfigText.ToJson(preset), generate,
            samplers = samplers.Select(s => $"{s.Name}:{s.Options}").ToArray(),
        }), force, log);
        var peak = peakGflopPerSecond ?? PDiff.Studies.MatmulPeak.GflopPerSecond();
        return SeedRunner.Run(seeds, s => Run(baseTask.WithSeed(s), preset, profile, samplers, folder.Sub($"seed{s}"), log, generate, peak, force), runs =>
        {
            var summaries = samplers.Select((sampler, i) => SeedSummary.From(baseTask.ToString(), $"{profile.Name()}, {sampler.Name}", seeds,
                runs.Select(r => (IReadOnlyList<IReadOnlyList<GroupSummary>>)new[] { r.Samplers[i].Report.Summaries }).ToList(),
                runs.Select(r => r.Zoo.Manifest.BaseTestAccuracy ?? double.NaN).ToList(),
                runs.Select(r => Path.GetRelativePath(folder.Directory, r.Folder)).ToList())).ToList();
            summaries[0].Write(folder);
            RunEnvironment.Capture().Write(folder);
            return (runs, (IReadOnlyList<SeedSummary>)summaries);
        }, log, baseTask.ToString());
    }

    /// <summary>
    /// <c>stage_times.csv</c> and <c>.json</c>; the JSON also names the profile and the denoiser's precision, which
    /// bench/equal-work.sh checks against the PyTorch reference's before it sets the two side by side.
    /// </summary>
    static void Write(OwnedFolder folder, TimedRun run, Profile profile, PDiffConfig config)
    {
        AtomicFile.WriteAllText(folder.Writable("stage_times.csv"), run.ToTable().ToCsv());
        var json = new
        {
            task = run.Task.ToString(), profile = profile.Name(), precision = EqualWork.Precision(config.Autocast),
            peak_gflop_per_second = run.PeakGflopPerSecond, threads = get_num_threads(),
            stages = run.Stages.Concat(run.Samplers.SelectMany(s => new[] { s.Sampling, s.Evaluation }))
                .Select(s => new { stage = s.Stage, seconds = s.Seconds, multiply_adds = s.MultiplyAdds, gflop_per_second = s.GflopPerSecond, work = s.Work }),
            pipelines = run.Samplers.Select((s, i) => new { sampler = s.Name, seconds = run.PipelineSeconds(i) }),
        };
        AtomicFile.WriteAllText(folder.Writable("stage_times.json"), JsonSerializer.Serialize(json, new JsonSerializerOptions
        {
            WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        }));
        RunEnvironment.Capture().Write(folder);
    }
}
