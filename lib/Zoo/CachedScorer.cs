using PDiff.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>
/// Runs only the layers from the subset on. Every stage before the first one that reads a subset tensor
/// is independent of the vector (the base model is fixed and in eval mode), so its output — the
/// activations entering the subset, plus the residual input where the cut lies inside a block — is
/// computed once per split and kept. Scoring then stacks G vectors into one batch: each stage that reads
/// subset tensors runs once per vector on that vector's rows (after writing the vector's values for that
/// stage into the model), and every other stage runs once on all G·c rows. Stage code is the model's own
/// forward code, so the results equal the full pass; only the batch composition differs, which can move
/// logits in the last bits (the tests compare predictions exactly and logits to 1e-5).
/// For the reference default subset on ResNet-18 (layer4.1.bn1/bn2) the tail is bn1 → ReLU → conv2 → bn2
/// → add → ReLU → pool → fc, about 1/12 of the full network's multiply-adds on 28×28 images.
/// A module without declared stages (a user's class, a TorchScript file) is one stage that reads every
/// tensor (<see cref="StagePlan.Of"/>): it gets no prefix cache, but the same batching and inference mode.
/// </summary>
public sealed class CachedScorer : SubsetScorerBase, IDisposable
{
    readonly IReadOnlyList<Stage> stages;
    readonly string owner;
    readonly int cut;
    readonly int[][] stageTensors; // per stage: indices of the layout tensors it reads
    readonly long[] offsets;
    readonly int batchSize, maxStack;
    readonly int? rowsPerForward;
    readonly Dictionary<EvalSplit, Activations> cache = new();
    IReadOnlyList<Tensor> targets = Array.Empty<Tensor>();

    /// <param name="rowsPerForward">Images × vectors per tail forward; null: as many as keep the cached activation's rows
    /// within <see cref="ForwardBytes"/>.</param>
    /// <param name="maxStack">At most this many vectors share one tail forward.</param>
    public CachedScorer(nn.Module<Tensor, Tensor> model, SubsetLayout layout, LabeledImages validation, LabeledImages test,
        int batchSize = 500, int? rowsPerForward = null, int maxStack = 64)
        : base(model, layout, validation, test)
    {
        (this.batchSize, this.rowsPerForward, this.maxStack) = (batchSize, rowsPerForward, maxStack);
        stages = StagePlan.Of(model);
        owner = model is ImageClassifier c ? c.Spec.Arch : model.GetType().Name;
        cut = StagePlan.FirstTouching(stages, layout.Tensors.Select(t => t.Name), owner);
        stageTensors = stages.Select(s => layout.Tensors.Select((t, i) => (t, i)).Where(p => s.Touches(p.t.Name)).Select(p => p.i).ToArray()).ToArray();
        var covered = stageTensors.SelectMany(x => x).ToHashSet();
        var unread = layout.Tensors.Where((t, i) => !covered.Contains(i)).Select(t => t.Name).ToList();
        if (unread.Count > 0)
            throw new ArgumentException($"CachedScorer: no stage of {owner} declares that it reads [{string.Join(", ", unread)}]; the model's stage table is incomplete.");
        offsets = layout.Offsets();
    }

    /// <summary>
    /// Bytes of cached activation one tail forward reads by default (24 MiB). glibc serves blocks above 32 MiB by a fresh
    /// mmap, so every larger activation costs its page faults anew: scoring ConvNet-3 from its 14×14 maps was several
    /// times cheaper per model and image at 512 rows (26 MB a block) than at 1,024 or 4,096 (measured in bench/README.md,
    /// "Scoring subset vectors").
    /// </summary>
    public const long ForwardBytes = 24L << 20;

    /// <summary>Rows per tail forward for cached activations of <paramref name="rowBytes"/> bytes a row (64 … 4,096).</summary>
    public static int RowsFor(long rowBytes) => (int)Math.Clamp(ForwardBytes / Math.Max(1, rowBytes), 64, 4096);

    /// <summary>Index of the first stage that reads the subset; stages before it are cached.</summary>
    public int CutStage => cut;
    public string CutStageName => stages[cut].Name;

    /// <summary>Bytes held by the cached activations so far.</summary>
    public long CacheBytes => cache.Values.Sum(a => a.Bytes);

    Activations Cached(EvalSplit split, LabeledImages data)
    {
        if (cache.TryGetValue(split, out var a)) return a;
        a = StagePlan.Precompute(stages, data.X, cut, batchSize, inference: true, owner: owner);
        cache[split] = a;
        return a;
    }

    protected override Tensor ComputeLogits(Tensor vectors, LabeledImages data)
    {
        var split = ReferenceEquals(data, Validation) ? EvalSplit.Validation : EvalSplit.Test;
        var head = Cached(split, data);
        targets = Subsets.Tensors(Model, Layout);
        long m = vectors.size(0), n = data.Count;
        var group = (int)Math.Min(m, maxStack);
        var budget = rowsPerForward ?? RowsFor(head.Bytes / Math.Max(1, head.Batch));
        var chunk = Math.Max(1, Math.Min(n, budget / group));
        Tensor? result = null; // [m, n, classes], filled in place: no concatenation copies
        try
        {
            for (long g0 = 0; g0 < m; g0 += group)
            {
                var g = Math.Min(group, m - g0);
                using var vs = vectors.narrow(0, g0, g);
                for (long s = 0; s < n; s += chunk)
                {
                    var c = Math.Min(chunk, n - s);
                    using var rows = head.Narrow(s, c);
                    using var logits = RunTail(rows, vs);             // [g·c, classes], vector-major
                    result ??= torch.empty(new[] { m, n, logits.size(1) }, logits.dtype, logits.device);
                    using var block = result.narrow(0, g0, g);
                    using var into = block.narrow(1, s, c);
                    using var from = logits.reshape(g, c, -1);
                    into.copy_(from);
                }
            }
            return result ?? torch.empty(new[] { m, n, 0L });
        }
        catch
        {
            result?.Dispose();
            throw;
        }
    }

    /// <summary>Stages cut..end on <paramref name="rows"/> for each vector of <paramref name="vs"/> [g, N].</summary>
    Tensor RunTail(Activations rows, Tensor vs)
    {
        var g = vs.size(0);
        var c = rows.Batch;
        Activations state = new(rows.Main.alias(), rows.Skip?.alias());
        var stacked = false;
        try
        {
            for (var si = cut; si < stages.Count; si++)
            {
                var stage = stages[si];
                Activations next;
                if (stageTensors[si].Length == 0)
                    next = stage.Run(state);
                else
                {
                    var outs = new List<Activations>((int)g);
                    try
                    {
                        for (long v = 0; v < g; v++)
                        {
                            WriteStageTensors(si, vs, v);
                            if (!stacked) outs.Add(stage.Run(state));
                            else
                            {
                                using var mine = state.Narrow(v * c, c);
                                outs.Add(stage.Run(mine));
                            }
                        }
                        next = Activations.Cat(outs);
                    }
                    finally
                    {
                        outs.ForEach(o => o.Dispose());
                    }
                    stacked = true;
                }
                state.Dispose();
                state = next;
            }
            return state.Main.alias();
        }
        finally
        {
            state.Dispose();
        }
    }

    void WriteStageTensors(int stage, Tensor vs, long v)
    {
        using var scope = torch.NewDisposeScope();
        var row = vs.select(0, v);
        foreach (var i in stageTensors[stage])
        {
            var spec = Layout.Tensors[i];
            targets[i].copy_(row.narrow(0, offsets[i], spec.Numel).reshape(spec.Shape));
        }
    }

    /// <summary>Frees the cached activations (they are rebuilt on the next call).</summary>
    public void Dispose()
    {
        foreach (var a in cache.Values) a.Dispose();
        cache.Clear();
    }
}
