namespace PDiff.Zoo;

public enum RecipeKind { V1, V2 }

/// <summary>
/// How the K subset checkpoints are collected from a trained base model (reference §1):
/// <list type="bullet">
/// <item><b>V2</b> (default; V2-final): every parameter but the subset frozen, AdamW with a constant lr
/// (0.03 for ResNet-18, 0.05 otherwise; wd 5e-4), batch 128, one checkpoint per iteration, the first
/// iteration skipped (V2-final saves from batch 1 on), so K consecutive iterations.</item>
/// <item><b>V1</b>: SGD continued on the subset only (lr 1e-4 = the base schedule's final lr, momentum
/// 0.9, wd 5e-4), a checkpoint every <see cref="SaveEvery"/> iterations (the reference: every epoch).
/// The optimizer is new (the reference kept the base run's momentum buffers).</item>
/// </list>
/// Our defaults fix reference §8-9: the frozen BatchNorm layers stay in eval mode, so the live network
/// during collection is exactly the fixed base model plus the subset, and each checkpoint's accuracy is
/// what later evaluation measures. The subset's own norm layers train in train mode (batch statistics,
/// as in the reference). Two switches reproduce the reference instead: <see cref="FrozenNormsTrain"/>
/// (V1: the whole network in train mode, every BN's running statistics drifting unsaved) and
/// <see cref="EvalAfterFirstSave"/> (V2's <c>test()</c> leaving the network in eval mode after the first
/// save, so later iterations normalise with running statistics).
/// </summary>
public sealed record CollectionRecipe
{
    public RecipeKind Kind { get; init; } = RecipeKind.V2;
    /// <summary>Number of checkpoints.</summary>
    public int K { get; init; } = 200;
    public double Lr { get; init; } = 0.03;
    public double WeightDecay { get; init; } = 5e-4;
    /// <summary>SGD momentum (V1 only).</summary>
    public double Momentum { get; init; } = 0.9;
    public int BatchSize { get; init; } = 128;
    /// <summary>Iterations between checkpoints (V2: 1).</summary>
    public int SaveEvery { get; init; } = 1;
    /// <summary>Iterations run before the first counted one (V2-final: 1, it saves from batch 1).</summary>
    public int SkipFirst { get; init; } = 1;
    /// <summary>Seed of the collection's shuffle (V2 uses 40).</summary>
    public ulong Seed { get; init; } = 40;
    /// <summary>Crop/flip augmentation during collection (the reference augments; off by default so the frozen head can be cached exactly).</summary>
    public bool Augment { get; init; }
    /// <summary>Reference V1 behaviour: the whole network in train mode during collection.</summary>
    public bool FrozenNormsTrain { get; init; }
    /// <summary>Reference V2 quirk (§8-20): the network goes to eval mode after the first save.</summary>
    public bool EvalAfterFirstSave { get; init; }
    /// <summary>Precompute the frozen layers' output for the training rows when rows are revisited (exact; see <see cref="Collector"/>).</summary>
    public bool CacheFeatures { get; init; } = true;

    public int TotalIterations => SkipFirst + K * SaveEvery;

    public static CollectionRecipe V2(int k, string arch) => new()
    {
        Kind = RecipeKind.V2, K = k, Lr = arch == "resnet18" ? 0.03 : 0.05, WeightDecay = 5e-4, BatchSize = 128, SaveEvery = 1, SkipFirst = 1, Seed = 40,
    };

    public static CollectionRecipe V1(int k, int saveEvery) => new()
    {
        Kind = RecipeKind.V1, K = k, Lr = 1e-4, Momentum = 0.9, WeightDecay = 5e-4, BatchSize = 64, SaveEvery = saveEvery, SkipFirst = 0, Seed = 42,
    };

    /// <summary>
    /// Throws naming the first impossible setting; <paramref name="name"/> spells a property as the caller knows it
    /// (default "CollectionRecipe.K"). The iterations, SkipFirst + K · SaveEvery, must fit the collector's int counter.
    /// </summary>
    public CollectionRecipe Validated(Func<string, string>? name = null)
    {
        name ??= p => $"CollectionRecipe.{p}";
        var iterations = SkipFirst + (double)K * SaveEvery;
        if (K >= 1 && SaveEvery >= 1 && iterations > int.MaxValue)
            throw new PDiff.Storage.BudgetExceededException(nameof(SaveEvery), SaveEvery, Math.Max(1, (int.MaxValue - SkipFirst) / K),
                $"{name(nameof(SaveEvery))} {SaveEvery}: {K} checkpoints {SaveEvery} iterations apart make {PDiff.Storage.MachineBudget.FormatCount(iterations)} iterations, more than the " +
                $"collector counts ({PDiff.Storage.MachineBudget.FormatCount(int.MaxValue)}); use at most {name(nameof(SaveEvery))} {Math.Max(1, (int.MaxValue - SkipFirst) / K)} or a smaller {name(nameof(K))}.");
        if (K < 1) throw new ArgumentException($"CollectionRecipe.K must be at least 1; got {K}.");
        if (SaveEvery < 1) throw new ArgumentException($"CollectionRecipe.SaveEvery must be at least 1; got {SaveEvery}.");
        if (SkipFirst < 0) throw new ArgumentException($"CollectionRecipe.SkipFirst must be ≥ 0; got {SkipFirst}.");
        if (BatchSize < 1) throw new ArgumentException($"CollectionRecipe.BatchSize must be at least 1; got {BatchSize}.");
        if (!(Lr > 0)) throw new ArgumentException($"CollectionRecipe.Lr must be positive; got {Lr}.");
        return this;
    }
}
