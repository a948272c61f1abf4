using System.Diagnostics;
using System.Globalization;
using PDiff.Data;
using PDiff.TorchFixes;
using PDiff.Zoo;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PDiff.Diffusion;

/// <summary>One validation: scores of a few generated (diffusion phase) or reconstructed (AE phase) models on the validation split.</summary>
public sealed record ValidationRecord(string Phase, int Step, int Models, double MeanAccuracy, double MedianAccuracy, double MaxAccuracy, double MinAccuracy);

/// <summary>Where and how a training run reports, checkpoints and stops.</summary>
public sealed record TrainerOptions
{
    /// <summary>Folder for periodic checkpoints (null: none). A run started on a folder with a checkpoint resumes from it.</summary>
    public string? CheckpointDir { get; init; }
    /// <summary>Scores generated models on the VALIDATION split during training (null: no monitoring).</summary>
    public ISubsetScorer? Scorer { get; init; }
    /// <summary>Progress lines (step, loss, ETA); null is silent.</summary>
    public TextWriter? Log { get; init; } = Console.Out;
    /// <summary>Cancelling stops the run between steps, like a kill: nothing more is saved.</summary>
    public CancellationToken Cancellation { get; init; }
    /// <summary>Called after every optimiser step with (phase, steps done in that phase).</summary>
    public Action<string, int>? OnStep { get; init; }
}

/// <summary>
/// Trains a p-diff system on K subset vectors [K, N] (raw parameters): fit the normaliser, train the
/// autoencoder with noise augmentation, then the latent diffusion model on the (clean) latents, with EMA.
/// Every random draw comes from one of two seeded generators (AE phase, diffusion phase) whose states are
/// checkpointed with the weights, the optimisers, the batch order and the counters, so a killed run that
/// is restarted on the same folder ends exactly as an uninterrupted one.
/// </summary>
public sealed partial class PDiffTrainer : IDisposable
{
    public const string AePhase = "ae", DiffusionPhase = "diffusion";

    readonly PDiffConfig config;
    readonly TrainerOptions options;
    readonly Tensor data;                 // normalised [K, N]
    readonly SubsetLayout layout;
    PDiffModel? model;
    readonly Generator aeGen, diffGen;
    readonly MinibatchSampler aeBatches, diffBatches;
    AdamW? aeOpt, diffOpt;
    int aeStep, diffStep;
    long emaUpdates;
    readonly List<float> aeLosses = new(), diffLosses = new();
    readonly List<ValidationRecord> validations = new();
    readonly Tensor? conditions;          // z-scored condition of each training vector [K] (conditional models only)

    /// <param name="conditions">
    /// One condition per training vector (e.g. each checkpoint's validation accuracy), required exactly when the
    /// configuration is conditional; they are z-scored over these K values and the statistics kept with the model.
    /// </param>
    public PDiffTrainer(PDiffConfig config, Tensor rawVectors, SubsetLayout layout, TrainerOptions? options = null, IReadOnlyList<double>? conditions = null)
    {
        config.Validate();
        (this.config, this.layout, this.options) = (config, layout, options ?? new TrainerOptions());
        if (rawVectors.dim() != 2 || rawVectors.size(1) != layout.Length)
            throw new ArgumentException($"PDiffTrainer: expected training vectors [K, {layout.Length}] for the subset layout; got [{string.Join(", ", rawVectors.shape)}].");
        PDiffMemory.CheckFits(config, new PDiffMemory.Job(layout.Length, rawVectors.size(0)));   // before the autoencoder and denoiser exist
        if (this.options.Scorer is { } s && s.Layout.Length != layout.Length)
            throw new ArgumentException($"PDiffTrainer: the scorer's subset has {s.Layout.Length} numbers, the training vectors {layout.Length}.");
        ConditionScaler? scaler = null;
        if (config.Condition != ConditionKind.None)
        {
            if (conditions is null)
                throw new ArgumentException($"PDiffTrainer: the configuration conditions on {config.Condition}; pass one condition per training vector ({rawVectors.size(0)}).", nameof(conditions));
            if (conditions.Count != rawVectors.size(0))
                throw new ArgumentException($"PDiffTrainer: {conditions.Count} conditions for {rawVectors.size(0)} training vectors; give one per vector.", nameof(conditions));
            scaler = ConditionScaler.Fit(config.Condition, conditions);
            this.conditions = tensor(scaler.Normalize(conditions, nameof(conditions))).DetachFromDisposeScope();
        }
        else if (conditions is not null)
            throw new ArgumentException("PDiffTrainer: conditions were given for an unconditional configuration; set PDiffConfig.Condition to use them.", nameof(conditions));
        var normalizer = ParamNormalizer.Fit(rawVectors, layout, config.Normalization);
        data = normalizer.Normalize(rawVectors).DetachFromDisposeScope();
        model = new PDiffModel(config, normalizer, scaler);
        aeGen = new Generator((ulong)config.AeSeed);
        diffGen = new Generator((ulong)config.DiffusionSeed);
        aeBatches = new MinibatchSampler(data.size(0), config.AeBatch);
        diffBatches = new MinibatchSampler(data.size(0), config.DiffBatch);
    }

    PDiffModel Model => model ?? throw new InvalidOperationException("Train() already handed its model to the caller.");
    public IReadOnlyList<float> AeLosses => aeLosses;
    public IReadOnlyList<float> DiffusionLosses => diffLosses;
    public IReadOnlyList<ValidationRecord> Validations => validations;
    /// <summary>Wall seconds of each phase in this process (validations included; 0 for a phase a resumed run skipped).</summary>
    public IReadOnlyDictionary<string, double> PhaseSeconds => phaseSeconds;
    readonly Dictionary<string, double> phaseSeconds = new() { [AePhase] = 0, [DiffusionPhase] = 0 };

    void Log(string line) => options.Log?.WriteLine(line);

    /// <summary>Runs (or resumes) both phases and hands the trained model to the caller, who disposes it.</summary>
    public PDiffModel Train()
    {
        // One trainer per checkpoint folder: another process training into it (the same cached model) is waited for,
        // and its finished checkpoint is then resumed, which is the trained model, instead of training it twice.
        using var hold = options.CheckpointDir is { } held ? PDiff.Storage.FolderLock.Wait(held, "training checkpoints", options.Log) : null;
        var resumed = options.CheckpointDir is { } dir && TryResume(dir);
        Log($"[p-diff] K = {data.size(0)} vectors of N = {data.size(1)}; {config.Autoencoder} ({ParameterCount(Model.Autoencoder):N0} params, latent [{string.Join(", ", Model.Autoencoder.LatentShape)}]), " +
            $"{config.Denoiser} ({ParameterCount(Model.Denoiser):N0} params); seeds init {config.InitSeed}, ae {config.AeSeed}, diffusion {config.DiffusionSeed}, sample {config.SampleSeed}" +
            (resumed ? $"; resumed at ae step {aeStep}, diffusion step {diffStep}" : ""));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        TrainAutoencoder();
        phaseSeconds[AePhase] = clock.Elapsed.TotalSeconds;
        clock.Restart();
        TrainDenoiser();
        phaseSeconds[DiffusionPhase] = clock.Elapsed.TotalSeconds;
        if (options.CheckpointDir is { } d) SaveCheckpoint(d);
        var m = Model;
        m.Autoencoder.eval();
        m.Denoiser.eval();
        model = null;
        return m;
    }

    // ---- phase 1: the parameter autoencoder ----
    void TrainAutoencoder()
    {
        var ae = Model.Autoencoder;
        if (aeStep >= config.AeSteps) return;
        aeOpt ??= NewAdamW(ae.parameters(), config.AeLr, config.AeWeightDecay);
        if (pendingAeOptim is { } p) { LoadOptimizer(aeOpt, p); pendingAeOptim = null; }
        SetLr(aeOpt, LrAt(config.AeLrSchedule, config.AeLr, config.AeSteps, aeStep));
        var clock = new Progress(AePhase, config.AeSteps, aeStep);
        ae.train();
        while (aeStep < config.AeSteps)
        {
            options.Cancellation.ThrowIfCancellationRequested();
            float loss;
            using (var scope = NewDisposeScope())
            {
                var x = data.index_select(0, aeBatches.Next(aeGen));
                var l = ae.TrainingLoss(x, aeGen, config.NoisyTarget);
                ae.zero_grad();                    // set_to_none, as PyTorch 2: no zeroing kernels, fresh gradients
                l.backward();
                OptimizerSteps.Step(aeOpt);            // not aeOpt.step(): its implicit Scalars race the GC (OptimizerSteps)
                loss = l.item<float>();
            }
            aeLosses.Add(loss);
            aeStep++;
            SetLr(aeOpt, LrAt(config.AeLrSchedule, config.AeLr, config.AeSteps, aeStep));
            AfterStep(AePhase, aeStep, config.AeSteps, loss, CurrentLr(aeOpt), clock, ValidateAutoencoder);
        }
        ae.eval();
    }

    /// <summary>
    /// Skips the autoencoder phase by taking the trained autoencoder of <paramref name="trained"/>, a model whose
    /// AE phase ran with the same settings and seeds on the same vectors (its normaliser statistics and every
    /// AE setting are checked): the AE phase does not depend on the denoiser or the condition, so a conditional
    /// model shares the AE of its unconditional twin instead of training the same weights again.
    /// <paramref name="aeLosses"/> is that phase's loss history (its <see cref="AeSteps"/> values).
    /// </summary>
    public void AdoptAutoencoder(PDiffModel trained, IReadOnlyList<float> aeLosses)
    {
        ArgumentNullException.ThrowIfNull(trained);
        if (aeStep > 0 || diffStep > 0) throw new InvalidOperationException("AdoptAutoencoder must come before training starts.");
        if (AutoencoderSettings(trained.Config) != AutoencoderSettings(config))
            throw new ArgumentException($"The given model's autoencoder was trained with other settings ({AutoencoderSettings(trained.Config)}) than this run's ({AutoencoderSettings(config)}).", nameof(trained));
        if (trained.Normalizer.ToJson() != Model.Normalizer.ToJson())
            throw new ArgumentException("The given model was trained on other parameter vectors (its normalisation statistics differ from this run's).", nameof(trained));
        if (aeLosses.Count != config.AeSteps)
            throw new ArgumentException($"{aeLosses.Count} AE losses for an AE phase of {config.AeSteps} steps.", nameof(aeLosses));
        StateDicts.LoadStrict(Model.Autoencoder, trained.Autoencoder.state_dict(), "adopted autoencoder");
        aeLosses.ToList().ForEach(this.aeLosses.Add);
        aeStep = config.AeSteps;
        Log($"[p-diff] autoencoder taken from a trained model with the same AE settings and seeds ({config.AeSteps} steps): AE phase skipped");
    }

    /// <summary>Every setting the AE phase's result depends on (the init seed draws the AE first, before any denoiser).</summary>
    static string AutoencoderSettings(PDiffConfig c) => System.Text.Json.JsonSerializer.Serialize(new
    {
        c.Normalization, Autoencoder = c.Autoencoder.ToString(), c.AeChannels, c.LatentDim, c.InputNoise, c.LatentNoise, c.NoisyTarget,
        c.AeSteps, c.AeBatch, c.AeLr, c.AeWeightDecay, AeLrSchedule = c.AeLrSchedule.ToString(), AeInferenceNorm = c.AeInferenceNorm.ToString(), c.InitSeed, c.AeSeed,
    });

    // ---- phase 2: the latent diffusion model ----
    void TrainDenoiser()
    {
        if (diffStep >= config.DiffSteps) return;
        var m = Model;
        foreach (var p in m.Autoencoder.parameters()) p.requires_grad = false;
        using var cached = config.AeInferenceNorm == AeInferenceNorm.Eval ? EncodeAll() : null;
        // Fitted when the phase starts (deterministic, so a resume at step 0 fits the same); later resumes restore them.
        if (diffStep == 0 && m.Latents is { } standardizer)
        {
            using var all = cached is null ? EncodeAll() : null;
            standardizer.Fit(cached ?? all!);
            Log($"[p-diff] latents standardised: centred per dimension, scale {standardizer.Scale:G4}");
        }
        var den = m.Denoiser;
        diffOpt ??= NewAdamW(den.parameters(), config.DiffLr, config.DiffWeightDecay);
        if (pendingDiffOptim is { } po) { LoadOptimizer(diffOpt, po); pendingDiffOptim = null; }
        SetLr(diffOpt, LrAt(config.DiffLrSchedule, config.DiffLr, config.DiffSteps, diffStep));
        var ema = m.EmaDenoiser is { } shadow ? new Ema(den, shadow, config.EmaDecay, copyNow: false) : null;
        var clock = new Progress(DiffusionPhase, config.DiffSteps, diffStep);
        den.train();
        while (diffStep < config.DiffSteps)
        {
            options.Cancellation.ThrowIfCancellationRequested();
            float loss;
            using (var scope = NewDisposeScope())
            {
                var idx = diffBatches.Next(diffGen);
                Tensor x0;
                if (cached is not null) x0 = cached.index_select(0, idx);
                else using (no_grad()) x0 = m.InferenceEncode(data.index_select(0, idx));
                if (m.Latents is { } ls) x0 = ls.ToDiffusion(x0);
                Tensor l;
                using (m.DenoiserPrecision())      // the denoiser's forward only (the autoencoder stays float32)
                    l = conditions is null
                        ? m.Diffusion.TrainingLoss(den, x0, diffGen)
                        : m.Diffusion.ConditionalTrainingLoss(den, x0, conditions.index_select(0, idx), config.ConditionDropout, diffGen);
                den.zero_grad();
                l.backward();
                OptimizerSteps.Step(diffOpt);
                loss = l.item<float>();
            }
            if (ema is not null)
            {
                ema.Update(config.EmaWarmup ? Math.Min(config.EmaDecay, (1.0 + emaUpdates) / (10.0 + emaUpdates)) : config.EmaDecay);
                emaUpdates++;
            }
            diffLosses.Add(loss);
            diffStep++;
            SetLr(diffOpt, LrAt(config.DiffLrSchedule, config.DiffLr, config.DiffSteps, diffStep));
            AfterStep(DiffusionPhase, diffStep, config.DiffSteps, loss, CurrentLr(diffOpt), clock, ValidateGenerated);
        }
        den.eval();
    }

    Tensor EncodeAll()
    {
        using var _ = no_grad();
        return Model.InferenceEncode(data).DetachFromDisposeScope();
    }

    // ---- optimisation helpers ----
    static AdamW NewAdamW(IEnumerable<Parameter> parameters, double lr, double weightDecay) =>
        optim.AdamW(parameters, lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: weightDecay);

    /// <summary>
    /// The learning rate after <paramref name="step"/> steps, in closed form (CosineAnnealingLR with η_min = 0
    /// and T_max = the phase's steps), so a resumed run continues exactly where the killed one stood.
    /// </summary>
    internal static double LrAt(LrScheduleKind kind, double baseLr, int total, long step)
    {
        if (kind == LrScheduleKind.Constant || total <= 0) return baseLr;
        var t = Math.Min(step, total);
        return baseLr * (1 + Math.Cos(Math.PI * t / total)) / 2;
    }

    static void SetLr(optim.Optimizer opt, double lr)
    {
        foreach (var g in opt.ParamGroups) g.LearningRate = lr;
    }

    static double CurrentLr(optim.Optimizer opt) => opt.ParamGroups.First().LearningRate;

    static long ParameterCount(nn.Module m) => m.parameters().Sum(p => p.numel());

    void AfterStep(string phase, int step, int total, float loss, double lr, Progress clock, Action<int> validate)
    {
        options.OnStep?.Invoke(phase, step);
        if (!float.IsFinite(loss)) throw new InvalidOperationException($"p-diff {phase} training diverged at step {step}: loss {loss}. Lower the learning rate ({lr:G3}).");
        if (config.LogEvery > 0 && (step % config.LogEvery == 0 || step == total))
            Log($"[p-diff {phase}] step {step}/{total}  loss {loss.ToString("E3", CultureInfo.InvariantCulture)}  lr {lr.ToString("G3", CultureInfo.InvariantCulture)}  {clock.Report(step)}");
        if (options.Scorer is not null && config.ValidateEvery > 0 && config.ValidateModels > 0 && (step % config.ValidateEvery == 0 || step == total))
            validate(step);
        if (options.CheckpointDir is { } dir && config.CheckpointEvery > 0 && step % config.CheckpointEvery == 0 && step < total)
            SaveCheckpoint(dir);
    }

    /// <summary>AE phase: reconstructions of the first few training vectors, scored on validation.</summary>
    void ValidateAutoencoder(int step)
    {
        using var scope = NewDisposeScope();
        var m = Model;
        var wasTraining = m.Autoencoder.training;
        Tensor vectors;
        using (no_grad())
        {
            var x = data.narrow(0, 0, Math.Min(config.ValidateModels, data.size(0)));
            vectors = m.DecodeLatents(m.InferenceEncode(x));
        }
        m.Autoencoder.train(wasTraining);
        Record(AePhase, step, vectors);
    }

    /// <summary>Diffusion phase: a few generated models (own generator per step, so monitoring never shifts training's random stream).</summary>
    void ValidateGenerated(int step)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator((ulong)config.SampleSeed ^ (0x9E3779B97F4A7C15UL * (ulong)step));
        using var r = Model.Generate(config.ValidateModels, g);
        Record(DiffusionPhase, step, r.Vectors);
    }

    void Record(string phase, int step, Tensor vectors)
    {
        var acc = options.Scorer!.Score(vectors, EvalSplit.Validation).Select(s => s.Accuracy).OrderBy(a => a).ToArray();
        var rec = new ValidationRecord(phase, step, acc.Length, Statistics.Mean(acc), Statistics.Median(acc), acc[^1], acc[0]);
        validations.Add(rec);
        Log($"[p-diff {phase}] validation at step {step}: {acc.Length} {(phase == AePhase ? "reconstructed" : "generated")} models, accuracy mean {rec.MeanAccuracy:P2}, median {rec.MedianAccuracy:P2}, max {rec.MaxAccuracy:P2}, min {rec.MinAccuracy:P2}");
    }

    /// <summary>Steps per second and time left, from the steps done in this process.</summary>
    sealed class Progress(string phase, int total, int start)
    {
        readonly Stopwatch watch = Stopwatch.StartNew();
        public string Report(int step)
        {
            var done = step - start;
            var rate = done / Math.Max(1e-9, watch.Elapsed.TotalSeconds);
            var left = TimeSpan.FromSeconds(rate > 0 ? (total - step) / rate : 0);
            return $"{rate.ToString("F2", CultureInfo.InvariantCulture)} it/s  ETA {(int)left.TotalMinutes}m{left.Seconds:D2}s ({phase})";
        }
    }

    public void Dispose()
    {
        data.Dispose();
        conditions?.Dispose();
        model?.Dispose();
        aeGen.Dispose();
        diffGen.Dispose();
        aeBatches.Dispose();
        diffBatches.Dispose();
        aeOpt?.Dispose();
        diffOpt?.Dispose();
    }
}
