using System.Diagnostics;
using PDiff.Data;
using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Storage;
using PDiff.Zoo;
using static TorchSharp.torch;

namespace PDiff.Studies;

/// <summary>
/// What a conditional study asks for. Targets are z-scores of validation accuracy over the seed's zoo
/// (z = 0 is the zoo's mean; its best checkpoint lies near z = +3 for a 200-checkpoint zoo), so the same
/// plan spans "below, inside and above" the range on every seed whatever its accuracies.
/// </summary>
/// <param name="TargetZ">Targets of the calibration (all at <paramref name="Guidance"/>).</param>
/// <param name="Guidance">w of the calibration.</param>
/// <param name="SweepGuidance">w values of the guidance sweep, each at every target of <paramref name="SweepTargetZ"/>.</param>
/// <param name="Models">Models generated per (target, w), all from the same starting noise.</param>
/// <param name="DdimSteps">DDIM steps of every chain.</param>
/// <param name="Dropout">Probability of dropping the condition in training (classifier-free guidance).</param>
public sealed record ConditionalPlan(IReadOnlyList<double> TargetZ, double Guidance, IReadOnlyList<double> SweepGuidance,
    IReadOnlyList<double> SweepTargetZ, int Models, int DdimSteps, double Dropout = 0.1)
{
    public void Validate()
    {
        void Need(bool ok, string what) { if (!ok) throw new ArgumentException($"Invalid conditional plan: {what}."); }
        Need(TargetZ.Count > 0 && TargetZ.All(double.IsFinite), "targets must be finite numbers, at least one");
        Need(SweepTargetZ.All(double.IsFinite) && SweepGuidance.All(w => double.IsFinite(w) && w >= 0), "sweep targets must be finite and guidance strengths finite and ≥ 0");
        Need(double.IsFinite(Guidance) && Guidance >= 0, $"the calibration's guidance must be finite and ≥ 0 (got {Guidance})");
        Need(Models >= 2, $"at least two models per setting (got {Models})");
        Need(DdimSteps >= 1, $"DDIM steps must be ≥ 1 (got {DdimSteps})");
        Need(Dropout > 0 && Dropout < 1, $"condition dropout must be in (0, 1) (got {Dropout})");
    }

    /// <summary>(target z, w) of every generation: the calibration, then the sweep (w = 0 ignores the target: once, at the first sweep target).</summary>
    public IReadOnlyList<(double Z, double W)> Settings()
    {
        var list = TargetZ.Select(z => (z, Guidance)).ToList();
        foreach (var w in SweepGuidance)
            foreach (var z in w == 0 ? SweepTargetZ.Take(1) : SweepTargetZ)
                if (!list.Contains((z, w))) list.Add((z, w));
        return list;
    }
}

/// <summary>One generated model of a conditional study.</summary>
public sealed record ConditionalModelRow(int Seed, string Setting, double TargetZ, double Target, double Guidance, int Index,
    double ValAcc, double TestAcc, double MaxIouToOriginals);

/// <summary>The models of one (target, w) on one seed: means over models, spread over models, the one chosen on validation.</summary>
public sealed record ConditionalSettingRow(int Seed, string Setting, double TargetZ, double Target, double Guidance, int Models,
    double ValMean, double TestMean, double TestStd, double TestMin, double TestMax, double BestOnValTest, double MaxIouMean);

/// <summary>The seed's zoo: its validation-accuracy range (the condition's), and the originals' test accuracies.</summary>
public sealed record ConditionalZooRow(int Seed, int K, double ValMin, double ValMax, double ValMean, double ValStd,
    double TestMean, double BestOnValTest, double BestOnTestTest, double BaseTest, double OriginalsMaxIouMean);

/// <summary>A seed of the study: zoo facts, every model, per-setting summaries (the unconditional p-diff model under <see cref="ConditionalStudy.Unconditional"/>).</summary>
public sealed record ConditionalSeedResult(int Seed, ConditionalZooRow Zoo, IReadOnlyList<ConditionalModelRow> Models,
    IReadOnlyList<ConditionalSettingRow> Settings, double TrainSeconds, double GenerateSeconds, double ScoreSeconds);

/// <summary>
/// Generation on demand: p-diff's denoiser conditioned on each checkpoint's validation accuracy,
/// with classifier-free guidance. Per pipeline seed: the zoo (cached), the unconditional p-diff model of
/// notebooks 01/06 (cached; it also lends its trained autoencoder, which the condition does not change),
/// the conditional denoiser (trained once per configuration, cached beside the zoo), then models for every
/// (target, w) of the plan from the same starting noise, scored on validation and test, with their max IoU
/// of wrong-prediction sets (test) to the originals.
/// </summary>
public static class ConditionalStudy
{
    /// <summary>Setting name of the unconditional p-diff model's models (same noise, same sampler).</summary>
    public const string Unconditional = "unconditional p-diff";

    public static string SettingName(double z, double w) =>
        FormattableString.Invariant($"z{z:+0.##;-0.##;0} w{w:0.##}");

    /// <summary>The unconditional configuration of notebooks 01 and 06 for a seed (so their trained model is reused).</summary>
    public static PDiffConfig UnconditionalConfig(Profile profile, int seed) =>
        TaskRunner.SeedsFor(ProfileDefaults.SamplingFor(profile, PDiffConfig.Default.ForProfile(profile)), 0, seed);

    /// <summary>
    /// The study over pipeline seeds (<see cref="SeedRunner"/>): <see cref="RunSeed"/> for each seed of
    /// <paramref name="task"/>, then the summary over seeds, written into <paramref name="results"/> beside the seed folders.
    /// </summary>
    public static ConditionalSummary RunSeeds(TaskSpec task, Profile profile, ConditionalPlan plan, IReadOnlyList<int> seeds, OwnedFolder results,
        TextWriter? log = null) =>
        SeedRunner.Run(seeds, s => RunSeed(task.WithSeed(s), profile, plan, results, log), perSeed =>
        {
            var summary = ConditionalSummary.From(perSeed, plan);
            summary.Write(results);
            return summary;
        }, log);

    /// <summary>One pipeline seed: the zoo, both p-diff models, every setting's models scored, written into <c>seed&lt;s&gt;/</c>.</summary>
    public static ConditionalSeedResult RunSeed(TaskSpec task, Profile profile, ConditionalPlan plan, OwnedFolder results, TextWriter? log = null)
    {
        plan.Validate();
        var zoo = ZooCache.Ensure(task, profile, log);
        using var ctx = TaskContext.Open(zoo);
        var seed = task.Seed;
        var clock = Stopwatch.StartNew();
        var plainConfig = UnconditionalConfig(profile, seed);
        // (ValidateEvery = DiffSteps is part of the cached models' configuration; the trainer gets no scorer, so nothing is monitored.)
        var config = plainConfig.Conditioned(ConditionKind.ValAccuracy, plan.Dropout, plan.Guidance) with { ValidateEvery = plainConfig.DiffSteps };
        using var plain = Training.Train(ctx, plainConfig, log);
        using var trainer = ConditionalTrainer(ctx, config, plain, log);
        using var model = trainer.Train();
        var trainSeconds = clock.Elapsed.TotalSeconds;

        // Originals: test wrong-sets for the IoU, and what "the best original" means (chosen on validation).
        clock.Restart();
        var originalTest = ctx.Scorer.Score(plain.Originals, EvalSplit.Test);
        var (rows, generateSeconds) = GenerateEverySetting(ctx, model, plain.Model, config, plan, seed, originalTest, log);
        var scoreSeconds = clock.Elapsed.TotalSeconds - generateSeconds;

        var zooRow = ZooRow(seed, zoo, ctx, originalTest);
        var settings = rows.GroupBy(m => m.Setting).Select(Summarise).ToList();
        var result = new ConditionalSeedResult(seed, zooRow, rows, settings, trainSeconds, generateSeconds, scoreSeconds);
        Write(results, result, config, trainer);
        log?.WriteLine($"[conditional] seed {seed}: trained in {trainSeconds:F0}s, generated in {generateSeconds:F0}s, scored in {scoreSeconds:F0}s");
        return result;
    }

    /// <summary>
    /// The conditional model's trainer on the unconditional model's training vectors, conditioned on each checkpoint's
    /// validation accuracy, with the unconditional model's trained autoencoder (the condition does not change it).
    /// </summary>
    static PDiffTrainer ConditionalTrainer(TaskContext ctx, PDiffConfig config, TrainedPDiff plain, TextWriter? log)
    {
        var accuracies = ctx.Zoo.Manifest.Checkpoints.Select(c => c.ValAccuracy).ToList();
        var trainer = new PDiffTrainer(config, plain.Originals, ctx.Zoo.Layout, new TrainerOptions
        {
            // No monitoring: it samples unconditionally, which says little about a conditional model, and costs minutes.
            CheckpointDir = Training.TrainedModelDir(ctx.Zoo, config, ctx.Zoo.K), Log = log,
        }, accuracies);
        try
        {
            trainer.AdoptAutoencoder(plain.Model, plain.AeLosses);
            return trainer;
        }
        catch
        {
            trainer.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Models for every (target, w) of the plan, then the unconditional model's, each from the sample seed's noise,
    /// scored on validation and test with their max IoU to the originals; and the seconds spent generating.
    /// </summary>
    static (List<ConditionalModelRow> Rows, double GenerateSeconds) GenerateEverySetting(TaskContext ctx, PDiffModel model, PDiffModel plainModel,
        PDiffConfig config, ConditionalPlan plan, int seed, IReadOnlyList<ModelScore> originalTest, TextWriter? log)
    {
        var scaler = model.Condition!;
        var options = new SamplerOptions(SamplerKind.Ddim, Steps: plan.DdimSteps);
        var rows = new List<ConditionalModelRow>();
        double generateSeconds = 0;
        void Score(string name, double z, double w, GenerationResult r)
        {
            var val = ctx.Scorer.Score(r.Vectors, EvalSplit.Validation);
            var test = ctx.Scorer.Score(r.Vectors, EvalSplit.Test);
            for (var i = 0; i < test.Count; i++)
                rows.Add(new ConditionalModelRow(seed, name, z, double.IsNaN(z) ? double.NaN : scaler.Denormalize(z), w, i, val[i].Accuracy, test[i].Accuracy,
                    originalTest.Max(o => o.Wrong.IoU(test[i].Wrong))));
        }
        foreach (var (z, w) in plan.Settings())
        {
            var gen = Stopwatch.StartNew();
            using var g = new Generator((ulong)config.SampleSeed);
            using var r = model.GenerateConditional(plan.Models, g, new[] { scaler.Denormalize(z) }, w, options);
            generateSeconds += gen.Elapsed.TotalSeconds;
            Score(SettingName(z, w), z, w, r);
            log?.WriteLine($"[conditional] seed {seed}: target {100 * scaler.Denormalize(z):F2}% (z {z:+0.##;-0.##;0}), w {w}: test mean {100 * rows.TakeLast(plan.Models).Average(m => m.TestAcc):F2}%");
        }
        {
            var gen = Stopwatch.StartNew();
            using var g = new Generator((ulong)config.SampleSeed);
            using var r = plainModel.Generate(plan.Models, g, options);
            generateSeconds += gen.Elapsed.TotalSeconds;
            Score(Unconditional, double.NaN, double.NaN, r);
        }
        return (rows, generateSeconds);
    }

    static ConditionalZooRow ZooRow(int seed, ZooTask zoo, TaskContext ctx, IReadOnlyList<ModelScore> originalTest)
    {
        var c = zoo.Manifest.Checkpoints;
        var val = c.Select(x => x.ValAccuracy).ToArray();
        var mean = Statistics.Mean(val);
        var bestVal = Enumerable.Range(0, c.Count).MaxBy(i => val[i]);    // first of ties: a fixed rule, chosen on validation
        // The originals' own novelty: each one's max IoU to the others (leave-one-out), the yardstick for generated models.
        var loo = originalTest.Select((o, i) => originalTest.Where((_, j) => j != i).Max(p => o.Wrong.IoU(p.Wrong))).Average();
        return new ConditionalZooRow(seed, c.Count, val.Min(), val.Max(), mean, Statistics.PopulationStd(val, mean),
            originalTest.Average(o => o.Accuracy), originalTest[bestVal].Accuracy, originalTest.Max(o => o.Accuracy),
            zoo.Manifest.BaseTestAccuracy ?? double.NaN, loo);
    }

    static ConditionalSettingRow Summarise(IGrouping<string, ConditionalModelRow> g)
    {
        var m = g.ToList();
        var test = m.Select(x => x.TestAcc).ToArray();
        var mean = Statistics.Mean(test);
        // Divides by max(1, n − 1): the sample std, and for a single model Σ/1 (its population std, 0).
        var std = test.Length > 1 ? Statistics.SampleStd(test, mean) : Statistics.PopulationStd(test, mean);
        var best = m.MaxBy(x => x.ValAcc)!;
        return new ConditionalSettingRow(m[0].Seed, g.Key, m[0].TargetZ, m[0].Target, m[0].Guidance, m.Count, m.Average(x => x.ValAcc), mean,
            std, test.Min(), test.Max(), best.TestAcc, m.Average(x => x.MaxIouToOriginals));
    }

    static void Write(OwnedFolder results, ConditionalSeedResult r, PDiffConfig config, PDiffTrainer trainer)
    {
        var w = new ResultsWriter(results.Sub($"seed{r.Seed}"), results);
        w.WriteCsv("models.csv", Tables.ToDataFrame(r.Models));
        w.WriteCsv("settings.csv", Tables.ToDataFrame(r.Settings));
        w.WriteJson("zoo.json", r.Zoo);
        w.WriteJson("timings.json", new { train = r.TrainSeconds, generate = r.GenerateSeconds, score = r.ScoreSeconds });
        w.WriteText("pdiff_config.json", ConfigText.ToJson(config));
        w.WriteJson("losses.json", new { ae = trainer.AeLosses, diffusion = trainer.DiffusionLosses, validations = trainer.Validations });
    }
}
