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
            var entries = Entries(originals, generated, ensemble, baselines, k);
            var scores = ScoreGroups(entries);
            Lap("scoring");

            var ranges = scores.Ranges;
            var summaries = ranges.Select(r => GroupSummary.From(r.Name,
                scores.Validation.Skip(r.Start).Take(r.Count).Select(s => s.Accuracy).ToList(),
                scores.Test.Skip(r.Start).Take(r.Count).Select(s => s.Accuracy).ToList())).ToList();
            var table = PaperTable.From(task, summaries[0], scores.Test[ranges[2].Start].Accuracy, summaries[1]);

            var wrong = (o.SimilaritySplit == EvalSplit.Test ? scores.Test : scores.Validation).Select(s => s.Wrong).ToList();
            var iou = IouMatrix.Compute(wrong);
            var splitName = o.SimilaritySplit.ToString().ToLowerInvariant();
            var similarity = Similarity.Summarise(iou, ranges, splitName, Original, Generated);
            var maxSim = Similarity.MaxToOriginals(iou, ranges[0]);
            Lap("similarity");

            var (minL2, perGroup) = MinL2ToOriginals(entries, scores, originals);
            var histogram = Novelty.Histogram(perGroup, o.HistogramBins);
            var nearest = Novelty.Nearest(generated, originals, o.NearestOriginals);
            Lap("novelty");

            var embeddings = EvaluationEmbeddings.Embed(entries.Select(e => (e.Name, e.Vectors)).ToList(), latents, o, notes, seeds);
            Lap("embeddings");

            var models = ModelRows(entries, scores, maxSim, minL2);
            return new EvaluationReport(task, o, seeds, Inputs(task, k, (int)generated.size(0), n), notes, seconds, ranges, models, summaries, table,
                similarity, iou, histogram, nearest, embeddings, baselines);
        }
        catch
        {
            foreach (var b in baselines) b.Dispose();
            throw;
        }
        finally { ensemble.Dispose(); }
    }

    /// <summary>The groups in report order: the originals (each its own source), the generated, the ensemble, then the baselines.</summary>
    static List<Entry> Entries(Tensor originals, Tensor generated, Tensor ensemble, List<BaselineGroup> baselines, int k)
    {
        var entries = new List<Entry>
        {
            new(Original, originals, Enumerable.Range(0, k).Select(i => new[] { i }).ToList()),
            new(Generated, generated, Enumerable.Range(0, (int)generated.size(0)).Select(_ => Array.Empty<int>()).ToList()),
            new(Ensemble, ensemble, new[] { Array.Empty<int>() }),
        };
        entries.AddRange(baselines.Select(b => new Entry(b.Name, b.Vectors, b.Sources)));
        return entries;
    }

    /// <summary>Every model's scores on both splits, group after group, and where each group sits in those lists.</summary>
    sealed record GroupScores(List<GroupRange> Ranges, List<ModelScore> Validation, List<ModelScore> Test);

    GroupScores ScoreGroups(List<Entry> entries)
    {
        var scores = new GroupScores(new List<GroupRange>(), new List<ModelScore>(), new List<ModelScore>());
        foreach (var e in entries)
        {
            scores.Ranges.Add(new GroupRange(e.Name, scores.Validation.Count, (int)e.Vectors.size(0)));
            scores.Validation.AddRange(Score(e.Vectors, EvalSplit.Validation));
            scores.Test.AddRange(Score(e.Vectors, EvalSplit.Test));
        }
        return scores;
    }

    /// <summary>
    /// Each model's L2 distance to its nearest original (the originals leave themselves out), indexed like the
    /// scores, and the same distances group by group for the histogram.
    /// </summary>
    static (MinDistance All, List<(string, double[])> PerGroup) MinL2ToOriginals(List<Entry> entries, GroupScores scores, Tensor originals)
    {
        var minL2 = new MinDistance(new double[scores.Validation.Count], new int[scores.Validation.Count]);
        var perGroup = new List<(string, double[])>();
        foreach (var (e, r) in entries.Zip(scores.Ranges))
        {
            var d = e.Name == Original ? Novelty.MinL2LeaveOneOut(originals) : Novelty.MinL2(e.Vectors, originals);
            d.Distance.CopyTo(minL2.Distance, r.Start);
            d.Nearest.CopyTo(minL2.Nearest, r.Start);
            perGroup.Add((e.Name, d.Distance));
        }
        return (minL2, perGroup);
    }

    static List<ModelRow> ModelRows(List<Entry> entries, GroupScores scores, MaxSimilarity maxSim, MinDistance minL2)
    {
        var models = new List<ModelRow>();
        foreach (var (e, r) in entries.Zip(scores.Ranges))
            for (var i = 0; i < r.Count; i++)
            {
                var at = r.Start + i;
                models.Add(new ModelRow(e.Name, i, scores.Validation[at].Accuracy, scores.Test[at].Accuracy, maxSim.Value[at], maxSim.NearestOriginal[at],
                    minL2.Distance[at], minL2.Nearest[at], e.Sources[i]));
            }
        return models;
    }

    /// <summary>What was evaluated, for run.json.</summary>
    Dictionary<string, object> Inputs(string task, int k, int m, long n) => new()
    {
        ["task"] = task, ["originals"] = k, ["generated"] = m, ["vector_length"] = n,
        ["layout"] = scorer.Layout.Tensors.Select(t => $"{t.Name} [{string.Join(", ", t.Shape)}]").ToArray(),
        ["scorer"] = scorer.GetType().FullName ?? scorer.GetType().Name,
    };

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
}
