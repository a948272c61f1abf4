using System.Text.Json.Serialization;
using PDiff.Zoo;

namespace PDiff.Diffusion;

public enum AutoencoderKind
{
    /// <summary>V1 <c>ODEncoder2Decoder</c> "small" (fold 3, kernel 3).</summary>
    V1Small,
    /// <summary>V1 <c>ODEncoder2Decoder</c> "medium" (fold 5, kernel 5; 1,000,497 parameters for N = 2048).</summary>
    V1Medium,
    /// <summary>V2 <c>OneDimVAE</c> used as a noise-augmented AE (2,199,201 parameters for N = 2048).</summary>
    V2OneDim,
    /// <summary>
    /// Ours, for long vectors (whole networks): chunks of <c>AeChannels[0]</c> numbers embedded in <c>AeChannels[1]</c>
    /// by one shared linear layer, then one linear layer to the latent (<see cref="ChunkAutoencoder"/>); V2's additive noise.
    /// </summary>
    Chunked,
}

public enum DenoiserKind
{
    /// <summary>V1 <c>AE_CNN_bottleneck</c>, a 1-D conv UNet with a learned time table.</summary>
    V1UNet,
    /// <summary>V2 <c>OneDimCNN</c> with a sinusoidal + MLP time embedding.</summary>
    V2OneDimCnn,
}

public enum LrScheduleKind { Constant, Cosine }

/// <summary>The precision of the autoencoder's and denoiser's convolutions in training and sampling.</summary>
public enum AutocastKind
{
    /// <summary>Float32 throughout (our default, pdiff-reference §8-34).</summary>
    None,
    /// <summary>
    /// The V2 denoiser's convolutions, norms and activations in bfloat16 (float32 weights, optimiser, loss and sampler
    /// arithmetic), in training and in the sampling chain, as the reference V2 runs under bf16 autocast
    /// (<see cref="PDiff.TorchFixes.SafeConv.BFloat16Scope"/>). The autoencoder, encoding, decoding and scoring stay float32:
    /// the autoencoder's strided and transposed convolutions ran several times slower in bfloat16 here.
    /// </summary>
    BFloat16,
}

/// <summary>
/// Every hyper-parameter of a p-diff run, in one record: the single source of truth that becomes JSON
/// (<see cref="ConfigText.ToJson"/>) and command-line flags (<see cref="ConfigText.ToArgs"/>: each
/// property <c>AeSteps</c> is the flag <c>--ae-steps</c>). Presets: <see cref="V1"/> and <see cref="V2"/>
/// reproduce the reference versions, bugs included where they change numbers; <see cref="Default"/> is
/// our corrected variant. Noise amounts of 0 turn that augmentation off; EmaDecay 0 turns EMA off.
/// </summary>
public sealed record PDiffConfig
{
    // ---- data ----
    /// <summary>V1 none; V2 per-tensor z-score with log-space running_var (reference §1.4).</summary>
    public NormalizationKind Normalization { get; init; } = NormalizationKind.PerTensor;

    // ---- autoencoder ----
    public AutoencoderKind Autoencoder { get; init; } = AutoencoderKind.V2OneDim;
    /// <summary>Encoder channels of the V2 autoencoder (the decoder mirrors them); for <see cref="AutoencoderKind.Chunked"/>, [chunk length, chunk width].</summary>
    public long[] AeChannels { get; init; } = { 64, 128, 256, 256, 32 };
    /// <summary>Latent size of the V2 autoencoder (V1's follows from its folds: 12 for N = 2048, medium).</summary>
    public int LatentDim { get; init; } = 128;
    /// <summary>V1's autoencoders (interpolation noise, V1 budgets); V2's and the chunked one add their noise.</summary>
    [System.Text.Json.Serialization.JsonIgnore] public bool IsV1Autoencoder => Autoencoder is AutoencoderKind.V1Small or AutoencoderKind.V1Medium;
    /// <summary>Input-noise amount: V1 interpolation factor f in (1−f)x + fε, V2 additive σ.</summary>
    public double InputNoise { get; init; } = 0.001;
    /// <summary>Latent-noise amount (V1 interpolation with clamping, V2 additive).</summary>
    public double LatentNoise { get; init; } = 0.1;
    /// <summary>Reconstruct the noised input (V2, whose noise is added in place) instead of the clean one (V1).</summary>
    public bool NoisyTarget { get; init; }
    public int AeSteps { get; init; } = 500;
    public int AeBatch { get; init; } = 50;
    /// <summary>
    /// AE learning rate. Default 2e-4, ten times V2's 2e-5: on a synthetic 300 × 2048 zoo, 100 steps at 2e-5 left
    /// the reconstruction error (normalised space) about twenty times the zoo's own spread, while 2e-4 brought it
    /// down to that spread; V2's rate only suits its full 500 steps, not the quick profile's 150.
    /// </summary>
    public double AeLr { get; init; } = 2e-4;
    public double AeWeightDecay { get; init; }
    public LrScheduleKind AeLrSchedule { get; init; } = LrScheduleKind.Cosine;
    /// <summary>Switch for reference §8-19: BN at encode/decode after training. Eval (corrected) or PerSample (V2: train-mode BN on batches of one at decode, train-mode batch statistics at encode).</summary>
    public AeInferenceNorm AeInferenceNorm { get; init; } = AeInferenceNorm.Eval;

    // ---- denoiser and diffusion ----
    public DenoiserKind Denoiser { get; init; } = DenoiserKind.V2OneDimCnn;
    /// <summary>Switch for reference §8-5 (V1 UNet only): PerSample (corrected) or BatchShared (V1: t[0]'s embedding for the whole batch).</summary>
    public TimeEmbeddingMode TimeEmbedding { get; init; } = TimeEmbeddingMode.PerSample;
    public int Timesteps { get; init; } = 1000;
    public double BetaStart { get; init; } = 1e-4;
    public double BetaEnd { get; init; } = 2e-2;
    public int DiffSteps { get; init; } = 1000;
    public int DiffBatch { get; init; } = 50;
    public double DiffLr { get; init; } = 1e-4;
    public double DiffWeightDecay { get; init; }
    public LrScheduleKind DiffLrSchedule { get; init; } = LrScheduleKind.Cosine;
    /// <summary>EMA decay of the denoiser's weights (0 = no EMA; generation then uses the denoiser itself).</summary>
    public double EmaDecay { get; init; } = 0.999;
    /// <summary>Use min(decay, (1+n)/(10+n)) after n updates, so a short run does not keep its random initial weights (V1 does not: §8-6).</summary>
    public bool EmaWarmup { get; init; } = true;

    // ---- sampling ----
    public SamplerKind Sampler { get; init; } = SamplerKind.Ddpm;
    public DdpmVariance DdpmVariance { get; init; } = DdpmVariance.FixedSmall;
    /// <summary>Clamp x̂₀ (and DDPM's x_{t−1}) to ±this (V1: 1, its latents are tanh-bounded); 0 = no clamp.</summary>
    public double SampleClip { get; init; }
    /// <summary>DDIM steps.</summary>
    public int DdimSteps { get; init; } = 50;
    public double DdimEta { get; init; }

    /// <summary>
    /// Diffuse standardised latents (<see cref="LatentStandardizer"/>: centred per dimension, one scale) instead of the
    /// autoencoder's raw, unbounded ones (V2, pdiff-reference §8-35). Off by default; left out of the JSON when off.
    /// </summary>
    public bool StandardizeLatents { get; init; }

    /// <summary>
    /// BFloat16: the denoiser runs in bfloat16 in training and sampling (V2's autocast; several times faster on CPUs with
    /// AVX-512-BF16, see <see cref="AutocastKind"/>). Left out of the JSON when None, so float32 configurations keep their cache keys.
    /// </summary>
    public AutocastKind Autocast { get; init; } = AutocastKind.None;

    // ---- conditioning (off by default; ConfigText writes these only when Condition is set, so an
    //      unconditional configuration keeps the JSON, equality and cache keys it always had) ----
    /// <summary>What the denoiser is told about each training vector: None (p-diff) or ValAccuracy (the checkpoint's validation accuracy, z-scored over the zoo), as G.pt conditions on a target loss.</summary>
    public ConditionKind Condition { get; init; } = ConditionKind.None;
    /// <summary>Probability that a training row's condition is replaced by the learned null embedding (classifier-free guidance; Ho &amp; Salimans use 0.1–0.2).</summary>
    public double ConditionDropout { get; init; } = 0.1;
    /// <summary>Guidance strength w when a target is given without one: ε̂ = ε(∅) + w·(ε(c) − ε(∅)); 0 ignores the target, 1 is the conditional model.</summary>
    public double GuidanceScale { get; init; } = 1.0;

    /// <summary>The settings that only mean something for a conditional model (left out of the JSON when <see cref="Condition"/> is None).</summary>
    public static readonly IReadOnlyList<string> ConditioningSettings = new[] { nameof(Condition), nameof(ConditionDropout), nameof(GuidanceScale) };

    /// <summary>This configuration conditioned on <paramref name="kind"/> (ValAccuracy by default), other settings kept.</summary>
    public PDiffConfig Conditioned(ConditionKind kind = ConditionKind.ValAccuracy, double? dropout = null, double? guidance = null) =>
        this with { Condition = kind, ConditionDropout = dropout ?? ConditionDropout, GuidanceScale = guidance ?? GuidanceScale };

    // ---- seeds (every stage has its own, all logged) ----
    public long InitSeed { get; init; } = 1;
    public long AeSeed { get; init; } = 2;
    public long DiffusionSeed { get; init; } = 3;
    public long SampleSeed { get; init; } = 4;

    // ---- monitoring and checkpoints (in steps; 0 = never) ----
    public int LogEvery { get; init; } = 50;
    public int ValidateEvery { get; init; } = 250;
    /// <summary>Models generated (or reconstructed, in the AE phase) and scored on the validation split at each validation.</summary>
    public int ValidateModels { get; init; } = 8;
    public int CheckpointEvery { get; init; } = 250;

    /// <summary>
    /// Names of the properties the user set explicitly (<see cref="ConfigText"/>.FromArgs
    /// records the flags given): profiles only fill in the others (<see cref="ForProfile"/>, <see cref="KeepExplicit"/>).
    /// Not part of the configuration's JSON or equality.
    /// </summary>
    [JsonIgnore] public IReadOnlySet<string> Explicit => explicitSettings;

    IReadOnlySet<string> explicitSettings = NothingExplicit;
    static readonly IReadOnlySet<string> NothingExplicit = new HashSet<string>();

    /// <summary>This configuration with <paramref name="properties"/> (property names, e.g. "AeSteps") marked as set by the user.</summary>
    public PDiffConfig WithExplicit(IEnumerable<string> properties)
    {
        var names = properties.ToHashSet(StringComparer.Ordinal);
        foreach (var n in names)
            if (typeof(PDiffConfig).GetProperty(n) is not { SetMethod: not null })
                throw new ArgumentException($"PDiffConfig has no setting '{n}'.", nameof(properties));
        var c = this with { };
        c.explicitSettings = names;
        return c;
    }

    /// <summary>
    /// <paramref name="changed"/> (this configuration with a profile's defaults applied) with every property in
    /// <see cref="Explicit"/> put back to this configuration's value: flags always win over profiles.
    /// </summary>
    public PDiffConfig KeepExplicit(PDiffConfig changed)
    {
        var kept = changed.WithExplicit(Explicit);
        foreach (var name in Explicit)
        {
            var p = typeof(PDiffConfig).GetProperty(name)!;
            p.SetValue(kept, p.GetValue(this));
        }
        return kept;
    }

    /// <summary>The sampler this configuration describes.</summary>
    [JsonIgnore] public SamplerOptions SamplerOptions => new(Sampler, DdpmVariance, SampleClip > 0 ? SampleClip : null, DdimSteps, DdimEta);

    /// <summary>
    /// V1 (main branch, reference §2.1, §3.1): raw vectors, ODEncoder2Decoder medium with interpolation noise
    /// 0.001 / 0.5 (the shipped ae_ddpm.yaml), AE_CNN_bottleneck with the batch-shared time embedding,
    /// AdamW 1e-3 / wd 2e-6, 30,000 + 30,000 steps at batch 200, EMA 0.9999 from the random initial
    /// weights, DDPM "fixedlarge" with clamping to [−1, 1]; seed 42.
    /// </summary>
    public static PDiffConfig V1 => new()
    {
        Normalization = NormalizationKind.None,
        Autoencoder = AutoencoderKind.V1Medium,
        InputNoise = 0.001, LatentNoise = 0.5, NoisyTarget = false,
        AeSteps = 30_000, AeBatch = 200, AeLr = 1e-3, AeWeightDecay = 2e-6, AeLrSchedule = LrScheduleKind.Constant,
        Denoiser = DenoiserKind.V1UNet, TimeEmbedding = TimeEmbeddingMode.BatchShared,
        DiffSteps = 30_000, DiffBatch = 200, DiffLr = 1e-3, DiffWeightDecay = 2e-6, DiffLrSchedule = LrScheduleKind.Constant,
        EmaDecay = 0.9999, EmaWarmup = false,
        Sampler = SamplerKind.Ddpm, DdpmVariance = DdpmVariance.FixedLarge, SampleClip = 1.0,
        InitSeed = 42, AeSeed = 42, DiffusionSeed = 42, SampleSeed = 42,
        ValidateEvery = 3000, ValidateModels = 10, CheckpointEvery = 3000,
    };

    /// <summary>
    /// V2-final (reference §1.4, §2.3, §3.2; workspace/main/cifar100_resnet18.py): per-tensor normalisation,
    /// OneDimVAE with additive noise 0.001 / 0.1 reconstructing the noised input, AdamW 2e-5 cosine for 500
    /// steps; OneDimCNN, AdamW 1e-4 cosine for 1000 steps, batch 50, no EMA; DDPM "fixedsmall" unclipped;
    /// the AE's BN never in eval (per-sample statistics at decode); seed 430.
    /// </summary>
    public static PDiffConfig V2 => new()
    {
        Normalization = NormalizationKind.PerTensor,
        Autoencoder = AutoencoderKind.V2OneDim,
        InputNoise = 0.001, LatentNoise = 0.1, NoisyTarget = true,
        AeSteps = 500, AeBatch = 50, AeLr = 2e-5, AeWeightDecay = 0, AeLrSchedule = LrScheduleKind.Cosine,
        AeInferenceNorm = AeInferenceNorm.PerSample,
        Denoiser = DenoiserKind.V2OneDimCnn,
        DiffSteps = 1000, DiffBatch = 50, DiffLr = 1e-4, DiffWeightDecay = 0, DiffLrSchedule = LrScheduleKind.Cosine,
        EmaDecay = 0, EmaWarmup = false,
        Sampler = SamplerKind.Ddpm, DdpmVariance = DdpmVariance.FixedSmall, SampleClip = 0,
        InitSeed = 430, AeSeed = 430, DiffusionSeed = 430, SampleSeed = 430,
        ValidateEvery = 500, ValidateModels = 1, CheckpointEvery = 500,
    };

    /// <summary>
    /// Ours: V2's pipeline with the corrections — AE BN in eval mode after training, the clean input as
    /// the reconstruction target, an EMA of the denoiser (0.999 with warm-up) saved with the checkpoints,
    /// distinct seeds per stage — and an AE learning rate of 2e-4 instead of 2e-5 (see <see cref="AeLr"/>).
    /// (V1's time-embedding fix is the default too, should V1's UNet be chosen.)
    /// </summary>
    public static PDiffConfig Default => new();

    public static PDiffConfig Preset(string name) => name.Trim().ToLowerInvariant() switch
    {
        "v1" => V1,
        "v2" => V2,
        "default" => Default,
        _ => throw new ArgumentException($"Unknown p-diff preset '{name}': use v1, v2 or default."),
    };

    /// <summary>
    /// Step budgets per profile (a step's cost is measured in bench/README.md, "p-diff: training steps and
    /// generation"). Smoke: 20 + 20 steps. Quick: a few minutes for AE + diffusion (V2 150 + 300, V1 100 + 400).
    /// Paper: the reference budgets (V2 500 + 1000), except V1's 30,000 + 30,000 steps at batch 200, beyond what
    /// a few CPU cores afford, reduced to 2,000 + 4,000. Full-v2: V2's 500 + 1,000 steps at batch 50 and 1,000 timesteps, for every preset. Settings in <see cref="Explicit"/> (flags the user gave) are kept as set.
    /// </summary>
    public PDiffConfig ForProfile(Profile profile)
    {
        var v1 = IsV1Autoencoder;
        return KeepExplicit(profile switch
        {
            Profile.Smoke => this with
            {
                AeSteps = Math.Min(AeSteps, 20), DiffSteps = Math.Min(DiffSteps, 20),
                LogEvery = 5, ValidateEvery = 20, CheckpointEvery = 0, ValidateModels = Math.Min(ValidateModels, 2),
            },
            Profile.Quick => this with
            {
                AeSteps = Math.Min(AeSteps, v1 ? 100 : 150), DiffSteps = Math.Min(DiffSteps, v1 ? 400 : 300),
                LogEvery = 25, ValidateEvery = 100, CheckpointEvery = 100,
            },
            Profile.Paper => v1
                ? this with { AeSteps = Math.Min(AeSteps, 2000), DiffSteps = Math.Min(DiffSteps, 4000), ValidateEvery = 1000, CheckpointEvery = 500 }
                : this,
            // Exactly the reference V2 budgets whatever the preset (V1's own would take a day); validation only at
            // the end of each phase, on 4 models, so the timed stages are the training itself.
            Profile.FullV2 => this with
            {
                AeSteps = 500, AeBatch = 50, DiffSteps = 1000, DiffBatch = 50, Timesteps = 1000,
                LogEvery = 50, ValidateEvery = 1000, ValidateModels = Math.Min(ValidateModels, 4), CheckpointEvery = 500,
            },
            _ => throw new ArgumentOutOfRangeException(nameof(profile), profile, null),
        });
    }

    /// <summary>Throws naming the first impossible setting.</summary>
    public void Validate()
    {
        void Need(bool ok, string what) { if (!ok) throw new ArgumentException($"Invalid p-diff configuration: {what}."); }
        Need(AeSteps >= 0 && DiffSteps >= 0, $"steps must be ≥ 0 (ae-steps {AeSteps}, diff-steps {DiffSteps})");
        Need(AeBatch >= 1 && DiffBatch >= 1, $"batch sizes must be ≥ 1 (ae-batch {AeBatch}, diff-batch {DiffBatch})");
        Need(new[] { InputNoise, LatentNoise, AeLr, AeWeightDecay, BetaStart, BetaEnd, DiffLr, DiffWeightDecay, EmaDecay, SampleClip, DdimEta, ConditionDropout, GuidanceScale }.All(d => double.IsFinite(d)),
            "every number must be finite (no NaN or infinity)");
        Need(AeLr > 0 && DiffLr > 0, $"learning rates must be > 0 (ae-lr {AeLr}, diff-lr {DiffLr})");
        Need(AeWeightDecay >= 0 && DiffWeightDecay >= 0, $"weight decays must be ≥ 0 (ae-weight-decay {AeWeightDecay}, diff-weight-decay {DiffWeightDecay})");
        Need(BetaStart > 0 && BetaStart <= BetaEnd && BetaEnd < 1, $"betas must satisfy 0 < beta-start ≤ beta-end < 1 (got {BetaStart}, {BetaEnd})");
        Need(InputNoise >= 0 && LatentNoise >= 0, $"noise amounts must be ≥ 0 (input-noise {InputNoise}, latent-noise {LatentNoise})");
        Need(!IsV1Autoencoder || (InputNoise <= 1 && LatentNoise <= 1), "V1's interpolation noise factors must be ≤ 1");
        Need(Autoencoder != AutoencoderKind.Chunked || AeChannels.Length == 2, $"the chunked autoencoder takes ae-channels as [chunk length, chunk width] (got {AeChannels.Length} numbers)");
        Need(Timesteps >= 1, $"timesteps must be ≥ 1 (got {Timesteps})");
        Need(DdimSteps >= 1 && DdimSteps <= Timesteps, $"ddim-steps must be in 1 … timesteps = {Timesteps} (got {DdimSteps})");
        Need(EmaDecay >= 0 && EmaDecay < 1, $"ema-decay must be in [0, 1) (got {EmaDecay})");
        Need(SampleClip >= 0 && DdimEta >= 0, $"sample-clip and ddim-eta must be ≥ 0");
        Need(LatentDim >= 1 && AeChannels.Length >= 1 && AeChannels.All(c => c >= 1), "latent-dim and ae-channels must be positive");
        Need(Enum.IsDefined(Autocast), $"autocast must be one of {string.Join(", ", Enum.GetNames<AutocastKind>())} (got {(int)Autocast})");
        Need(Autocast == AutocastKind.None || Denoiser == DenoiserKind.V2OneDimCnn,
            $"autocast {Autocast} needs the V2 denoiser (denoiser V2OneDimCnn); the V1 UNet runs in float32 only");
        Need(Enum.IsDefined(Condition), $"condition must be one of {string.Join(", ", Enum.GetNames<ConditionKind>())} (got {(int)Condition})");
        Need(Condition == ConditionKind.None || Denoiser == DenoiserKind.V2OneDimCnn,
            $"condition {Condition} needs the V2 denoiser (denoiser V2OneDimCnn): the V1 UNet has no condition input");
        Need(ConditionDropout >= 0 && ConditionDropout < 1, $"condition-dropout must be in [0, 1) (got {ConditionDropout})");
        Need(Condition == ConditionKind.None || ConditionDropout > 0,
            "condition-dropout must be > 0 for a conditional model: without dropped conditions the null embedding that guidance and unconditional sampling use is never trained (0.1 is usual)");
        Need(GuidanceScale >= 0, $"guidance-scale must be ≥ 0 (got {GuidanceScale})");
        Need(LogEvery >= 0 && ValidateEvery >= 0 && CheckpointEvery >= 0 && ValidateModels >= 0, "intervals and counts must be ≥ 0");
    }

    // Records compare arrays by reference; configurations compare by value.
    public bool Equals(PDiffConfig? other) => other is not null && ConfigText.ToJson(this) == ConfigText.ToJson(other);
    public override int GetHashCode() => ConfigText.ToJson(this).GetHashCode();
}
