using System.Diagnostics;
using System.Globalization;
using PDiff.Data;
using PDiff.TorchFixes;
using PDiff.Models;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

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
/// (<see cref="CollectionRecipe"/>). Any TorchSharp classifier module works (the subset is found by
/// name): training runs on the model itself, and everything it changes (the subset, the running
/// statistics of norms in train mode, train/eval flags, requires_grad, gradients) is put back before the
/// call returns, so the base model is left as it was, even when training fails.
/// <para>
/// Why only the tail runs with autograd: every layer before the first stage that reads the subset is
/// frozen, so its output needs no gradient and is computed under no_grad — the same values, less work.
/// When the frozen layers are also deterministic per image (eval-mode BN, no augmentation: the defaults)
/// and the run revisits training rows (more iterations × batch than rows), their output is computed once
/// for all rows and gathered per batch instead. This is exact: the loader still draws the same batches,
/// and the cached rows are the values the frozen layers would give (checked by a test that compares the
/// vectors with and without the cache). The V1 switch (whole network in train mode) and augmentation
/// turn the cache off, since batch statistics and random crops make the frozen output batch-dependent.
/// A module without declared stages (<see cref="StagePlan.Of"/>) trains through its whole forward pass.
/// </para>
/// </summary>
public static class Collector
{
    /// <summary>Largest precomputed-feature cache, in bytes.</summary>
    public static long CacheBudgetBytes { get; set; } = 1L << 30;

    public static CollectionResult Collect(nn.Module<Tensor, Tensor> baseModel, SubsetLayout layout, ImageDataset train, CollectionRecipe recipe, TextWriter? log = null)
    {
        recipe.Validated();
        var clock = Stopwatch.StartNew();
        var parameters = ModuleTree.Parameters(baseModel);
        var notParams = layout.Tensors.Where(t => !parameters.ContainsKey(t.Name)).Select(t => t.Name).ToList();
        if (notParams.Count > 0)
            throw new ArgumentException($"Collection trains parameters only; the subset also holds buffers [{string.Join(", ", notParams)}]. Choose a parameter subset (e.g. last-two-norms).");
        Subsets.Tensors(baseModel, layout); // shapes checked, naming the tensor
        var trainable = layout.Tensors.Select(t => parameters[t.Name]).ToList();
        var subsetNames = layout.Tensors.Select(t => t.Name).ToHashSet();
        using var exact = ForeignConvolutions.Exact(baseModel, $"Collecting {layout.Tensors.Count} tensors of {ForeignConvolutions.Name(baseModel)}");

        // What training changes, to put back at the end: subset values and every buffer (running statistics).
        var saved = ModuleTree.Snapshot(baseModel, name => subsetNames.Contains(name) || !parameters.ContainsKey(name));
        var modes = ModuleTree.Modes(baseModel);
        var requiresGrad = parameters.Values.Select(p => (p, p.requires_grad)).ToList();
        try
        {
            foreach (var p in parameters.Values) p.requires_grad = false;
            foreach (var t in trainable) t.requires_grad = true;
            var owners = layout.Tensors.Select(t => t.Name.Contains('.') ? t.Name[..t.Name.LastIndexOf('.')] : "").Distinct().ToList();
            SetModes(baseModel, owners, recipe.FrozenNormsTrain);
            return Train(baseModel, layout, trainable, train, recipe, clock, log);
        }
        finally
        {
            ModuleTree.LoadStateDict(baseModel, saved, strict: false);
            ModuleTree.Free(saved);
            foreach (var t in trainable) t.grad = null; // the gradients of the last step belong to no one
            foreach (var (p, flag) in requiresGrad) p.requires_grad = flag;
            ModuleTree.RestoreModes(modes);
        }
    }

    static CollectionResult Train(nn.Module<Tensor, Tensor> work, SubsetLayout layout, IReadOnlyList<TorchSharp.Modules.Parameter> trainable,
        ImageDataset train, CollectionRecipe recipe, Stopwatch clock, TextWriter? log)
    {
        var stages = StagePlan.Of(work);
        var owner = work is ImageClassifier c ? c.Spec.Arch : work.GetType().Name;
        var cut = StagePlan.FirstTouching(stages, layout.Tensors.Select(t => t.Name), owner);
        using var optimizer = recipe.Kind == RecipeKind.V2
            ? (optim.Optimizer)optim.AdamW(trainable, recipe.Lr, weight_decay: recipe.WeightDecay)
            : optim.SGD(trainable, recipe.Lr, momentum: recipe.Momentum, weight_decay: recipe.WeightDecay);
        using var shuffle = new Generator(recipe.Seed);
        using var augmentGen = new Generator(recipe.Seed + 1);
        var loader = new DataLoader(train, recipe.BatchSize, shuffle: true, generator: shuffle,
            augmentation: recipe.Augment ? Augmentation.For(train, augmentGen) : null);
        var network = new SplitNetwork(stages, cut, owner, FrozenFeatures(stages, cut, owner, train, recipe));

        var progress = new ProgressLog(log, "collect", recipe.TotalIterations);
        progress.Line($"{recipe.Kind}: subset of {layout.Length:N0} numbers ({layout.Tensors.Count} tensors), K = {recipe.K}, " +
                      $"{recipe.TotalIterations} iterations of batch {recipe.BatchSize}, lr {recipe.Lr}, training from stage '{stages[cut].Name}'" +
                      (network.Features is not null ? $", frozen-layer output precomputed ({network.Features.Bytes / 1e6:F0} MB)" : ""));
        var saved = new SavedSubsets();
        try
        {
            RunIterations(work, layout, network, optimizer, loader, recipe, progress, saved);
            var vectors = torch.stack(saved.Vectors).DetachFromDisposeScope();
            return new CollectionResult
            {
                Vectors = vectors,
                Iterations = saved.Iterations.ToArray(),
                TrainLoss = saved.Losses.ToArray(),
                Seconds = clock.Elapsed.TotalSeconds,
                CutStage = stages[cut].Name,
                PrecomputedFeatures = network.Features is not null,
            };
        }
        finally
        {
            saved.Vectors.ForEach(t => t.Dispose());
            network.Features?.Dispose();
        }
    }

    /// <summary>
    /// The frozen layers' output for every training row, computed once, when that is exact and pays: the frozen
    /// layers are deterministic per image, the run revisits rows, and the cache fits <see cref="CacheBudgetBytes"/>.
    /// </summary>
    static Activations? FrozenFeatures(IReadOnlyList<Stage> stages, int cut, string owner, ImageDataset train, CollectionRecipe recipe)
    {
        var deterministicHead = !recipe.FrozenNormsTrain && !recipe.Augment;
        var revisits = (long)recipe.TotalIterations * recipe.BatchSize > train.Count;
        Activations? features = null;
        if (recipe.CacheFeatures && deterministicHead && revisits && cut > 0 && EstimateBytes(stages, train, cut) <= CacheBudgetBytes)
            features = StagePlan.Precompute(stages, train.X, cut, 500, owner: owner); // no_grad, not inference: the cache enters the graph
        return features;
    }

    /// <summary>The collected checkpoints: the subset vectors, the step each was taken at and that step's loss.</summary>
    sealed class SavedSubsets
    {
        public List<Tensor> Vectors { get; } = new();
        public List<long> Iterations { get; } = new();
        public List<double> Losses { get; } = new();
    }

    /// <summary>
    /// The network split at the first stage that reads the subset: the frozen head (before <paramref name="Cut"/>)
    /// runs without gradients or comes from <paramref name="Features"/>, the tail runs with autograd.
    /// </summary>
    sealed record SplitNetwork(IReadOnlyList<Stage> Stages, int Cut, string Owner, Activations? Features)
    {
        /// <summary>The cross-entropy loss of one batch, with a graph through the tail only.</summary>
        public Tensor Loss(Batch batch)
        {
            Activations head;
            if (Features is not null) head = Features.Rows(batch.Index);
            else
                using (torch.no_grad())
                using (var input = new Activations(batch.X.alias()))
                    head = StagePlan.Run(Stages, input, 0, Cut, Owner);
            using (head)
            using (var tail = StagePlan.Run(Stages, head, Cut, Stages.Count, Owner))
                return F.cross_entropy(tail.Main, batch.Y);
        }
    }

    /// <summary>
    /// Trains for the recipe's iterations, passing over the loader as often as needed, and saves the subset into
    /// <paramref name="saved"/> every SaveEvery steps after the first SkipFirst.
    /// </summary>
    static void RunIterations(nn.Module<Tensor, Tensor> work, SubsetLayout layout, SplitNetwork network, optim.Optimizer optimizer,
        DataLoader loader, CollectionRecipe recipe, ProgressLog progress, SavedSubsets saved)
    {
        long step = 0;
        while (step < recipe.TotalIterations)
        {
            var before = step;
            foreach (var batch in loader)
            {
                using var scope = torch.NewDisposeScope();
                var loss = network.Loss(batch);
                optimizer.zero_grad();
                loss.backward();
                OptimizerSteps.Step(optimizer);   // not optimizer.step(): its implicit Scalars race the GC (OptimizerSteps)
                step++;
                var lossValue = loss.ReadDouble();
                if (step > recipe.SkipFirst && (step - recipe.SkipFirst) % recipe.SaveEvery == 0)
                {
                    saved.Vectors.Add(Subsets.Flatten(work, layout).DetachFromDisposeScope());
                    saved.Iterations.Add(step);
                    saved.Losses.Add(lossValue);
                    if (saved.Vectors.Count == 1 && recipe.EvalAfterFirstSave) work.eval();
                }
                progress.Step(step, string.Create(CultureInfo.InvariantCulture, $"loss {lossValue:F4}, saved {saved.Vectors.Count}/{recipe.K}"));
                if (step >= recipe.TotalIterations) break;
            }
            if (step == before) throw new InvalidOperationException("Collection: the training split yielded no batches.");
        }
    }

    /// <summary>
    /// Default: everything in eval mode except the modules that own subset tensors (their norms use batch
    /// statistics while training, as in the reference). V1-faithful: everything in train mode.
    /// </summary>
    static void SetModes(nn.Module work, IReadOnlyList<string> owners, bool allTrain)
    {
        if (allTrain) { work.train(); return; }
        work.eval();
        foreach (var o in owners)
            if (o.Length > 0 && ModuleTree.Find(work, o) is { } m) m.train();
    }

    static long EstimateBytes(IReadOnlyList<Stage> stages, ImageDataset train, int cut)
    {
        using var scope = torch.NewDisposeScope();
        using (torch.no_grad())
        {
            using var input = new Activations(train.X.narrow(0, 0, 1));
            using var head = StagePlan.Run(stages, input, 0, cut);
            return head.Bytes * train.Count;
        }
    }
}
