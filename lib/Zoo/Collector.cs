using System.Diagnostics;
using System.Globalization;
using PDiff.Data;
using PDiff.Models;
using PDiff.Torch;
using F = PDiff.Torch.torch.nn.functional;

namespace PDiff.Zoo;

/// <summary>The K collected subset vectors and how they were made.</summary>
public sealed class CollectionResult : IDisposable
{
    public required Tensor Vectors { get; init; }            // [K, N] float32
    public required long[] Iterations { get; init; }         // optimizer steps taken when each was saved
    public required double[] TrainLoss { get; init; }        // loss of the batch of that step
    public double Seconds { get; init; }
    public required string CutStage { get; init; }
    public bool PrecomputedFeatures { get; init; }
    public void Dispose() => Vectors.Dispose();
}

/// <summary>
/// Collects K checkpoints of a parameter subset by continuing training from a base model
/// (<see cref="CollectionRecipe"/>). The base model is not modified: training runs on a copy.
/// <para>
/// Why only the tail runs with autograd: every layer before the first stage that reads the subset is
/// frozen, so its output needs no gradient and is computed under no_grad — the same values, less work.
/// When the frozen layers are also deterministic per image (eval-mode BN, no augmentation: the defaults)
/// and the run revisits training rows (more iterations × batch than rows), their output is computed once
/// for all rows and gathered per batch instead. This is exact: the loader still draws the same batches,
/// and the cached rows are the values the frozen layers would give (checked by a test that compares the
/// vectors with and without the cache). The V1 switch (whole network in train mode) and augmentation
/// turn the cache off, since batch statistics and random crops make the frozen output batch-dependent.
/// </para>
/// </summary>
public static class Collector
{
    /// <summary>Largest precomputed-feature cache, in bytes.</summary>
    public static long CacheBudgetBytes { get; set; } = 1L << 30;

    public static CollectionResult Collect(ImageClassifier baseModel, SubsetLayout layout, ImageDataset train, CollectionRecipe recipe, TextWriter? log = null)
    {
        recipe.Validated();
        var clock = Stopwatch.StartNew();
        var parameterNames = baseModel.named_parameters().Select(p => p.Name).ToHashSet();
        var notParams = layout.Tensors.Where(t => !parameterNames.Contains(t.Name)).Select(t => t.Name).ToList();
        if (notParams.Count > 0)
            throw new ArgumentException($"Collection trains parameters only; the subset also holds buffers [{string.Join(", ", notParams)}]. Choose a parameter subset (e.g. last-two-norms).");

        using var work = ModelRegistry.Create(baseModel.Spec, 0);
        work.load_state_dict(baseModel.state_dict());
        work.requires_grad_(false);
        var trainable = Subsets.Tensors(work, layout);
        foreach (var t in trainable) t.requires_grad = true;
        var owners = layout.Tensors.Select(t => t.Name.Contains('.') ? t.Name[..t.Name.LastIndexOf('.')] : "").Distinct().ToList();
        SetModes(work, owners, recipe.FrozenNormsTrain);

        var cut = work.FirstStageTouching(layout.Tensors.Select(t => t.Name));
        var stages = work.Stages.Count;
        using var optimizer = recipe.Kind == RecipeKind.V2
            ? (PDiff.Nn.Optimizer)new PDiff.Nn.AdamW(trainable, recipe.Lr, weightDecay: recipe.WeightDecay)
            : new PDiff.Nn.SGD(trainable, recipe.Lr, recipe.Momentum, recipe.WeightDecay);
        using var shuffle = new Generator(recipe.Seed);
        using var augmentGen = new Generator(recipe.Seed + 1);
        var loader = new DataLoader(train, recipe.BatchSize, shuffle: true, generator: shuffle,
            augmentation: recipe.Augment ? Augmentation.For(train, augmentGen) : null);

        var deterministicHead = !recipe.FrozenNormsTrain && !recipe.Augment;
        var revisits = (long)recipe.TotalIterations * recipe.BatchSize > train.Count;
        Activations? features = null;
        if (recipe.CacheFeatures && deterministicHead && revisits && cut > 0 && EstimateBytes(work, train, cut) <= CacheBudgetBytes)
            features = Precompute(work, train, cut);

        var progress = new ProgressLog(log, "collect", recipe.TotalIterations);
        progress.Line($"{recipe.Kind}: subset of {layout.Length:N0} numbers ({layout.Tensors.Count} tensors), K = {recipe.K}, " +
                      $"{recipe.TotalIterations} iterations of batch {recipe.BatchSize}, lr {recipe.Lr}, training from stage '{work.Stages[cut].Name}'" +
                      (features is not null ? $", frozen-layer output precomputed ({features.Bytes / 1e6:F0} MB)" : ""));
        var saved = new List<Tensor>();
        var iterations = new List<long>();
        var losses = new List<double>();
        try
        {
            long step = 0;
            while (step < recipe.TotalIterations)
            {
                var before = step;
                foreach (var batch in loader)
                {
                    using var scope = torch.NewDisposeScope();
                    Activations head;
                    if (features is not null) head = features.Rows(batch.Index);
                    else
                        using (torch.no_grad())
                        using (var input = new Activations(batch.X.alias()))
                            head = work.RunStages(input, 0, cut);
                    Tensor loss;
                    using (head)
                    using (var tail = work.RunStages(head, cut, stages))
                        loss = F.cross_entropy(tail.Main, batch.Y);
                    optimizer.zero_grad();
                    loss.backward();
                    optimizer.step();
                    step++;
                    var lossValue = loss.item<double>();
                    if (step > recipe.SkipFirst && (step - recipe.SkipFirst) % recipe.SaveEvery == 0)
                    {
                        saved.Add(Subsets.Flatten(work, layout).DetachFromDisposeScope());
                        iterations.Add(step);
                        losses.Add(lossValue);
                        if (saved.Count == 1 && recipe.EvalAfterFirstSave) work.eval();
                    }
                    progress.Step(step, string.Create(CultureInfo.InvariantCulture, $"loss {lossValue:F4}, saved {saved.Count}/{recipe.K}"));
                    if (step >= recipe.TotalIterations) break;
                }
                if (step == before) throw new InvalidOperationException("Collection: the training split yielded no batches.");
            }
            var vectors = torch.stack(saved).DetachFromDisposeScope();
            return new CollectionResult
            {
                Vectors = vectors,
                Iterations = iterations.ToArray(),
                TrainLoss = losses.ToArray(),
                Seconds = clock.Elapsed.TotalSeconds,
                CutStage = work.Stages[cut].Name,
                PrecomputedFeatures = features is not null,
            };
        }
        finally
        {
            saved.ForEach(t => t.Dispose());
            features?.Dispose();
        }
    }

    /// <summary>
    /// Default: everything in eval mode except the modules that own subset tensors (their norms use batch
    /// statistics while training, as in the reference). V1-faithful: everything in train mode.
    /// </summary>
    static void SetModes(ImageClassifier work, IReadOnlyList<string> owners, bool allTrain)
    {
        if (allTrain) { work.train(); return; }
        work.eval();
        var modules = work.named_modules().ToDictionary(m => m.Name, m => m.Module);
        foreach (var o in owners)
            if (o.Length > 0 && modules.TryGetValue(o, out var m)) m.train();
    }

    static long EstimateBytes(ImageClassifier work, ImageDataset train, int cut)
    {
        using var scope = torch.NewDisposeScope();
        using (torch.no_grad())
        {
            using var input = new Activations(train.X.narrow(0, 0, 1));
            using var head = work.RunStages(input, 0, cut);
            return head.Bytes * train.Count;
        }
    }

    static Activations Precompute(ImageClassifier work, ImageDataset train, int cut, int batch = 500) =>
        work.PrecomputeStages(train.X, cut, batch);
}
