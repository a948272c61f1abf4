using System.Diagnostics;
using PDiff.Zoo;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Evaluation;

/// <summary>
/// The evaluation block of the p-diff reproduction in one call: builds the ensemble and the baselines from
/// the originals, scores every group on validation and test (batched through the scorer), and computes
/// the group statistics, the paper table, the IoU similarities, weight-space novelty and the 2-D
/// embeddings. Returns an <see cref="EvaluationReport"/> for notebooks, which can write itself to a folder.
/// </summary>
public sealed class Evaluator
{
    public const string Original = "original", Generated = "generated", Ensemble = "ensemble";

    readonly ISubsetScorer scorer;
    readonly Func<Tensor, int, Generator, Tensor>? fineTune;

    /// <param name="fineTune">The zoo's collection recipe continued from a start vector [N] for some steps
    /// (returns [N]); without it the fine-tuned baseline is skipped, and the report says so.</param>
    public Evaluator(ISubsetScorer scorer, EvaluationOptions? options = null, Func<Tensor, int, Generator, Tensor>? fineTune = null)
    {
        this.scorer = scorer ?? throw new ArgumentNullException(nameof(scorer));
        Options = options ?? new EvaluationOptions();
        this.fineTune = fineTune;
    }

    public EvaluationOptions Options { get; }

    sealed record Entry(string Name, Tensor Vectors, IReadOnlyList<int[]> Sources);

    /// <param name="originals">The K training vectors [K, N].</param>
    /// <param name="generated">The M generated vectors [M, N].</param>
    /// <param name="task">A name for tables and run.json (e.g. "mnist_mlp, bn subset").</param>
    public EvaluationReport Evaluate(Tensor originals, Tensor generated, LatentInputs? latents = null, string task = "")
    {
        var o = Options;
        var (k, n) = Baselines.CheckOriginals(originals, scorer.Layout);
        if (generated.dim() != 2 || generated.size(1) != n || generated.size(0) < 1)
            throw new ArgumentException($"Generated vectors must be [M ≥ 1, {n}] like the originals; got {EvaluationTorch.Shape(generated)}.", nameof(generated));
        Validate(o, k);

        var seconds = new Dictionary<string, double>();
        var notes = new List<string>();
        var seeds = new Dictionary<string, ulong>();
        var clock = Stopwatch.StartNew();
        void Lap(string what) { seconds[what] = clock.Elapsed.TotalSeconds; clock.Restart(); }

        var baselines = BuildBaselines(originals, o.Baselines, k, notes, seeds);
        var ensemble = Baselines.WeightAverage(originals);
        Lap("baselines");
        try
        {
            var entries = new List<Entry>
            {
                new(Original, originals, Enumerable.Range(0, k).Select(i => new[] { i }).ToList()),
                new(Generated, generated, Enumerable.Range(0, (int)generated.size(0)).Select(_ => Array.Empty<int>()).ToList()),
                new(Ensemble, ensemble, new[] { Array.Empty<int>() }),
            };
            entries.AddRange(baselines.Select(b => new Entry(b.Name, b.Vectors, b.Sources)));

            var ranges = new List<GroupRange>();
            var val = new List<ModelScore>();
            var test = new List<ModelScore>();
            foreach (var e in entries)
            {
                ranges.Add(new GroupRange(e.Name, val.Count, (int)e.Vectors.size(0)));
                val.AddRange(Score(e.Vectors, EvalSplit.Validation));
                test.AddRange(Score(e.Vectors, EvalSplit.Test));
            }
            Lap("scoring");

            var summaries = ranges.Select(r => GroupSummary.From(r.Name,
                val.Skip(r.Start).Take(r.Count).Select(s => s.Accuracy).ToList(),
                test.Skip(r.Start).Take(r.Count).Select(s => s.Accuracy).ToList())).ToList();
            var table = PaperTable.From(task, summaries[0], test[ranges[2].Start].Accuracy, summaries[1]);

            var wrong = (o.SimilaritySplit == EvalSplit.Test ? test : val).Select(s => s.Wrong).ToList();
            var iou = IouMatrix.Compute(wrong);
            var splitName = o.SimilaritySplit.ToString().ToLowerInvariant();
            var similarity = Similarity.Summarise(iou, ranges, splitName, Original, Generated);
            var maxSim = Similarity.MaxToOriginals(iou, ranges[0]);
            Lap("similarity");

            var minL2 = new MinDistance(new double[val.Count], new int[val.Count]);
            var perGroup = new List<(string, double[])>();
            foreach (var (e, r) in entries.Zip(ranges))
            {
                var d = e.Name == Original ? Novelty.MinL2LeaveOneOut(originals) : Novelty.MinL2(e.Vectors, originals);
                d.Distance.CopyTo(minL2.Distance, r.Start);
                d.Nearest.CopyTo(minL2.Nearest, r.Start);
                perGroup.Add((e.Name, d.Distance));
            }
            var histogram = Novelty.Histogram(perGroup, o.HistogramBins);
            var nearest = Novelty.Nearest(generated, originals, o.NearestOriginals);
            Lap("novelty");

            var embeddings = Embed(entries, latents, o, notes, seeds);
            Lap("embeddings");

            var models = new List<ModelRow>();
            foreach (var (e, r) in entries.Zip(ranges))
                for (var i = 0; i < r.Count; i++)
                {
                    var at = r.Start + i;
                    models.Add(new ModelRow(e.Name, i, val[at].Accuracy, test[at].Accuracy, maxSim.Value[at], maxSim.NearestOriginal[at],
                        minL2.Distance[at], minL2.Nearest[at], e.Sources[i]));
                }

            var inputs = new Dictionary<string, object>
            {
                ["task"] = task, ["originals"] = k, ["generated"] = (int)generated.size(0), ["vector_length"] = n,
                ["layout"] = scorer.Layout.Tensors.Select(t => $"{t.Name} [{string.Join(", ", t.Shape)}]").ToArray(),
                ["scorer"] = scorer.GetType().FullName ?? scorer.GetType().Name,
            };
            return new EvaluationReport(task, o, seeds, inputs, notes, seconds, ranges, models, summaries, table,
                similarity, iou, histogram, nearest, embeddings, baselines);
        }
        catch
        {
            foreach (var b in baselines) b.Dispose();
            throw;
        }
        finally { ensemble.Dispose(); }
    }

    IEnumerable<ModelScore> Score(Tensor vectors, EvalSplit split) => GroupNovelty.ScoreInBatches(scorer, vectors, split, Options.ScoreBatchSize);

    List<BaselineGroup> BuildBaselines(Tensor originals, BaselineOptions b, int k, List<string> notes, Dictionary<string, ulong> seeds)
    {
        var groups = new List<BaselineGroup>();
        try
        {
            for (var i = 0; i < b.RelativeNoiseSigmas.Count; i++)
                groups.Add(Baselines.RelativeNoise(originals, scorer.Layout, b.RelativeNoiseSigmas[i], b.RelativeNoiseCount ?? k, b.SeedFor(1, i)));
            for (var i = 0; i < b.AbsoluteNoiseSigmas.Count; i++)
                groups.Add(Baselines.AbsoluteNoise(originals, scorer.Layout, b.AbsoluteNoiseSigmas[i], b.AbsoluteNoiseCount ?? k, b.SeedFor(2, i), b.AbsoluteNoiseRunningVar));
            if (b.FineTunedCount > 0)
            {
                if (fineTune is null) notes.Add("fine-tuned baseline skipped: no fine-tune recipe was given to the Evaluator.");
                else groups.Add(Baselines.FineTuned(originals, fineTune, b.FineTunedCount, b.FineTuneSteps, b.SeedFor(3)));
            }
            if (b.AverageCount > 0) groups.Add(Baselines.Average(originals, b.AverageCount, b.AverageOf, b.SeedFor(4)));
            if (b.GaussianCount > 0) groups.Add(Baselines.Gaussian(originals, b.GaussianCount, b.SeedFor(5)));
        }
        catch
        {
            foreach (var g in groups) g.Dispose();
            throw;
        }
        foreach (var g in groups) seeds[$"baseline:{g.Name}"] = g.Seed;
        return groups;
    }

    static void Validate(EvaluationOptions o, int k)
    {
        if (k < 2) throw new ArgumentException($"Evaluation needs at least 2 originals (leave-one-out similarity and distances); got K = {k}.");
        if (o.ScoreBatchSize < 1) throw new ArgumentOutOfRangeException(nameof(o.ScoreBatchSize), o.ScoreBatchSize, "Score at least one vector per batch.");
        var b = o.Baselines;
        if (b.AverageCount > 0 && (b.AverageOf < 1 || b.AverageOf > k))
            throw new ArgumentException($"The average baseline takes {b.AverageOf} distinct originals per model but K = {k}; set Baselines.AverageOf ≤ K (or AverageCount = 0).");
        if (b.RelativeNoiseCount is < 1 || b.AbsoluteNoiseCount is < 1)
            throw new ArgumentException("Noise baseline counts must be at least 1 (or null for one model per original); use an empty σ list to skip a kind.");
        if (o.EmbeddingMaxPerGroup < 1) throw new ArgumentOutOfRangeException(nameof(o.EmbeddingMaxPerGroup), o.EmbeddingMaxPerGroup, "Embed at least one point per group.");
    }

    /// <summary>
    /// PCA and t-SNE of the latents of every group that has them (else of the parameter vectors), each group
    /// subsampled to at most EmbeddingMaxPerGroup points with one seeded generator, and further, in
    /// proportion, when the union would exceed t-SNE's point limit.
    /// </summary>
    static IReadOnlyList<EmbeddingResult> Embed(List<Entry> entries, LatentInputs? latents, EvaluationOptions o, List<string> notes, Dictionary<string, ulong> seeds)
    {
        if (!o.Pca && !o.Tsne) return Array.Empty<EmbeddingResult>();
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var space = "latent";
        var chosen = new List<(string Group, Tensor Points)>();
        foreach (var e in entries)
        {
            var explicitLatent = e.Name == Original ? latents?.Originals : e.Name == Generated ? latents?.Generated : null;
            if (explicitLatent is not null)
            {
                if (explicitLatent.dim() != 2 || explicitLatent.size(0) != e.Vectors.size(0))
                    throw new ArgumentException($"Latents of '{e.Name}' have shape {EvaluationTorch.Shape(explicitLatent)}; expected [{e.Vectors.size(0)}, d], one row per vector.");
                chosen.Add((e.Name, explicitLatent));
            }
            else if (latents?.Encoder is { } enc)
            {
                var z = enc(e.Vectors);
                if (z.dim() != 2 || z.size(0) != e.Vectors.size(0))
                    throw new InvalidOperationException($"The latent encoder returned {EvaluationTorch.Shape(z)} for {e.Vectors.size(0)} vectors; it must return [B, d].");
                chosen.Add((e.Name, z));
            }
        }
        if (chosen.Count == 0)
        {
            space = "parameters";
            chosen = entries.Select(e => (e.Name, e.Vectors)).ToList();
        }
        else if (chosen.Count < entries.Count)
            notes.Add($"embeddings: no latents for {string.Join(", ", entries.Select(e => e.Name).Except(chosen.Select(c => c.Group)))}; those groups are left out.");
        var dims = chosen.Select(c => c.Points.size(1)).Distinct().ToList();
        if (dims.Count > 1) throw new ArgumentException($"Latents of different groups have different widths ({string.Join(", ", dims)}); they must share one latent space.");

        var cap = o.EmbeddingMaxPerGroup;
        var total = chosen.Sum(c => Math.Min(cap, (int)c.Points.size(0)));
        var limit = o.Tsne ? o.TsneOptions.MaxPoints : int.MaxValue;
        using var g = new Generator(o.EmbeddingSeed);
        seeds["embedding_subsample"] = o.EmbeddingSeed;
        var groups = new List<string>();
        var indices = new List<int>();
        var parts = new List<Tensor>();
        foreach (var (name, pts) in chosen)
        {
            var m = (int)pts.size(0);
            var take = Math.Min(cap, m);
            if (total > limit) take = Math.Max(1, (int)((long)take * limit / total));
            int[] idx;
            if (take >= m) idx = Enumerable.Range(0, m).ToArray();
            else
            {
                using var perm = torch.randperm(m, generator: g);
                idx = perm.data<long>().ToArray().Take(take).Select(v => (int)v).OrderBy(v => v).ToArray();
            }
            using var it = torch.tensor(idx.Select(v => (long)v).ToArray());
            parts.Add(pts.index_select(0, it).to(ScalarType.Float64));
            groups.AddRange(Enumerable.Repeat(name, idx.Length));
            indices.AddRange(idx);
        }
        if (total > limit) notes.Add($"embeddings: {total} points exceed t-SNE's limit of {limit}; every group was subsampled in proportion.");
        var all = torch.cat(parts, 0);
        // A baseline can hold non-finite points (e.g. a Gaussian draw of a running variance below 0, whose log
        // transform in the normaliser is NaN): they have no place in an embedding, so they are left out and named.
        using (var finite = all.isfinite().all(1))
        {
            var keep = finite.data<bool>().ToArray();
            if (keep.Any(k => !k))
            {
                var dropped = groups.Where((_, i) => !keep[i]).GroupBy(x => x).Select(x => $"{x.Count()} of {x.Key}");
                notes.Add($"embeddings: {keep.Count(k => !k)} points with non-finite {space} coordinates left out ({string.Join(", ", dropped)}).");
                var rows = Enumerable.Range(0, keep.Length).Where(i => keep[i]).ToArray();
                using var at = torch.tensor(rows.Select(i => (long)i).ToArray());
                all = all.index_select(0, at);
                groups = rows.Select(i => groups[i]).ToList();
                indices = rows.Select(i => indices[i]).ToList();
            }
        }
        var result = new List<EmbeddingResult>();
        if (o.Pca && all.size(0) >= 2) result.Add(new EmbeddingResult(Pca.Embed(all), space, groups.ToArray(), indices.ToArray()));
        if (o.Tsne)
        {
            var n = (int)all.size(0);
            var t = o.TsneOptions;
            if (t.Perplexity >= n - 1)
            {
                var p = Math.Max(1, (n - 2) / 3.0);
                notes.Add($"t-SNE: perplexity {t.Perplexity} is too large for {n} points; used {p:G3}.");
                t = t with { Perplexity = p };
            }
            if (n >= 3) result.Add(new EmbeddingResult(Tsne.Embed(all, t), space, groups.ToArray(), indices.ToArray()));
            seeds["tsne"] = t.Seed;
        }
        return result;
    }
}
