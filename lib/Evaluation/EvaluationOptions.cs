using PDiff.Zoo;
using static TorchSharp.torch;

namespace PDiff.Evaluation;

/// <summary>
/// Which baselines to build and how many models each (a count of 0, or an empty σ list, skips one). Each
/// group's generator is seeded with <see cref="SeedFor"/>(kind, level), derived from <see cref="Seed"/>
/// and recorded in the report and run.json.
/// </summary>
public sealed record BaselineOptions
{
    /// <summary>Master seed of the baselines (40: p-diff V2's collection seed, which its noise baseline inherits).</summary>
    public ulong Seed { get; init; } = 40;
    /// <summary>p-diff V2's relative noise levels (reference §4.5).</summary>
    public IReadOnlyList<double> RelativeNoiseSigmas { get; init; } = new[] { 0.001, 0.05, 0.15 };
    /// <summary>Models per σ; null = K, each original once (V2: 900 over 3 levels with K = 300).</summary>
    public int? RelativeNoiseCount { get; init; }
    /// <summary>Zeng et al.'s absolute noise levels (memorization-protocol §3.2).</summary>
    public IReadOnlyList<double> AbsoluteNoiseSigmas { get; init; } = new[] { 0.06, 0.12 };
    /// <summary>Models per σ; null = K, every original once (as Zeng et al.).</summary>
    public int? AbsoluteNoiseCount { get; init; }
    public RunningVarPolicy AbsoluteNoiseRunningVar { get; init; } = RunningVarPolicy.LeaveUnchanged;
    public int AverageCount { get; init; } = 100;
    public int AverageOf { get; init; } = 16;
    public int GaussianCount { get; init; } = 100;
    /// <summary>Fine-tuned originals; built only when the evaluator is given the zoo's fine-tune recipe.</summary>
    public int FineTunedCount { get; init; } = 20;
    public int FineTuneSteps { get; init; } = 50;

    /// <summary>No baselines at all.</summary>
    public static BaselineOptions None => new()
    {
        RelativeNoiseSigmas = Array.Empty<double>(), AbsoluteNoiseSigmas = Array.Empty<double>(),
        AverageCount = 0, GaussianCount = 0, FineTunedCount = 0,
    };

    /// <summary>The seed of one group: kinds 1–5 (relative, absolute, fine-tuned, average, gaussian), level = σ's position.</summary>
    public ulong SeedFor(int kind, int level = 0) => Seed + 1000UL * (ulong)kind + (ulong)level;
}

/// <summary>Everything the evaluator does besides the inputs; records, JSON-serialisable, defaults from the sources.</summary>
public sealed record EvaluationOptions
{
    public BaselineOptions Baselines { get; init; } = new();
    /// <summary>Vectors per call to the scorer.</summary>
    public int ScoreBatchSize { get; init; } = 256;
    /// <summary>The split whose wrong-prediction sets give the IoU (the sources use the test set).</summary>
    public EvalSplit SimilaritySplit { get; init; } = EvalSplit.Test;
    public int HistogramBins { get; init; } = 15;
    /// <summary>Nearest originals listed for each generated vector (heatmaps).</summary>
    public int NearestOriginals { get; init; } = 3;
    public bool Pca { get; init; } = true;
    public bool Tsne { get; init; } = true;
    public TsneOptions TsneOptions { get; init; } = new();
    /// <summary>At most this many points of each group go into the embeddings (seeded subsample).</summary>
    public int EmbeddingMaxPerGroup { get; init; } = 300;
    public ulong EmbeddingSeed { get; init; } = 7;
    /// <summary>iou_matrix.csv grows as (models)²; switch it off for very large runs.</summary>
    public bool WriteIouMatrix { get; init; } = true;
}

/// <summary>
/// Latent representations for the embeddings (reference §4.7): explicit latents where the caller has them
/// (the sampler's latents of the generated models, before decoding), otherwise <see cref="Encoder"/>
/// (vectors [B, N] → latents [B, d], e.g. the autoencoder's mean). Groups with neither are left out;
/// with no latents at all the embeddings are of the parameter vectors themselves.
/// </summary>
public sealed record LatentInputs
{
    public Func<Tensor, Tensor>? Encoder { get; init; }
    public Tensor? Originals { get; init; }
    public Tensor? Generated { get; init; }
}
