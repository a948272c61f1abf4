using PDiff.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>Images [n, C, H, W] float32 and labels [n] int64 of one evaluation split (not owned).</summary>
public sealed record LabeledImages(Tensor X, Tensor Y)
{
    public long Count => Y.size(0);
}

/// <summary>
/// Shared plumbing of the two scorers: argument checks, the two splits, restoring the base model's own
/// subset values (and train/eval flags) afterwards, and turning logits into accuracy + wrong-prediction
/// sets. Both write vectors into the one base model they are given, found by tensor name, so any
/// TorchSharp classifier module works (ours, a user's class, a TorchScript module): not thread-safe,
/// and the model's subset tensors are restored when a call returns. Scoring runs in inference mode, its
/// convolutions exact (<see cref="ForeignConvolutions.Exact"/>).
/// </summary>
public abstract class SubsetScorerBase : ISubsetScorer
{
    protected SubsetScorerBase(nn.Module<Tensor, Tensor> model, SubsetLayout layout, LabeledImages validation, LabeledImages test)
    {
        Model = model;
        Layout = layout;
        Validation = validation;
        Test = test;
        foreach (var (name, s) in new[] { ("validation", validation), ("test", test) })
            if (s.X.dim() != 4 || s.Y.dim() != 1 || s.X.size(0) != s.Y.size(0))
                throw new ArgumentException($"Scorer {name} split: want images [n, C, H, W] and labels [n]; got [{string.Join(", ", s.X.shape)}] and [{string.Join(", ", s.Y.shape)}].");
        Subsets.Tensors(model, layout); // fails early, naming the tensor, when the layout does not fit the model
    }

    public nn.Module<Tensor, Tensor> Model { get; }
    public SubsetLayout Layout { get; }
    public LabeledImages Validation { get; }
    public LabeledImages Test { get; }

    protected LabeledImages Split(EvalSplit s) => s == EvalSplit.Validation ? Validation : Test;

    /// <summary>Logits [M, n, classes] of every vector (rows of <paramref name="vectors"/>) on the split.</summary>
    public Tensor Logits(Tensor vectors, EvalSplit split)
    {
        if (vectors.dim() == 1) { using var v = vectors.unsqueeze(0); return Logits(v, split); }
        CheckRows(vectors);
        using var exact = ForeignConvolutions.Exact(Model, $"Scoring {ForeignConvolutions.Name(Model)}");
        using var original = Subsets.Flatten(Model, Layout);
        var modes = ModuleTree.Modes(Model);
        Model.eval();
        try
        {
            Tensor logits;
            using (torch.inference_mode())
            using (var v = vectors.to(ScalarType.Float32))
                logits = ComputeLogits(v, Split(split));
            // A clone made outside inference mode is an ordinary tensor: callers may modify it or use it in autograd.
            using (logits) return logits.clone();
        }
        finally
        {
            Subsets.WriteBack(Model, Layout, original);
            ModuleTree.RestoreModes(modes);
        }
    }

    protected abstract Tensor ComputeLogits(Tensor vectors, LabeledImages data);

    void CheckRows(Tensor vectors)
    {
        if (vectors.dim() != 2 || vectors.size(1) != Layout.Length)
            throw new ArgumentException($"{GetType().Name}: vectors must be [M, {Layout.Length}] (one subset vector a row); got [{string.Join(", ", vectors.shape)}].", nameof(vectors));
    }

    /// <summary>
    /// Scores each row. A row scored before on the same split (the same float32 bytes) is not run again: an evaluation
    /// scores the K originals with every sampler or setting it compares, and a tail forward over 15,000 images costs
    /// about a second a model. Like the cached activations, this assumes the base model outside the subset stays as it
    /// was given. At most <see cref="MemoLimit"/> scores are kept (then the memo starts afresh).
    /// </summary>
    public IReadOnlyList<ModelScore> Score(Tensor vectors, EvalSplit split)
    {
        if (vectors.dim() == 1) { using var v = vectors.unsqueeze(0); return Score(v, split); }
        CheckRows(vectors);
        var m = (int)vectors.size(0);
        var keys = Keys(vectors);
        var missing = Enumerable.Range(0, m).Where(i => !memo.ContainsKey((split, keys[i]))).ToList();
        if (missing.Count > 0)
        {
            if (memo.Count + missing.Count > MemoLimit) memo.Clear();
            using var index = torch.tensor(missing.Select(i => (long)i).ToArray());
            using var rows = missing.Count == m ? vectors.alias() : vectors.index_select(0, index);
            using var logits = Logits(rows, split);
            var fresh = ScoresFromLogits(logits, Split(split).Y);
            ImagesScored += missing.Count * Split(split).Count;
            for (var j = 0; j < missing.Count; j++) memo[(split, keys[missing[j]])] = fresh[j];
        }
        return keys.Select(k => memo[(split, k)]).ToList();
    }

    /// <summary>
    /// Takes <paramref name="scores"/> as the scores of the rows of <paramref name="vectors"/> on <paramref name="split"/>,
    /// so <see cref="Score"/> does not run them: the zoo's checkpoints as its build scored them (<see cref="ZooScores"/>),
    /// on the same base model and split. Each wrong set must cover the split.
    /// </summary>
    public void Remember(Tensor vectors, EvalSplit split, IReadOnlyList<ModelScore> scores)
    {
        CheckRows(vectors);
        if (scores.Count != vectors.size(0))
            throw new ArgumentException($"{GetType().Name}.Remember: {vectors.size(0)} vectors but {scores.Count} scores.", nameof(scores));
        var n = Split(split).Count;
        if (scores.FirstOrDefault(s => s.Wrong.Length != n) is { } bad)
            throw new ArgumentException($"{GetType().Name}.Remember: a wrong set covers {bad.Wrong.Length} examples; the {split.ToString().ToLowerInvariant()} split has {n}.", nameof(scores));
        var keys = Keys(vectors);
        if (memo.Count + keys.Length > MemoLimit) memo.Clear();
        for (var i = 0; i < keys.Length; i++) memo[(split, keys[i])] = scores[i];
    }

    /// <summary>The memo's key of each row: the SHA-256 of its float32 bytes.</summary>
    string[] Keys(Tensor vectors)
    {
        var m = (int)vectors.size(0);
        var keys = new string[m];
        using var f = vectors.to(ScalarType.Float32).contiguous();
        var all = f.data<float>().ToArray();
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(all.AsSpan());
        var rowBytes = (int)Layout.Length * sizeof(float);
        for (var i = 0; i < m; i++)
            keys[i] = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes.Slice(i * rowBytes, rowBytes)));
        return keys;
    }

    /// <summary>Rows × images <see cref="Score"/> has run through the model so far (rows it remembered cost nothing).</summary>
    public long ImagesScored { get; private set; }

    /// <summary>Scores kept for rows seen before (<see cref="Score"/>).</summary>
    public const int MemoLimit = 4096;
    readonly Dictionary<(EvalSplit, string), ModelScore> memo = new();

    /// <summary>Accuracy and wrong set of each row of logits [M, n, classes] against labels [n].</summary>
    public static IReadOnlyList<ModelScore> ScoresFromLogits(Tensor logits, Tensor labels)
    {
        using var scope = torch.NewDisposeScope();
        var m = (int)logits.size(0);
        var n = (int)logits.size(1);
        var wrong = logits.argmax(2).ne(labels.unsqueeze(0)).cpu().contiguous().data<bool>().ToArray();
        var result = new List<ModelScore>(m);
        for (var i = 0; i < m; i++)
        {
            result.Add(ModelScore.FromWrong(WrongSet.FromBools(wrong.AsSpan(i * n, n))));
        }
        return result;
    }
}

/// <summary>
/// The reference scorer: writes each vector into the base model and runs the full forward pass (eval
/// mode) over the split in batches. Simple and slow; the cached scorer is tested against it.
/// </summary>
public sealed class FullScorer : SubsetScorerBase
{
    readonly int batchSize;

    public FullScorer(nn.Module<Tensor, Tensor> model, SubsetLayout layout, LabeledImages validation, LabeledImages test, int batchSize = 500)
        : base(model, layout, validation, test) => this.batchSize = batchSize;

    protected override Tensor ComputeLogits(Tensor vectors, LabeledImages data)
    {
        var perVector = new List<Tensor>();
        try
        {
            for (long i = 0; i < vectors.size(0); i++)
            {
                using (var row = vectors.select(0, i)) Subsets.WriteBack(Model, Layout, row);
                var parts = new List<Tensor>();
                try
                {
                    for (long s = 0; s < data.Count; s += batchSize)
                    {
                        using var x = data.X.narrow(0, s, Math.Min(batchSize, data.Count - s));
                        parts.Add(Model.forward(x));
                    }
                    perVector.Add(torch.cat(parts, 0));
                }
                finally
                {
                    parts.ForEach(p => p.Dispose());
                }
            }
            return torch.stack(perVector);
        }
        finally
        {
            perVector.ForEach(p => p.Dispose());
        }
    }
}
